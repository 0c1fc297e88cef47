/**
 * The Docker server end to end, as its users run it: the real bin over stdio (mcp.json) and over
 * Streamable HTTP, driven by the SDK client and by @modelcontextprotocol/inspector-cli, against the
 * real Docker Engine.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from '../docker/fixture.js';
import { type HttpBin, REPO_ROOT, startHttpBin, tsEntry } from '../fixtures/spawn.js';

const execFileP = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rh-docker-e2e-'));
const fx = new DockerFixture('e2e');
const baseEnv = {
  PATH: process.env.PATH ?? '',
  RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
  RAVENHELM_LOG_LEVEL: 'warn',
};

beforeAll(async () => {
  await ensureImage();
  await fx.start({ name: 'web', script: 'echo ready; sleep 3600' });
}, 120_000);

afterAll(async () => {
  await fx.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

type Listed = { containers: { name: string; state: string }[] };

describe('Docker server over stdio (mcp.json)', () => {
  it('lists and calls tools with the SDK client', async () => {
    const entry = tsEntry('servers/docker/src/bin.ts', ['--stdio']);
    const client = new Client({ name: 'e2e-stdio', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: entry.command,
        args: entry.args,
        cwd: REPO_ROOT,
        env: baseEnv,
        stderr: 'pipe',
      }),
    );
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['containers_list', 'containers_restart', 'logs_get', 'health_get_report']),
    );
    expect(names).not.toContain('exec_run'); // HIGH stays off over stdio by default
    const result = await client.callTool({ name: 'containers_list', arguments: { name: fx.prefix } });
    expect(result.isError).toBeFalsy();
    const listed = result.structuredContent as Listed;
    expect(listed.containers.map((c) => c.name)).toContain(fx.nameOf('web'));
    const missing = await client.callTool({
      name: 'containers_diagnose',
      arguments: { container: `${fx.prefix}-nope` },
    });
    expect(missing.isError).toBe(true);
    expect((missing.content as { text: string }[])[0]?.text).toMatch(/^ERR_NOT_FOUND: .*nope/);
    await client.close();
  }, 90_000);
});

describe('Docker server over Streamable HTTP', () => {
  let server: HttpBin;
  let url: string;

  beforeAll(async () => {
    server = await startHttpBin('servers/docker/src/bin.ts', {
      ...baseEnv,
      RAVENHELM_LOG_LEVEL: 'info',
      RAVENHELM_AUTH_MODE: 'none',
      RAVENHELM_LOCAL_SCOPES: 'mcp:docker:write',
    });
    url = server.url;
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('lists and calls tools with the SDK client', async () => {
    const client = new Client({ name: 'e2e-http', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThanOrEqual(10);
    for (const t of tools) expect(t.outputSchema?.type).toBe('object');
    const report = await client.callTool({ name: 'health_get_report', arguments: {} });
    expect(report.isError).toBeFalsy();
    // the client validates structuredContent against the slimmed output schema, optional notes included
    const logs = await client.callTool({
      name: 'logs_get',
      arguments: { container: fx.nameOf('web'), maxBytes: 1024 * 1024, until: '2099-01-01T00:00:00Z' },
    });
    expect(logs.isError).toBeFalsy();
    expect((logs.structuredContent as { notes?: string[] }).notes?.[0]).toMatch(/^maxBytes 1048576 lowered to /);
    await client.close();
  }, 60_000);

  it('works with @modelcontextprotocol/inspector-cli as a headless client', async () => {
    const cli = join(REPO_ROOT, 'scripts/inspect.mjs'); // what `npm run inspect --` runs
    const list = await execFileP(process.execPath, [cli, url, '--transport', 'http', '--method', 'tools/list'], {
      timeout: 60_000,
    });
    expect(JSON.parse(list.stdout).tools.map((t: { name: string }) => t.name)).toContain('containers_list');
    const call = await execFileP(
      process.execPath,
      [
        cli,
        url,
        '--transport',
        'http',
        '--method',
        'tools/call',
        '--tool-name',
        'containers_list',
        '--tool-arg',
        `name=${fx.prefix}`,
      ],
      { timeout: 60_000 },
    );
    const out = JSON.parse(call.stdout);
    expect(out.structuredContent.containers.map((c: { name: string }) => c.name)).toContain(fx.nameOf('web'));
  }, 90_000);

  it('reports ready while the daemon answers', async () => {
    const res = await fetch(new URL('/readyz', url));
    expect(res.status).toBe(200);
  });
});

describe('Docker server with the daemon down', () => {
  it('reports not ready with the reason, and tools say what to check', async () => {
    const { createMemoryAuditSink, createRuntime, loadConfig, localAuthenticator, silentLogger, startHttp } =
      await import('@ravenhelm/kit');
    const { dockerServer } = await import('@ravenhelm/mcp-docker');
    const config = loadConfig({
      backendSchema: dockerServer.backendConfig,
      backendEnv: dockerServer.backendEnv ?? {},
      env: { RAVENHELM_HTTP_PORT: '0', DOCKER_HOST: `unix://${dir}/no-such.sock` },
    });
    const rt = await createRuntime(dockerServer as never, config, silentLogger(), { audit: createMemoryAuditSink() });
    const http = await startHttp(rt, {
      authenticator: localAuthenticator(rt.localPrincipal),
      authorizationServers: [],
    });
    try {
      const ready = await fetch(new URL('/readyz', http.url));
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/DOCKER_HOST|dockerd|no-such\.sock/);
      const started = Date.now();
      const res = await fetch(http.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'containers_list', arguments: {} },
        }),
      });
      const body = (await res.json()) as { result: { isError: boolean; content: { text: string }[] } };
      expect(body.result.isError).toBe(true);
      expect(body.result.content[0]?.text).toMatch(/^ERR_BACKEND_UNAVAILABLE: /);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await http.shutdown();
      await rt.close();
    }
  }, 30_000);
});
