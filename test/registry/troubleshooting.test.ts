/**
 * docs/troubleshooting.md explains every error code the suite can return, with the HTTP status or
 * result shape the code really has, and quotes startup messages the source really prints. A code added
 * to the source without a section here fails this test.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AUTH_ERROR_CODES } from '@ravenhelm/auth';
import { ERROR_TABLE } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { ROOT } from './servers.js';

/** Codes the source checks for but never returns: they belong to Node.js (TLS, util.parseArgs, worker threads) and jose. */
const FOREIGN = new Set([
  'ERR_PARSE_ARGS',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_JOSE_GENERIC',
  'ERR_TLS',
  'ERR_JOSE',
  'ERR_WORKER_OUT_OF_MEMORY',
]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'node_modules' || f === 'dist' ? [] : sources(p);
    return /\.ts$/.test(f) && !/\.test\.ts$/.test(f) ? [p] : [];
  });
}

const roots = [
  'shared/src',
  'auth/src',
  'registry/src',
  ...readdirSync(join(ROOT, 'servers')).map((s) => `servers/${s}/src`),
];
const source = roots.flatMap((r) => sources(join(ROOT, r))).map((f) => readFileSync(f, 'utf8'));
const page = readFileSync(join(ROOT, 'docs/troubleshooting.md'), 'utf8');
/** `### ERR_X` sections, each with its text up to the next heading. */
const sections = new Map(
  [...page.matchAll(/^### (ERR_[A-Z_]+)\n([\s\S]*?)(?=^#{2,3} |$(?![\s\S]))/gm)].map((m) => [
    m[1] as string,
    m[2] as string,
  ]),
);

describe('docs/troubleshooting.md', () => {
  const inSource = new Set(source.flatMap((text) => [...text.matchAll(/\bERR_[A-Z][A-Z0-9_]+\b/g)].map((m) => m[0])));
  const codes = new Set([...Object.keys(ERROR_TABLE), ...AUTH_ERROR_CODES, ...inSource].filter((c) => !FOREIGN.has(c)));

  it('has a section for every code the kit, auth, registry and servers can return, and no other', () => {
    expect(codes.size).toBeGreaterThan(45);
    expect([...codes].filter((c) => !sections.has(c)).sort(), 'codes without a section').toEqual([]);
    expect([...sections.keys()].filter((c) => !codes.has(c)).sort(), 'sections for codes that no longer exist').toEqual(
      [],
    );
    for (const f of FOREIGN) expect(Object.keys(ERROR_TABLE), `${f} is ours now: document it`).not.toContain(f);
  });

  it('gives each code the HTTP status or result shape the error table maps it to', () => {
    for (const [code, m] of Object.entries(ERROR_TABLE)) {
      const text = sections.get(code) ?? '';
      if (m.kind === 'tool') expect(text, code).toMatch(/^A tool result/);
      else if (m.http !== 200) expect(text, code).toMatch(new RegExp(`^HTTP ${m.http}\\b`));
      else expect(text, code).toMatch(new RegExp(`^HTTP 200 with JSON-RPC ${m.jsonrpc}\\b`));
      expect(text, `${code}: what to do`).toMatch(/What\s+to\s+do|If\s+you\s+see\s+it/);
    }
  });

  it('quotes startup messages the servers really print', () => {
    const table = page.slice(page.indexOf('## Startup failures'));
    const quoted = [...table.matchAll(/^\| `([^`]+)`/gm)].map((m) => m[1] as string);
    expect(quoted.length).toBeGreaterThan(8);
    const all = source.join('\n');
    for (const message of quoted) {
      const fixed = message.split(/<[^>]+>/).filter((part) => part.trim().length >= 11);
      expect(fixed.length, `${message}: nothing to check`).toBeGreaterThan(0);
      for (const part of fixed) expect(all.includes(part), `"${part}" is not in the source`).toBe(true);
    }
  });
});
