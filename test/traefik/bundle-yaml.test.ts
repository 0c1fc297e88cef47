/**
 * The bundled bin (scripts/bundle.mjs) parses hand-written route files in its YAML worker (src/yaml-worker.ts, a
 * chunk of its own that the worker runs): run from a lone copy of the bundle's .mjs files (no node_modules), it
 * redacts a taken-over file's credentials (the worker parsed it) and answers about a hostile file in seconds.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { type Fixture, startFixture } from './harness.js';

const bundle = join(REPO_ROOT, 'servers/traefik/bundle');

// `npm test` builds the bundle first; only a run of this file alone before any build skips it (in CI it fails).
const unbuilt = !existsSync(join(bundle, 'ravenhelm-mcp-traefik.mjs')) && !process.env.CI;

describe.skipIf(unbuilt)('the bundled bin parses route files', () => {
  let fx: Fixture;
  let client: Client;
  beforeAll(async () => {
    fx = await startFixture({ env: { TRAEFIK_LOAD_TIMEOUT_MS: '600' } });
    const copy = join(fx.scratch, 'bundle');
    mkdirSync(copy);
    for (const f of readdirSync(bundle).filter((n) => n.endsWith('.mjs'))) copyFileSync(join(bundle, f), join(copy, f));
    client = new Client({ name: 'traefik-bundle-test', version: '0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(copy, 'ravenhelm-mcp-traefik.mjs'), '--stdio'],
        cwd: fx.scratch,
        env: fx.env,
        stderr: 'ignore',
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await fx?.close();
  });

  const plan = async (name: string) => {
    const res = await client.callTool({ name: 'routes_remove', arguments: { name, takeOver: true } });
    return (res._meta?.['ravenhelm/confirmation'] as { plan: string } | undefined)?.plan ?? '';
  };

  it("redacts a taken-over file's credentials: the worker parsed it", async () => {
    const hash = '$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/';
    writeFileSync(
      join(fx.dir, 'legacy.yaml'),
      `http:\n  middlewares:\n    legacy-auth:\n      basicAuth:\n        users:\n          - "admin:${hash}"\n`,
    );
    const text = await plan('legacy');
    expect(text).toMatch(/^-# credentials redacted/m);
    expect(text).toMatch(/^-.*legacy-auth/m);
    expect(text).not.toContain(hash);
  }, 60_000);

  it('answers about 256 KiB of stray "]" in seconds, without showing it', async () => {
    writeFileSync(join(fx.dir, 'hostile.yaml'), `[${']'.repeat(256 * 1024 - 1)}`);
    const started = Date.now();
    const text = await plan('hostile');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(text).toMatch(/^-# 1 lines not shown \(parsing it (takes more than \d+ ms|needs more than \d+ MB)/m);
  }, 60_000);
});
