import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { BOT_TOKEN, type GitLabSim, startGitLabSim } from '../simulators/gitlab.js';

// The real bin over Streamable HTTP (auth mode none, loopback), as agents reach it behind Traefik.
let sim: GitLabSim;
let child: ChildProcess;
let url: string;
let dir: string;

beforeAll(async () => {
  sim = await startGitLabSim();
  dir = mkdtempSync(join(tmpdir(), 'gitlab-http-'));
  const entry = tsEntry('servers/gitlab/src/bin.ts', ['--http', '--port', '0']);
  child = spawn(entry.command, entry.args, {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      GITLAB_URL: sim.url,
      GITLAB_TOKEN: BOT_TOKEN,
      RAVENHELM_LOG_LEVEL: 'info',
      RAVENHELM_AUTH_MODE: 'none',
      RAVENHELM_LOCAL_SCOPES: 'mcp:gitlab:read',
      RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${buffered}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const m = /"url":"([^"]+)"/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${buffered}`)));
  });
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ravenhelm-mcp-gitlab over Streamable HTTP', () => {
  it('a read-scoped caller sees only the read tools and gets a diagnosis', async () => {
    const client = new Client({ name: 'gitlab-http', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThanOrEqual(20);
    for (const t of tools) expect(t.annotations?.readOnlyHint, t.name).toBe(true);
    const res = await client.callTool({ name: 'pipelines_diagnose', arguments: { project: 'platform/api' } });
    expect(res.isError).toBeFalsy();
    expect((res.structuredContent as { failedJobsTotal: number }).failedJobsTotal).toBe(2);
    // over HTTP a missing scope is refused before the tool runs (403 insufficient_scope), not a tool result
    await expect(
      client.callTool({ name: 'issues_close', arguments: { project: 'platform/api', iid: 1 } }),
    ).rejects.toThrow(/ERR_INSUFFICIENT_SCOPE/);
    expect(sim.control.requests.some((r) => r.method === 'PUT')).toBe(false);
    await client.close();
  }, 60_000);
});
