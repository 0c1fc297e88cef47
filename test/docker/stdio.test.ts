import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';

// The real bin over stdio, the way mcp.json starts it, against the real engine.
const root = fileURLToPath(new URL('../..', import.meta.url));
const fx = new DockerFixture('stdio');
let client: Client;
let crashed: string;

beforeAll(async () => {
  await ensureImage();
  crashed = await fx.start({ name: 'crashed', script: 'echo "panic: nil map" >&2; exit 2' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/docker/src/bin.ts', '--stdio'],
    cwd: root,
    stderr: 'ignore',
  });
  client = new Client({ name: 'docker-stdio-test', version: '0' });
  await client.connect(transport);
});

afterAll(async () => {
  await client?.close();
  await fx.cleanup();
});

describe('ravenhelm-mcp-docker --stdio', () => {
  it('lists the tools, with HIGH exec_run off over stdio', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('containers_list');
    expect(names).toContain('compose_get_logs');
    expect(names).not.toContain('exec_run');
  });

  it('answers a diagnosis with structured content', async () => {
    const res = await client.callTool({ name: 'containers_diagnose', arguments: { container: crashed } });
    expect(res.isError).toBeFalsy();
    const out = res.structuredContent as { container: { exitCode: number }; errorLog: { lines: { text: string }[] } };
    expect(out.container.exitCode).toBe(2);
    expect(out.errorLog.lines.map((l) => l.text)).toEqual(['panic: nil map']);
  });

  it('returns tool errors the model can read', async () => {
    const missing = await client.callTool({ name: 'logs_get', arguments: { container: `${fx.prefix}-nope` } });
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toMatch(/ERR_NOT_FOUND.*nope/);
    const invalid = await client.callTool({ name: 'logs_get', arguments: { container: crashed, tail: 0 } });
    expect(invalid.isError).toBe(true);
    expect(JSON.stringify(invalid.content)).toMatch(/ERR_INVALID_INPUT.*tail/);
  });
});
