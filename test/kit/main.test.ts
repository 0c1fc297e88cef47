/**
 * The bin as a new user meets it: --help and --print-config show the real defaults, a server that
 * cannot start exits at once with one clear line and nothing listening, the audit log has a per-user
 * default that works from any directory, and stdio refusals name the setting that fixes them.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';

const execFileP = promisify(execFile);
const DIST_BIN = join(REPO_ROOT, 'servers/docker/dist/bin.js');
const home = mkdtempSync(join(tmpdir(), 'rh-main-'));
const baseEnv = { PATH: process.env.PATH ?? '', HOME: home, RAVENHELM_LOG_LEVEL: 'warn' };

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

async function runBin(
  args: string[],
  env: Record<string, string> = {},
  cwd = REPO_ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const entry = tsEntry('servers/docker/src/bin.ts', args);
  try {
    const { stdout, stderr } = await execFileP(entry.command, entry.args, {
      cwd,
      env: { ...baseEnv, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; killed?: boolean };
    if (e.killed) throw new Error(`the bin did not exit within 60 s: ${e.stderr}`);
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('--help and --print-config', () => {
  it('--help shows the server’s own port and the real defaults', async () => {
    const { code, stdout } = await runBin(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('listen port (default 8701; RAVENHELM_HTTP_PORT)');
    expect(stdout).toContain(join(home, '.local/state/ravenhelm/docker/audit.jsonl'));
    expect(stdout).toContain('scopes mcp:docker:write (RAVENHELM_LOCAL_SCOPES)');
    expect(stdout).toContain('RAVENHELM_LOCAL_ALLOW_HIGH=true');
  });

  it('--print-config prints effective values, not empty sections', async () => {
    const { code, stdout } = await runBin(['--print-config'], { XDG_STATE_HOME: join(home, 'state') });
    expect(code).toBe(0);
    const config = JSON.parse(stdout) as {
      http: { port: number };
      audit: { file?: string };
      local: { scopes?: string[] };
    };
    expect(config.http.port).toBe(8701);
    expect(config.audit.file).toBe(join(home, 'state/ravenhelm/docker/audit.jsonl'));
    expect(config.local.scopes).toEqual(['mcp:docker:write']);
    const flagged = JSON.parse((await runBin(['--print-config', '--port', '9999'])).stdout) as {
      http: { port: number };
    };
    expect(flagged.http.port).toBe(9999);
  });
});

describe('a server that cannot start', () => {
  it('exits non-zero at once with one clear line, and nothing is left listening', async () => {
    const port = await freePort();
    const started = Date.now();
    const { code, stderr } = await runBin(['--http', '--port', String(port)], { RAVENHELM_AUTH_MODE: 'oauth' });
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(stderr).toMatch(/^ravenhelm-mcp-docker: failed to start: auth\.issuer is required .*RAVENHELM_AUTH_ISSUER/m);
    expect(await refused(port)).toBe(true);
  });

  it('names RAVENHELM_AUDIT_FILE when the audit log cannot be opened', async () => {
    // A path under a file fails for every user, root included.
    const { code, stderr } = await runBin(['--stdio'], { RAVENHELM_AUDIT_FILE: '/dev/null/audit.jsonl' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot open the audit log \/dev\/null\/audit\.jsonl \(E\w+\); set RAVENHELM_AUDIT_FILE/);
  });
});

describe.runIf(existsSync(DIST_BIN))('stdio started from / as a GUI client does', () => {
  let client: Client | undefined;
  afterAll(async () => {
    await client?.close();
  });

  async function connectFromRoot(env: Record<string, string>): Promise<Client> {
    // The built bin, as mcp.json runs it (tsx would resolve from the working directory).
    const entry = { command: process.execPath, args: [DIST_BIN, '--stdio'] };
    const c = new Client({ name: 'main-test', version: '1.0.0' });
    await c.connect(
      new StdioClientTransport({
        command: entry.command,
        args: entry.args,
        cwd: '/',
        env: { ...baseEnv, ...env },
        stderr: 'pipe',
      }),
    );
    return c;
  }

  it('writes its audit log to the per-user state directory and refuses with the exact setting to change', async () => {
    const state = join(home, 'xdg');
    client = await connectFromRoot({
      XDG_STATE_HOME: state,
      RAVENHELM_POLICY_FILE: join(REPO_ROOT, 'examples/policy.yaml'),
      RAVENHELM_LOCAL_SCOPES: 'mcp:docker:read',
    });
    // containers_restart is raised to HIGH by the example policy and needs mcp:docker:write.
    const restart = await client.callTool({ name: 'containers_restart', arguments: { container: 'x' } });
    expect(restart.isError).toBe(true);
    const text = JSON.stringify(restart.content);
    expect(text).toMatch(/ERR_(INSUFFICIENT_SCOPE|TOOL_DISABLED|TIER_SPIFFE_REQUIRED)/);
    expect(text).not.toMatch(/connect with mTLS/);
    expect(text).toMatch(/RAVENHELM_LOCAL_(SCOPES|ALLOW_HIGH)/);
    await client.close();
    client = await connectFromRoot({
      XDG_STATE_HOME: state,
      RAVENHELM_POLICY_FILE: join(REPO_ROOT, 'examples/policy.yaml'),
      RAVENHELM_LOCAL_SCOPES: 'mcp:docker:write',
      RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
    });
    const high = await client.callTool({ name: 'containers_restart', arguments: { container: 'x' } });
    expect(high.isError).toBe(true);
    expect(JSON.stringify(high.content)).toMatch(
      /ERR_TIER_SPIFFE_REQUIRED: containers_restart is HIGH tier and the local operator's SPIFFE ID \(none\) is not on its allowlist; .*RAVENHELM_LOCAL_SPIFFE_ID/,
    );
    expect(existsSync(join(state, 'ravenhelm/docker/audit.jsonl'))).toBe(true);
  }, 90_000);

  it('names the missing scope and RAVENHELM_LOCAL_SCOPES when a scope is missing', async () => {
    await client?.close();
    client = await connectFromRoot({ XDG_STATE_HOME: join(home, 'xdg2'), RAVENHELM_LOCAL_SCOPES: 'mcp:docker:read' });
    const res = await client.callTool({ name: 'containers_restart', arguments: { container: 'x' } });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toMatch(
      /ERR_INSUFFICIENT_SCOPE: containers_restart needs scope mcp:docker:write; add it to RAVENHELM_LOCAL_SCOPES \(now: mcp:docker:read\)/,
    );
  }, 60_000);
});
