import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';
import { BOT_TOKEN, type GitLabSim, startGitLabSim } from '../simulators/gitlab.js';

// The real bin over Streamable HTTP (auth mode none, loopback), as agents reach it behind Traefik.
let sim: GitLabSim;
let server: HttpBin;
let url: string;
let dir: string;

beforeAll(async () => {
  sim = await startGitLabSim();
  dir = mkdtempSync(join(tmpdir(), 'gitlab-http-'));
  server = await startHttpBin('servers/gitlab/src/bin.ts', {
    PATH: process.env.PATH ?? '',
    GITLAB_URL: sim.url,
    GITLAB_TOKEN: BOT_TOKEN,
    RAVENHELM_LOG_LEVEL: 'info',
    RAVENHELM_AUTH_MODE: 'none',
    RAVENHELM_LOCAL_SCOPES: 'mcp:gitlab:read',
    RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
  });
  url = server.url;
}, 90_000);

afterAll(async () => {
  await server?.stop();
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

  it('the SDK client accepts "still checking" (hasConflicts null) and a branch\'s merge request pipelines note', async () => {
    const client = new Client({ name: 'gitlab-http', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const mr = sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
    if (!mr) throw new Error('seed changed: platform/api has no merge request');
    mr.merge_status = 'checking';
    try {
      const res = await client.callTool({ name: 'merge_requests_get', arguments: { project: 'platform/api', iid: 7 } });
      expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
      expect(res.structuredContent).toMatchObject({ hasConflicts: null, mergeStatus: 'checking' });
    } finally {
      mr.merge_status = 'can_be_merged';
    }
    const list = await client.callTool({
      name: 'pipelines_list',
      arguments: { project: 'platform/api', ref: 'feature/invoices' },
    });
    expect(list.isError, JSON.stringify(list.content)).toBeFalsy();
    expect((list.structuredContent as { note?: string }).note).toMatch(/refs\/merge-requests\/7\/head/);
    await client.close();
  }, 60_000);
});
