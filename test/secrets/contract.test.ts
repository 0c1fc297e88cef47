import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import suite from '../contract/servers/secrets.js';
import type { ContractBackend } from '../contract/types.js';
import { BIN, ROOT } from './harness.js';

// Runs this server's contract cases the way the suite's runner is specified to (test/contract/types.ts):
// the real bin, the SDK Client with output validation, confirm-policy tools confirmed by re-sending the token.
let backend: ContractBackend;
let client: Client;

beforeAll(async () => {
  backend = await suite.setup();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...BIN, '--stdio'],
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...backend.env },
    stderr: 'ignore',
  });
  client = new Client({ name: 'secrets-contract', version: '0' });
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await backend?.stop();
});

describe('secrets contract cases', () => {
  it('has an ok case for every tool and every case passes through the SDK client', async () => {
    const { tools } = await client.listTools();
    const okTools = new Set(backend.cases.filter((c) => c.expect === 'ok').map((c) => c.tool));
    expect([...okTools].sort()).toEqual(tools.map((t) => t.name).sort());
    for (const c of backend.cases) {
      let res = await client.callTool({ name: c.tool, arguments: c.arguments });
      const token = (res._meta as Record<string, { token?: string }> | undefined)?.['ravenhelm/confirmation']?.token;
      if (res.isError && token)
        res = await client.callTool({ name: c.tool, arguments: { ...c.arguments, confirmationToken: token } });
      const text = ((res.content as { text?: string }[]) ?? []).map((x) => x.text ?? '').join('\n');
      if (c.expect === 'ok') expect(res.isError, `${c.tool} (${c.label}): ${text}`).toBeFalsy();
      else {
        expect(res.isError, `${c.tool} (${c.label})`).toBe(true);
        expect(text).toMatch(/ERR_[A-Z_]+/);
      }
      c.check?.(res.structuredContent as Record<string, unknown> | undefined, text);
    }
  }, 60_000);
});
