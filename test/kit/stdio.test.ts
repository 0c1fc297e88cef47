import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { connectEchoStdio, echoStdioParams } from '../fixtures/echo-stdio.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { StdioPeer } from '../fixtures/stdio-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-stdio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const connect = (env: Record<string, string>) => connectEchoStdio(dir, env, 'stdio-test');

describe('stdio transport', () => {
  it('serves the local principal: write scope by default, HIGH tools off', async () => {
    const client = await connect({});
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo_write');
    expect(names).not.toContain('echo_secret_rotate');
    const result = await client.callTool({ name: 'echo_say', arguments: { message: 'over stdio' } });
    expect(result.structuredContent).toEqual({ message: 'over stdio' });
    const refused = await client.callTool({ name: 'echo_secret_rotate', arguments: { name: 'x', newValue: 'y' } });
    expect(refused.isError).toBe(true);
    expect((refused.content as { text: string }[])[0]?.text).toMatch(/^ERR_/);
    // An unknown tool is a JSON-RPC error (-32602, data.code), as over HTTP, not a tool result.
    const unknown = await client.callTool({ name: 'containers_nuke', arguments: {} }).then(
      () => undefined,
      (err: { code?: number; message?: string; data?: { code?: string } }) => err,
    );
    expect(unknown).toMatchObject({ code: -32602, data: { code: 'ERR_UNKNOWN_TOOL' } });
    expect(unknown?.message).toMatch(/no tool named 'containers_nuke'; call tools\/list/);
    // A method the server does not offer: -32601 with the documented data.code and what it does serve.
    const { ListResourcesResultSchema } = await import('@modelcontextprotocol/sdk/types.js');
    const noMethod = await client.request({ method: 'resources/list', params: {} }, ListResourcesResultSchema).then(
      () => undefined,
      (err: { code?: number; message?: string; data?: { code?: string } }) => err,
    );
    expect(noMethod).toMatchObject({ code: -32601, data: { code: 'ERR_METHOD_NOT_FOUND' } });
    expect(noMethod?.message).toMatch(/no method "resources\/list" on this server: it serves tools/);
    await client.close();
  }, 60_000);

  it('narrows scopes from configuration and can turn HIGH tools on', async () => {
    const reader = await connect({ RAVENHELM_LOCAL_SCOPES: 'mcp:echo:read' });
    expect((await reader.listTools()).tools.map((t) => t.name)).not.toContain('echo_write');
    await reader.close();
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, "servers:\n  echo:\n    spiffe:\n      default: ['spiffe://ravenhelm.local/agent/local']\n");
    const admin = await connect({
      RAVENHELM_LOCAL_SCOPES: 'mcp:echo:admin',
      RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
      RAVENHELM_LOCAL_SPIFFE_ID: 'spiffe://ravenhelm.local/agent/local',
      RAVENHELM_POLICY_FILE: policy,
    });
    expect((await admin.listTools()).tools.map((t) => t.name)).toContain('echo_secret_rotate');
    const rotated = await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'db', newValue: 'n3w' } });
    expect(rotated.structuredContent).toEqual({ rotated: 'db' });
    await admin.close();
  }, 60_000);

  it('refuses to start on a missing config file', async () => {
    await expect(connect({ RAVENHELM_CONFIG: join(dir, 'none.yaml') })).rejects.toThrow();
  }, 60_000);

  it('--print-config prints the effective config with secrets redacted', () => {
    const entry = tsEntry('test/fixtures/echo-bin.ts', ['--print-config']);
    const out = execFileSync(entry.command, entry.args, {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        RAVENHELM_INTROSPECTION_CLIENT_ID: 'rs',
        RAVENHELM_INTROSPECTION_CLIENT_SECRET: 'very-secret-value',
      },
      encoding: 'utf8',
    });
    const config = JSON.parse(out);
    expect(config.auth.introspection).toEqual({ clientId: 'rs', clientSecret: '[redacted]' });
    expect(out).not.toContain('very-secret-value');
    expect(config.backend).toEqual({ greeting: 'hi' });
  }, 30_000);
});

