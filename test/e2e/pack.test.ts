/**
 * Installable like any MCP server: every publishable package is packed with `pnpm pack` (which rewrites
 * `workspace:*` to real versions), the tarballs are installed together with npm into an empty folder,
 * and each server's bin is started from there the way a user who never cloned the repo would: over
 * stdio with the SDK client (tools/list must match what the registry says this caller sees), once
 * over HTTP (/healthz), and with --help. Third-party dependencies come from the npm registry; the test
 * skips, saying why, only when that registry cannot be reached.
 */
import { execFile, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Registry, type ToolSpec } from '@ravenhelm/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { loadServers } from '../registry/servers.js';

const execFileP = promisify(execFile);
const SERVERS = ['docker', 'observability', 'gitlab', 'zitadel', 'traefik', 'secrets'];
const PACKAGES = ['shared', 'auth', 'registry', ...SERVERS.map((s) => `servers/${s}`)];

async function registryReachable(): Promise<string | undefined> {
  try {
    await execFileP('npm', ['ping'], { timeout: 20_000, cwd: tmpdir() });
    return undefined;
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    const errors = (stderr ?? '').split('\n').filter((l) => /error/i.test(l));
    return errors.slice(0, 2).join(' / ') || message.split('\n')[0] || 'failed';
  }
}

const unreachable = await registryReachable();
if (unreachable) {
  console.warn(`pack.test.ts SKIPPED: the npm registry did not answer "npm ping" within 20 s (${unreachable})`);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Runs `fn` over `items` with at most `limit` at a time (two shared cores). */
async function inBatches<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: limit }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

let work = '';
let tarballs = '';
let prefix = '';
let state = '';
const figures: string[] = [];
let specs: ToolSpec[] = [];
const env: Record<string, string> = {};

function serverEnv(name: string): Record<string, string> {
  return { ...env, RAVENHELM_AUDIT_FILE: join(state, `${name}-audit.jsonl`) };
}

function binOf(name: string): string {
  return join(prefix, 'node_modules', '.bin', `ravenhelm-mcp-${name}`);
}

