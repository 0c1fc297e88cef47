// Runs test/contract/servers/traefik.ts the way the contract runner does: the real bin, the SDK Client,
// every case, confirm-policy tools confirmed with the returned token.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { tools } from '@ravenhelm/mcp-traefik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import suite from '../contract/servers/traefik.js';
import type { ContractBackend } from '../contract/types.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';

let backend: ContractBackend;
let client: Client;

beforeAll(async () => {
  backend = await suite.setup();
  const { command, args } = tsEntry(suite.bin, ['--stdio']);
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    RAVENHELM_LOG_LEVEL: 'warn',
    ...backend.env,
  };
  client = new Client({ name: 'traefik-contract', version: '0' });
  await client.connect(new StdioClientTransport({ command, args, cwd: REPO_ROOT, env, stderr: 'ignore' }));
  await client.listTools();
});

afterAll(async () => {
  await client?.close();
  await backend?.stop();
});

describe('traefik contract suite', () => {
  it('has an ok case for every tool', () => {
    const covered = new Set(backend.cases.filter((c) => c.expect === 'ok').map((c) => c.tool));
    expect(tools.map((t) => t.name).filter((n) => !covered.has(n))).toEqual([]);
  });

  it('every case passes through the SDK client', async () => {
    for (const c of backend.cases) {
      let res = await client.callTool({ name: c.tool, arguments: c.arguments });
      const token = (res._meta?.['ravenhelm/confirmation'] as { token?: string } | undefined)?.token;
      if (token) res = await client.callTool({ name: c.tool, arguments: { ...c.arguments, confirmationToken: token } });
      const text = (res.content as { text: string }[]).map((x) => x.text).join('\n');
      expect(Boolean(res.isError), `${c.tool} / ${c.label}: ${text}`).toBe(c.expect === 'error');
      if (c.expect === 'error') expect(text).toMatch(/ERR_[A-Z_]+/);
      c.check?.(res.structuredContent as Record<string, unknown> | undefined, text);
    }
  });
});
