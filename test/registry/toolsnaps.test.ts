import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ToolSpec } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { jsonDiff } from './json-diff.js';
import { assertAllLoaded, loadServers, ROOT } from './servers.js';

// Every tool's public contract, one file per tool: a change to a tool shows up in review.
const SNAP_DIR = join(import.meta.dirname, '__toolsnaps__');
const UPDATE = process.env.UPDATE_TOOLSNAPS === '1';
const UPDATE_COMMAND = 'UPDATE_TOOLSNAPS=1 npx vitest run test/registry/toolsnaps.test.ts';

const discovery = await loadServers();
const specs = discovery.servers.flatMap((s) => s.specs);

/** The snapshot: fixed key order, normalised through JSON so it compares with what is on disk. */
function snapshotOf(spec: ToolSpec): unknown {
  const { name, title, description, toolset, tier, scopes, annotations, inputSchema, outputSchema } = spec;
  return JSON.parse(
    JSON.stringify({ name, title, description, toolset, tier, scopes, annotations, inputSchema, outputSchema }),
  );
}

function snapPath(spec: ToolSpec): string {
  return join(SNAP_DIR, spec.server, `${spec.name}.snap.json`);
}

describe('tool snapshots', () => {
  it('every server package exports toolSpecs', () => {
    assertAllLoaded(discovery);
  });

  it.each(specs.map((s) => [`${s.server}/${s.name}`, s] as const))('%s matches its snapshot', (_id, spec) => {
    const path = snapPath(spec);
    const current = snapshotOf(spec);
    const stored: unknown = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
    const diff = stored === undefined ? [] : jsonDiff(stored, current);
    if (stored !== undefined && diff.length === 0) return;
    if (UPDATE) {
      mkdirSync(join(SNAP_DIR, spec.server), { recursive: true });
      writeFileSync(path, `${JSON.stringify(current, null, 2)}\n`);
      return;
    }
    const shown = relative(ROOT, path);
    expect.fail(
      stored === undefined
        ? `${spec.server}/${spec.name}: no snapshot at ${shown}; to write it, run: ${UPDATE_COMMAND}`
        : `${spec.server}/${spec.name}: the tool's contract differs from ${shown}:\n${diff.join('\n')}\nif the change is intended, run: ${UPDATE_COMMAND}`,
    );
  });

  it('has no snapshots of tools that no longer exist', () => {
    if (!existsSync(SNAP_DIR)) return;
    const live = new Set(specs.map((s) => relative(SNAP_DIR, snapPath(s))));
    const loadedServers = new Set(specs.map((s) => s.server));
    const stale = readdirSync(SNAP_DIR, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.snap.json') && !live.has(f))
      // a server that failed to load is reported above; its snapshots are not stale
      .filter((f) => loadedServers.has(f.split(/[\\/]/)[0] ?? ''));
    if (stale.length === 0) return;
    if (UPDATE) {
      for (const f of stale) rmSync(join(SNAP_DIR, f));
      return;
    }
    expect.fail(
      `snapshots of removed tools: ${stale.map((f) => relative(ROOT, join(SNAP_DIR, f))).join(', ')}; to delete them, run: ${UPDATE_COMMAND}`,
    );
  });
});
