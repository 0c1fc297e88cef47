/**
 * Protocol 2026-07-28 (issue 17) through the real SDK v2 client (`@modelcontextprotocol/client` 2.4)
 * on the same endpoint that serves 2025-11-25 clients: tools, confirmation by an input_required
 * round trip (elicitation over stateless HTTP), routing headers, and the issue 7 rules.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, PROTOCOL_VERSION_META_KEY, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ENVELOPE_VERSION_KEY } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoStdioParams } from '../fixtures/echo-stdio.js';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';
import { StdioPeer } from '../fixtures/stdio-peer.js';

const tokens = {
  reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] },
  deleter: { subject: 'deleter', scopes: ['mcp:echo:write'], roles: [] },
};
const POLICY = 'servers:\n  echo:\n    confirm: destructive\n';

async function modernClient(url: string, token: string, onElicit?: (message: string) => 'accept' | 'decline') {
  const client = new Client({ name: 'modern-test', version: '1.0.0' }, {
    capabilities: onElicit ? { elicitation: { form: {} } } : {},
    versionNegotiation: { mode: { pin: '2026-07-28' } },
  } as never);
  if (onElicit) {
    client.setRequestHandler('elicitation/create', async (req: { params: { message: string } }) =>
      onElicit(req.params.message) === 'accept'
        ? { action: 'accept', content: { confirm: true } }
        : { action: 'decline' },
    );
  }
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

describe('MCP 2026-07-28 next to 2025-11-25 on one endpoint', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens, policy: POLICY });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('a v2 client pinned to 2026-07-28 lists and calls tools; a v1 client still works', async () => {
    const modern = await modernClient(h.url, 'reader');
    const { tools } = await modern.listTools();
    expect(tools.map((t) => t.name)).toContain('echo_say');
    const result = await modern.callTool({ name: 'echo_say', arguments: { message: 'from 2026' } });
    expect(result.structuredContent).toEqual({ message: 'from 2026' });
    await modern.close();
    const legacy = new V1Client({ name: 'legacy-test', version: '1.0.0' });
    await legacy.connect(
      new V1Transport(new URL(h.url), { requestInit: { headers: { authorization: 'Bearer reader' } } }),
    );
    const old = await legacy.callTool({ name: 'echo_say', arguments: { message: 'from 2025' } });
    expect(old.structuredContent).toEqual({ message: 'from 2025' });
    await legacy.close();
  });

  it('confirms a destructive call by elicitation over stateless HTTP (input_required round trip)', async () => {
    const asked: string[] = [];
    const client = await modernClient(h.url, 'deleter', (m) => {
      asked.push(m);
      return 'accept';
    });
    const result = await client.callTool({ name: 'echo_delete', arguments: { item: 'cache' } });
    expect(asked).toEqual(["Confirm: delete item 'cache'"]);
    expect(result.structuredContent).toEqual({ deleted: 'cache' });
    expect(h.services.calls.filter((c) => c.tool === 'echo_delete')).toHaveLength(1);
    await client.close();
  });

  it("shows the user hidden or reordering characters of the agent's arguments in the confirmation, and runs them as given", async () => {
    const asked: string[] = [];
    const client = await modernClient(h.url, 'deleter', (m) => {
      asked.push(m);
      return 'accept';
    });
    const item = 'cache\u001b[1A\u202Egol.sso';
    const result = await client.callTool({ name: 'echo_delete', arguments: { item } });
    expect(asked).toEqual(["Confirm: delete item 'cache[U+001B][1A[U+202E]gol.sso'"]);
    expect(result.structuredContent).toEqual({ deleted: item });
    await client.close();
  });

  it('runs nothing when the user declines, and a forged requestState is refused', async () => {
    const before = h.services.calls.length;
    const client = await modernClient(h.url, 'deleter', () => 'decline');
    const declined = await client.callTool({ name: 'echo_delete', arguments: { item: 'x' } });
    expect(declined.isError).toBe(true);
    await client.close();
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } },
      'io.modelcontextprotocol/clientInfo': { name: 'curl', version: '1' },
    };
    const forged = await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: {
          name: 'echo_delete',
          arguments: { item: 'x' },
          _meta: meta,
          inputResponses: { confirm: { action: 'accept', content: { confirm: true } } },
          requestState: 'forged-token',
        },
      },
      {
        authorization: 'Bearer deleter',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'echo_delete',
      },
    );
    expect(JSON.stringify(forged.json)).toMatch(/ERR_CONFIRMATION_INVALID/);
    expect(h.services.calls.length).toBe(before);
  });

  it('the one v2 server never mixes callers: interleaved 2026 requests each see their own tools', async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const list = (token: string, id: number) =>
      rpc(
        h.url,
        { jsonrpc: '2.0', id, method: 'tools/list', params: { _meta: meta } },
        { authorization: `Bearer ${token}`, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
      );
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => list(i % 2 ? 'deleter' : 'reader', i)));
    for (const [i, a] of answers.entries()) {
      expect(a.json.id).toBe(i);
      const names = (a.json.result.tools as { name: string }[]).map((t) => t.name);
      expect(names.includes('echo_delete'), `request ${i}`).toBe(i % 2 === 1);
    }
  });

  it('refuses a huge protocol version instead of echoing it (found by the fuzz test)', async () => {
    const version = `2099-${'9'.repeat(100_000)}`;
    const res = await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 8,
        method: 'tools/list',
        params: {
          _meta: {
            'io.modelcontextprotocol/protocolVersion': version,
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      },
      { authorization: 'Bearer reader' },
    );
    expect(res.json).toMatchObject({ id: 8, error: { code: -32602 } });
    expect(JSON.stringify(res.json).length).toBeLessThan(1000);
    const header = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 9, method: 'tools/list' },
      {
        authorization: 'Bearer reader',
        'mcp-protocol-version': 'v'.repeat(5000),
      },
    );
    expect(header.status).toBe(400);
    expect(JSON.stringify(header.json).length).toBeLessThan(1000);
  });

  it('a 2026 call is cancelled when its client disconnects, and only that call', async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const slow = (ms: number, signal?: AbortSignal) =>
      fetch(h.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: 'Bearer reader',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'echo_slow',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'echo_slow', arguments: { ms }, _meta: meta },
        }),
        ...(signal ? { signal } : {}),
      });
    const controller = new AbortController();
    const gone = slow(3000, controller.signal).catch(() => undefined);
    const other = slow(600);
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    await gone;
    const kept = (await (await other).json()) as { result: { structuredContent: { aborted: boolean } } };
    expect(kept.result.structuredContent.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    const runs = h.services.calls
      .filter((c) => c.tool === 'echo_slow')
      .map((c) => (c.args as { aborted: boolean }).aborted);
    expect(runs.sort()).toEqual([false, true]);
  });

  it('answers removed and unknown methods 404 -32601, and an unknown version with the supported ones, each with its id', async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    for (const [i, method] of ['initialize', 'ping', 'logging/setLevel', 'unknown/method'].entries()) {
      const res = await rpc(
        h.url,
        { jsonrpc: '2.0', id: 50 + i, method, params: { _meta: meta } },
        { authorization: 'Bearer reader', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method },
      );
      expect(res.status, method).toBe(404);
      expect(res.json, method).toMatchObject({ id: 50 + i, error: { code: -32601 } });
    }
    const unknown = await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 60,
        method: 'server/discover',
        params: { _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } },
      },
      { authorization: 'Bearer reader', 'mcp-protocol-version': 'v999.0.0', 'mcp-method': 'server/discover' },
    );
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({
      id: 60,
      error: { data: { supported: ['2026-07-28'], requested: 'v999.0.0' } },
    });
    // A 2025-era request naming an unknown version is still refused before its body is read.
    const legacy = await rpc(h.url, callBody('echo_say', { message: 'x' }), {
      authorization: 'Bearer reader',
      'mcp-protocol-version': 'v999.0.0',
    });
    expect(legacy.status).toBe(400);
    expect(legacy.json.error.data.code).toBe('ERR_PROTOCOL_VERSION');
  });

  it('keeps the issue 7 rules on the 2026 path: bad params answered, notifications dropped', async () => {
    const headers = {
      authorization: 'Bearer reader',
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/list',
    };
    const bad = await rpc(h.url, { jsonrpc: '2.0', id: 3, method: 'tools/list', params: [] }, headers);
    expect(bad.json).toMatchObject({ id: 3, error: { code: -32602 } });
    const cancel = await rpc(
      h.url,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
      { ...headers, 'mcp-method': 'notifications/cancelled' },
    );
    expect(cancel.status).toBe(202);
    const mismatch = await rpc(h.url, callBody('echo_say', { message: 'x' }), headers);
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.error.code).toBe(-32020);
  });
});

describe('MCP 2026-07-28 over stdio (the real bin)', () => {
  it('a v2 client pinned to 2026-07-28 calls tools and confirms by an input_required round trip', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rh-modern-stdio-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, POLICY);
    const client = new Client({ name: 'modern-stdio', version: '1.0.0' }, {
      capabilities: { elicitation: { form: {} } },
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    } as never);
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', async (req: { params: { message: string } }) => {
      asked.push(req.params.message);
      return { action: 'accept', content: { confirm: true } };
    });
    try {
      await client.connect(new StdioClientTransport(echoStdioParams(dir, { RAVENHELM_POLICY_FILE: policy })));
      const said = await client.callTool({ name: 'echo_say', arguments: { message: 'stdio 2026' } });
      expect(said.structuredContent).toEqual({ message: 'stdio 2026' });
      const deleted = await client.callTool({ name: 'echo_delete', arguments: { item: 'tmp' } });
      expect(asked).toEqual(["Confirm: delete item 'tmp'"]);
      expect(deleted.structuredContent).toEqual({ deleted: 'tmp' });
    } finally {
      await client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('one stdio connection, both eras (raw lines)', () => {
  it('routes each message by its envelope; a cancellation reaches the server that holds the call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rh-modern-peer-'));
    const peer = await StdioPeer.start({ RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl') });
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const line = (id: number, method: string, params: Record<string, unknown>) =>
      JSON.stringify({ jsonrpc: '2.0', id, method, params });
    try {
      // 2026: answered by the v2 server (serverInfo in the result _meta); 2025: by the v1 server.
      const modern = JSON.parse((await peer.send(line(1, 'tools/list', { _meta: meta }))) ?? 'null');
      expect(modern.result._meta['io.modelcontextprotocol/serverInfo'].name).toBe('ravenhelm-echo');
      const legacy = JSON.parse((await peer.send(line(2, 'tools/list', {}))) ?? 'null');
      expect(legacy.result.tools.length).toBe(modern.result.tools.length);
      expect(legacy.result._meta).toBeUndefined();
      // A malformed envelope and an unknown revision are refused with their ids.
      const bad = JSON.parse(
        (await peer.send(
          line(3, 'tools/list', { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } }),
        )) ?? 'null',
      );
      expect(bad).toMatchObject({ id: 3, error: { code: -32602 } });
      const unknown = JSON.parse(
        (await peer.send(
          line(4, 'tools/list', { _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } }),
        )) ?? 'null',
      );
      expect(unknown).toMatchObject({ id: 4, error: { data: { requested: '2099-01-01' } } });
      // A 2026 call cancelled by its id stops (echo_slow reports aborted: true) and is not answered.
      peer.child.stdin.write(`${line(5, 'tools/call', { name: 'echo_slow', arguments: { ms: 3000 }, _meta: meta })}\n`);
      await new Promise((r) => setTimeout(r, 300));
      peer.child.stdin.write(
        `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5 } })}\n`,
      );
      const after = JSON.parse((await peer.send(line(6, 'tools/list', { _meta: meta }), 5000)) ?? 'null');
      expect(after.id).toBe(6);
      expect(await peer.next(3500)).toBeUndefined();
    } finally {
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('2026-07-28 errors keep the HTTP status of their code', () => {
  it('a HIGH call with the audit log down is 503 ERR_AUDIT_UNAVAILABLE, and nothing runs', async () => {
    const spiffe = 'spiffe://ravenhelm.local/agent/oncall';
    const h = await startEcho({
      tokens: { admin: { subject: 'admin', scopes: ['mcp:echo:admin'], roles: [], spiffeId: spiffe } },
      policy: `servers:\n  echo:\n    spiffe:\n      default: ['${spiffe}']\n`,
      wrapAudit: (sink) => ({
        write: (event, opts) => (opts.durable ? Promise.reject(new Error('disk full')) : sink.write(event, opts)),
        close: () => sink.close(),
      }),
    });
    try {
      const res = await rpc(
        h.url,
        {
          jsonrpc: '2.0',
          id: 2,
          method: 'tools/call',
          params: {
            name: 'echo_secret_rotate',
            arguments: { name: 'db', newValue: 'n3w-SECRET' },
            _meta: {
              'io.modelcontextprotocol/protocolVersion': '2026-07-28',
              'io.modelcontextprotocol/clientCapabilities': {},
            },
          },
        },
        {
          authorization: 'Bearer admin',
          'mcp-protocol-version': '2026-07-28',
          'mcp-method': 'tools/call',
          'mcp-name': 'echo_secret_rotate',
        },
      );
      expect(res.status).toBe(503);
      expect(res.json).toMatchObject({ id: 2, error: { data: { code: 'ERR_AUDIT_UNAVAILABLE' } } });
      expect(JSON.stringify(res.json)).not.toContain('n3w-SECRET');
      expect(h.services.calls.some((c) => c.tool === 'echo_secret_rotate')).toBe(false);
    } finally {
      await h.stop();
    }
  });
});

describe('the era check that runs before SDK v2 is loaded', () => {
  it('names the envelope key exactly as the SDK does', () => {
    expect(ENVELOPE_VERSION_KEY).toBe(PROTOCOL_VERSION_META_KEY);
  });
});