describe.skipIf(unreachable !== undefined)('packed tarballs installed with npm', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rh-pack-'));
    tarballs = join(work, 'tarballs');
    prefix = join(work, 'install');
    state = join(work, 'state');
    mkdirSync(tarballs);
    mkdirSync(prefix);
    mkdirSync(state);
    specs = (await loadServers()).servers.flatMap((s) => s.specs);

    // Every variable the servers read is ours here: a developer's shell must not change the outcome.
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !/^(RAVENHELM_|ZITADEL_|GITLAB_|DOCKER_|TRAEFIK_|AWS_)/.test(k)) env[k] = v;
    }
    // Zitadel refuses to start without a URL and a key file; nothing is called to list tools.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = join(state, 'zitadel-key.json');
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(keyFile, JSON.stringify({ type: 'serviceaccount', keyId: 'k1', userId: 'u1', key }));
    env.ZITADEL_URL = `http://127.0.0.1:${await freePort()}`;
    env.ZITADEL_KEY_FILE = keyFile;

    const packStart = performance.now();
    await inBatches(PACKAGES, 3, async (dir) => {
      await execFileP('npx', ['-y', 'pnpm@10', 'pack', '--pack-destination', tarballs], {
        cwd: join(REPO_ROOT, dir),
        timeout: 120_000,
      });
    });
    figures.push(`pack (9 packages): ${Math.round(performance.now() - packStart)} ms`);
    for (const f of readdirSync(tarballs).sort()) {
      figures.push(`  ${f}: ${(statSync(join(tarballs, f)).size / 1024).toFixed(1)} KiB`);
    }

    writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: 'rh-pack-check', private: true }));
    const installStart = performance.now();
    const files = readdirSync(tarballs).map((f) => join(tarballs, f));
    await execFileP('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...files], {
      cwd: prefix,
      timeout: 240_000,
      env: { ...env, npm_config_loglevel: 'error' },
    });
    figures.push(`npm install (tarballs + registry deps): ${Math.round(performance.now() - installStart)} ms`);
  }, 420_000);

  afterAll(() => {
    if (figures.length > 0) console.log(`pack.test.ts figures:\n${figures.join('\n')}`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs all nine packages with workspace versions rewritten and only dist, bin, the bundle and package.json', async () => {
    const names = readdirSync(tarballs);
    expect(names).toHaveLength(PACKAGES.length);
    for (const f of names) {
      const { stdout } = await execFileP('tar', ['-tzf', join(tarballs, f)]);
      const entries = stdout.trim().split('\n');
      const outside = entries.filter(
        (e) => !/^package\/(dist\/|bin\/|bundle\/[^/]+\.(mjs|map|txt)$|package\.json$|README|LICENSE)/.test(e),
      );
      expect(outside, `${f} ships files outside dist/, bin/ and the bundle`).toEqual([]);
      expect(entries, `${f} has no dist/index.js (run the build first)`).toContain('package/dist/index.js');
      // A server's bin runs its bundle (scripts/bundle.mjs); the source map ships beside it for stack traces.
      const server = /^ravenhelm-mcp-([a-z]+)-\d/.exec(f)?.[1];
      if (server) {
        expect(entries, `${f} has no bundle (the build bundles it)`).toContain(
          `package/bundle/ravenhelm-mcp-${server}.mjs`,
        );
        expect(entries).toContain(`package/bundle/ravenhelm-mcp-${server}.mjs.map`);
      } else {
        expect(entries.filter((e) => e.startsWith('package/bundle/'))).toEqual([]);
      }
      const { stdout: text } = await execFileP('tar', ['-xzOf', join(tarballs, f), 'package/package.json']);
      expect(text, `${f} still names workspace: versions`).not.toContain('workspace:');
      const manifest = JSON.parse(text) as { engines?: { node?: string }; bin?: Record<string, string> };
      expect(manifest.engines?.node, `${f} does not say which Node it needs`).toMatch(/20\.18/);
      for (const [bin, path] of Object.entries(manifest.bin ?? {})) {
        expect(entries, `${f}: bin ${bin} points at a file not in the tarball`).toContain(
          `package/${path.replace(/^\.\//, '')}`,
        );
      }
    }
  });

  it.each(SERVERS)('%s: --help from the installed bin', async (name) => {
    const { stdout } = await execFileP(binOf(name), ['--help'], { env: serverEnv(name), timeout: 30_000 });
    expect(stdout).toContain(`Usage: ravenhelm-mcp-${name}`);
  });

  it.each(['ravenhelm-audit', 'ravenhelm-approvals', 'ravenhelm-auth', 'ravenhelm-registry'])(
    '%s: the installed helper bin starts and prints its usage',
    async (bin) => {
      // `ravenhelm-audit --help` prints its usage and exits 2 (it knows no --help): both streams count.
      const result = await execFileP(join(prefix, 'node_modules', '.bin', bin), ['--help'], {
        env,
        timeout: 30_000,
      }).catch((err: { stdout?: string; stderr?: string; code?: unknown }) => {
        if (typeof err.code !== 'number') throw err;
        return { stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      });
      expect(`${result.stdout}${result.stderr}`).toMatch(new RegExp(`usage:?\\s*${bin}|${bin} <command>`, 'i'));
    },
  );

  it.each(SERVERS)('%s: the installed bin lists over stdio the tools the registry says it shows', async (name) => {
    // The stdio caller is the local operator with the server's write scope and no SPIFFE ID.
    const expected = new Registry(specs)
      .visibleTo(name, { scopes: [`mcp:${name}:write`] })
      .map((t) => t.name)
      .sort();
    expect(expected.length).toBeGreaterThan(0);
    const transport = new StdioClientTransport({
      command: binOf(name),
      args: ['--stdio'],
      env: serverEnv(name),
      cwd: prefix,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const client = new Client({ name: 'pack-test', version: '0.0.0' });
    const start = performance.now();
    try {
      await client.connect(transport);
      const listed: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : {});
        listed.push(...page.tools.map((t) => t.name));
        cursor = page.nextCursor;
      } while (cursor);
      figures.push(
        `${name}: spawn to tools/list answered ${Math.round(performance.now() - start)} ms (${listed.length} tools)`,
      );
      expect(listed.sort(), stderr).toEqual(expected);
    } catch (err) {
      throw new Error(`${name} over stdio: ${(err as Error).message}\nstderr:\n${stderr}`);
    } finally {
      await client.close();
    }
  });

  it('observability: the installed bin serves HTTP on loopback and answers /healthz', async () => {
    const port = await freePort();
    const child = spawn(binOf('observability'), ['--http', '--host', '127.0.0.1', '--port', String(port)], {
      env: { ...serverEnv('observability'), RAVENHELM_AUTH_MODE: 'none' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    try {
      const start = performance.now();
      let res: Response | undefined;
      while (performance.now() - start < 20_000 && child.exitCode === null) {
        res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (res) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(res?.status, `no /healthz answer; server output:\n${output}`).toBe(200);
      figures.push(`observability --http: /healthz answered ${Math.round(performance.now() - start)} ms after spawn`);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
