import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoSpecs } from '../test/specs.js';
import { main } from './cli.js';
import { discoverServers, entryOf, findWorkspaceRoot } from './discover.js';
import { renderToolsMarkdown } from './docs.js';

const REPO = join(import.meta.dirname, '..', '..');
let root: string;

function write(path: string, content: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
}

function moduleExporting(specs: unknown): string {
  return `export const toolSpecs = ${JSON.stringify(specs)};\n`;
}

const exportsMap = { '.': { '@ravenhelm/source': './src/index.mjs', default: './dist/index.mjs' } };
const alphaSource = demoSpecs('alpha');
const alphaDist = demoSpecs('alpha').map((s) => ({ ...s, title: `${s.title} (built)` }));

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'registry-cli-'));
  write('pnpm-workspace.yaml', 'packages:\n  - servers/*\n');
  write('servers/alpha/package.json', JSON.stringify({ name: '@fixture/mcp-alpha', exports: exportsMap }));
  write('servers/alpha/src/index.mjs', moduleExporting(alphaSource));
  write('servers/alpha/dist/index.mjs', moduleExporting(alphaDist));
  write('servers/beta/package.json', JSON.stringify({ name: '@fixture/mcp-beta', exports: exportsMap }));
  write('servers/beta/src/index.mjs', 'export const somethingElse = 1;\n');
  write('servers/gamma/package.json', JSON.stringify({ name: '@fixture/mcp-gamma', exports: exportsMap }));
  write('servers/gamma/src/index.mjs', moduleExporting(demoSpecs('gamma')));
  write('servers/not-a-package/README.md', 'no package.json here\n');
  write(
    'ops/policy.yaml',
    'servers:\n  alpha:\n    readOnly: true\n    tools:\n      things_list:\n        tier: MEDIUM\n',
  );
  write('nested/deeper/.keep', '');
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t), cwd: root });
  return { code, out, err };
}

describe('discovery', () => {
  it('finds the workspace root by walking up', () => {
    expect(findWorkspaceRoot(join(root, 'nested', 'deeper'))).toBe(root);
    expect(() => findWorkspaceRoot(tmpdir())).toThrow(/no pnpm-workspace\.yaml at or above .*; pass --root/);
  });

  it('picks the built module by default and the source under the source condition', () => {
    const manifest = { exports: exportsMap };
    expect(entryOf(manifest, false)).toBe('./dist/index.mjs');
    expect(entryOf(manifest, true)).toBe('./src/index.mjs');
    expect(entryOf({ exports: './only.js' }, true)).toBe('./only.js');
    expect(entryOf({ exports: { '.': { import: './i.js' } } }, true)).toBe('./i.js');
    expect(entryOf({ main: './main.js' }, false)).toBe('./main.js');
    expect(entryOf({}, false)).toBeUndefined();
  });

  it('imports every server module and reports the ones without toolSpecs', async () => {
    const built = await discoverServers(root);
    expect(built.servers.map((s) => s.dir)).toEqual(['servers/alpha']);
    expect(built.servers[0]?.specs[0]?.title).toBe('List things (built)');
    expect(built.problems).toEqual([
      {
        dir: 'servers/beta',
        packageName: '@fixture/mcp-beta',
        message:
          'servers/beta/dist/index.mjs does not exist (build the package, or run from source with --source under tsx)',
      },
      expect.objectContaining({
        dir: 'servers/gamma',
        message: expect.stringContaining('dist/index.mjs does not exist'),
      }),
    ]);
    const source = await discoverServers(root, { source: true });
    expect(source.servers.map((s) => s.dir)).toEqual(['servers/alpha', 'servers/gamma']);
    expect(source.servers[0]?.specs[0]?.title).toBe('List things');
    expect(source.problems).toEqual([
      expect.objectContaining({ dir: 'servers/beta', message: expect.stringContaining('no export named toolSpecs') }),
    ]);
  });
});