describe('confirmation by MCP elicitation over stdio', () => {
  async function connectWithElicitation(answer: 'accept' | 'decline') {
    const policy = join(dir, 'confirm-policy.yaml');
    writeFileSync(policy, 'servers:\n  echo:\n    confirm: destructive\n');
    const client = new Client(
      { name: 'elicit-test', version: '1.0.0' },
      { capabilities: { elicitation: { form: {} } } },
    );
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(String(req.params.message));
      return answer === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: 'decline' };
    });
    await client.connect(
      new StdioClientTransport(echoStdioParams(dir, { RAVENHELM_POLICY_FILE: policy }, 'audit-elicit.jsonl')),
    );
    return { client, asked };
  }

  it('asks the user with the plan and runs the tool when they accept', async () => {
    const { client, asked } = await connectWithElicitation('accept');
    const result = await client.callTool({ name: 'echo_delete', arguments: { item: 'cache' } });
    expect(asked).toEqual(["Confirm: delete item 'cache'"]);
    expect(result.structuredContent).toEqual({ deleted: 'cache' });
    await client.close();
  }, 60_000);

  it('does nothing when they decline', async () => {
    const { client, asked } = await connectWithElicitation('decline');
    const result = await client.callTool({ name: 'echo_delete', arguments: { item: 'cache' } });
    expect(asked).toHaveLength(1);
    expect(result.isError).toBe(true);
    expect((result.content as { text: string }[])[0]?.text).toMatch(/^ERR_CONFIRMATION_INVALID: the user declined/);
    await client.close();
  }, 60_000);
});

describe('malformed lines over stdio (issue 7.2-7.4)', () => {
  it('answers every bad request with its JSON-RPC error, ignores bad notifications, stays alive', async () => {
    const audit = join(dir, 'audit-malformed.jsonl');
    const peer = await StdioPeer.start({ RAVENHELM_AUDIT_FILE: audit });
    try {
      const answer = async (line: string) => JSON.parse((await peer.send(line)) ?? 'null');
      expect(await answer('{not json')).toMatchObject({ id: null, error: { code: -32700 } });
      expect(await answer('[1,2]')).toMatchObject({ id: null, error: { code: -32600 } });
      expect(await answer('{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}')).toMatchObject({
        id: 1,
        error: { code: -32602 },
      });
      expect(await answer('{"jsonrpc":"2.0","id":2,"method":"ping","result":{}}')).toMatchObject({
        id: 2,
        error: { code: -32600 },
      });
      const asArray = await answer(
        '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo_say","arguments":[]}}',
      );
      expect(asArray.error).toMatchObject({ code: -32602, message: expect.stringMatching(/must be an object/) });
      const nested = `${'['.repeat(3000)}1${']'.repeat(3000)}`;
      const deep = await answer(
        `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo_write","arguments":{"value":${nested}}}}`,
      );
      expect(deep.error).toMatchObject({ code: -32602, message: expect.stringMatching(/deeper than 32/) });
      // a bad notification gets no answer: the next line is the ping's
      expect(await peer.send('{"jsonrpc":"2.0","method":"notifications/cancelled","params":7}', 300)).toBeUndefined();
      expect(await answer('{"jsonrpc":"2.0","id":5,"method":"ping"}')).toEqual({ jsonrpc: '2.0', id: 5, result: {} });
      const ok = await answer(
        '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo_say","arguments":{"message":"alive"}}}',
      );
      expect(ok.result.structuredContent).toEqual({ message: 'alive' });
      expect(peer.alive).toBe(true);
    } finally {
      await peer.stop();
    }
    // the refused write call left a denied record without its arguments, and the chain verifies
    const records = readFileSync(audit, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.find((r) => r.tool === 'echo_write')).toMatchObject({
      outcome: 'denied',
      errorCode: 'ERR_INVALID_INPUT',
    });
    expect((await verifyAuditChain(audit)).ok).toBe(true);
  }, 60_000);
});