describe('cli', () => {
  it('table: every server and tool, with a warning for the skipped package', async () => {
    const r = await run('table');
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('SERVER  TOOL            TIER    SCOPES           READ-ONLY  DESTRUCTIVE');
    expect(r.out).toContain('alpha   things_delete   MEDIUM  mcp:alpha:write  no         yes');
    expect(r.out).toContain('gamma   secrets_rotate  HIGH    mcp:gamma:admin  no         yes');
    expect(r.err).toBe(
      'warning: skipping servers/beta (@fixture/mcp-beta): servers/beta/src/index.mjs has no export named toolSpecs (add `export const toolSpecs = specsOf(server)`)\n',
    );
  });

  it('table --policy: effective tiers and the tools the policy switches off', async () => {
    const r = await run('table', '--policy', 'ops/policy.yaml');
    expect(r.code).toBe(0);
    expect(r.out).toContain('alpha   things_list     MEDIUM (raised from LOW)');
    expect(r.out).toContain('off under ops/policy.yaml: alpha/things_restart (read-only)');
    expect(r.out).not.toContain('alpha/things_list (');
    expect(r.out).not.toContain('gamma/');
  });

  it('docs writes the markdown, and --check passes on it', async () => {
    const w = await run('docs');
    expect(w.code).toBe(0);
    expect(w.out).toBe('wrote docs/tools.md (8 tools)\n');
    expect(readFileSync(join(root, 'docs/tools.md'), 'utf8')).toBe(
      renderToolsMarkdown([...alphaSource, ...demoSpecs('gamma')]),
    );
    const c = await run('docs', '--check');
    expect(c).toMatchObject({ code: 0, out: 'docs/tools.md is up to date\n' });
  });

  it('docs --check fails on a stale or missing file, naming it and the command', async () => {
    write('docs/stale.md', 'old\n');
    const stale = await run('docs', '--check', '--out', 'docs/stale.md');
    expect(stale.code).toBe(1);
    expect(stale.err).toContain('docs/stale.md is stale: run `npm run docs` to regenerate it');
    const missing = await run('docs', '--check', '--out', 'docs/none.md');
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('docs/none.md is missing: run `npm run docs` to regenerate it');
  });

  it('policy check: ok for a valid file', async () => {
    const r = await run('policy', 'check', 'ops/policy.yaml');
    expect(r).toMatchObject({ code: 0, out: 'ok: ops/policy.yaml is valid for 8 tools on 2 servers\n' });
  });

  it.each([
    ['servers:\n  alpha:\n    tools:\n      things_fly: {}\n', 'policy servers.alpha.tools.things_fly: no such tool'],
    [
      'servers:\n  alpha:\n    tools:\n      secrets_rotate: { tier: LOW }\n',
      'policy servers.alpha.tools.secrets_rotate.tier: LOW is below the default HIGH',
    ],
    ['servers:\n  alpah: {}\n', 'bad.yaml: servers.alpah: no such server (known: alpha, gamma)'],
    ['servers:\n  alpha:\n    confirm: sometimes\n', 'bad.yaml: servers.alpha.confirm: '],
  ])('policy check: reports the error (%#)', async (text, message) => {
    write('bad.yaml', text);
    const r = await run('policy', 'check', 'bad.yaml');
    expect(r.code).toBe(1);
    expect(r.err).toContain(`error: ${message}`);
  });

  it('policy check: lists every problem of the file at once', async () => {
    write(
      'many.yaml',
      'servers:\n  alpah: {}\n  alpha:\n    tools:\n      things_fly: {}\n      secrets_rotate: { tier: LOW }\n',
    );
    const r = await run('policy', 'check', 'many.yaml');
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: many.yaml: 3 problems:\n');
    expect(r.err).toContain('\n  many.yaml: servers.alpah: no such server (known: alpha, gamma)\n');
    expect(r.err).toContain('\n  policy servers.alpha.tools.things_fly: no such tool\n');
    expect(r.err).toContain('\n  policy servers.alpha.tools.secrets_rotate.tier: LOW is below the default HIGH');
  });

  it('policy check: a missing file', async () => {
    expect((await run('policy', 'check', 'nope.yaml')).err).toContain('error: nope.yaml: no such file');
  });

  it.each([[['frobnicate']], [['policy', 'lint', 'x']], [['table', 'extra']], [['table', '--bogus']], [[]]])(
    'usage errors exit 2: %j',
    async (argv) => {
      const r = await run(...argv);
      expect(r.code).toBe(2);
      expect(r.out + r.err).toContain('usage: ravenhelm-registry');
    },
  );

  it('runs as a program from source under tsx', () => {
    const tsx = join(REPO, 'node_modules', '.bin', 'tsx');
    const child = spawnSync(tsx, [join(REPO, 'registry', 'src', 'cli.ts'), 'table', '--root', root], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(child.stderr).toContain('warning: skipping servers/beta');
    expect(child.stdout).toContain('gamma   things_list');
    expect(child.status).toBe(0);
    const usage = spawnSync(tsx, [join(REPO, 'registry', 'src', 'cli.ts'), 'nope'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});
