/**
 * Regression tests for issue 7 items 1-4: cancellation scoped to its caller, every request answered,
 * bounded nesting, readable -32602 and capped echoes. Each of these hung, crossed callers or answered
 * 500/-32603 before the message gate (shared/src/message.ts) and the settling multiplexer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, startEcho } from '../fixtures/kit-harness.js';

const tokens = {
  reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] },
  nobody: { subject: 'nobody', scopes: [], roles: [] },
};

/** One raw POST that must be answered within `ms` (the bugs were requests that never were). */
async function post(url: string, body: unknown, token = 'reader', ms = 4000) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(ms),
  });
  const text = await res.text();
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON-RPC bodies
  return { status: res.status, text, json: (text ? JSON.parse(text) : undefined) as any };
}

/** A tools/call body whose `message` argument is an array nested `levels` deep (built as text). */
function deepCall(tool: string, levels: number): string {
  const nested = `${'['.repeat(levels)}"x"${']'.repeat(levels)}`;
  return `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"${tool}","arguments":{"message":${nested}}}}`;
}

describe('a caller cannot cancel another caller (issue 7.1)', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('notifications/cancelled for guessed and echoed ids does not touch the victim, who gets the answer', async () => {
    const victim = post(h.url, callBody('echo_slow', { ms: 600 }, 5), 'reader');
    await new Promise((r) => setTimeout(r, 100));
    const guesses: (string | number)[] = [5, '5'];
    for (let n = 0; n <= 60; n++) guesses.push(n, String(n));
    const answers = await Promise.all(
      guesses.map((requestId) =>
        post(
          h.url,
          { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'x' } },
          'nobody',
        ),
      ),
    );
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([202]));
    const res = await victim;
    expect(res.status).toBe(200);
    expect(res.json.id).toBe(5);
    expect(res.json.result.structuredContent.aborted).toBe(false);
    const outcome = h.audit.records.filter((r) => r.tool === 'echo_slow' && r.phase === 'outcome');
    expect(outcome.map((r) => [r.principal.subject, r.outcome])).toEqual([['reader', 'success']]);
  });
});

describe('every request gets exactly one answer (issue 7.2-7.4)', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens, env: { RAVENHELM_RATE_LIMIT_POINTS: '3' } });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it.each([
    ['params as an array', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: [] }, -32602],
    ['params null', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: null }, -32602],
    ['params a string', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: 'echo_noop' }, -32602],
    ['params a number', { jsonrpc: '2.0', id: 1, method: 'ping', params: 7 }, -32602],
    ['_meta an array', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: [] } }, -32602],
    ['_meta a string', { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: 'x' } }, -32602],
    [
      'progressToken an object',
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: {} } } },
      -32602,
    ],
    ['method and result', { jsonrpc: '2.0', id: 1, method: 'ping', result: {} }, -32600],
    ['an extra member', { jsonrpc: '2.0', id: 1, method: 'ping', extra: true }, -32600],
    ['a fractional id', { jsonrpc: '2.0', id: 1.5, method: 'ping' }, -32600],
    ['a null id', { jsonrpc: '2.0', id: null, method: 'ping' }, -32600],
    ['jsonrpc 1.0', { jsonrpc: '1.0', id: 1, method: 'ping' }, -32600],
    ['tools/list cursor a number', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: 5 } }, -32602],
  ])('%s', async (_label, body, code) => {
    const res = await post(h.url, body);
    expect(res.json.error.code, res.text).toBe(code);
    expect(res.status).toBe(code === -32602 ? 200 : 400);
    const id = (body as { id?: unknown }).id;
    expect(res.json.id).toBe(typeof id === 'number' && Number.isInteger(id) ? id : null);
  });

  it('a tools/call with a malformed _meta neither passes authorization nor spends a rate-limit point', async () => {
    for (let i = 0; i < 5; i++) {
      const bad = await post(
        h.url,
        {
          jsonrpc: '2.0',
          id: i,
          method: 'tools/call',
          params: { name: 'echo_write', arguments: { value: 'v' }, _meta: 5 },
        },
        'writer',
      );
      expect(bad.json.error.code).toBe(-32602);
    }
    const unauthorized = await post(
      h.url,
      {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'echo_write', arguments: { value: 'v' }, _meta: [] },
      },
      'reader',
    );
    expect(unauthorized.json.error.code).toBe(-32602);
    expect(h.services.calls.filter((c) => c.tool === 'echo_write')).toHaveLength(0);
    // all three points are still there
    for (let i = 0; i < 3; i++)
      expect((await post(h.url, callBody('echo_write', { value: `ok${i}` }), 'writer')).status).toBe(200);
    expect((await post(h.url, callBody('echo_write', { value: 'over' }), 'writer')).status).toBe(429);
  });

  it('arguments nested 1,000+ deep are refused with -32602 before anything runs, and audited without them', async () => {
    for (const [tool, token] of [
      ['echo_say', 'reader'],
      ['echo_write', 'writer'],
    ] as const) {
      const res = await post(h.url, deepCall(tool, 5000), token);
      expect(res.status).toBe(200);
      expect(res.json.error.code).toBe(-32602);
      expect(res.json.error.message).toMatch(/deeper than 32 levels/);
      const record = h.audit.records.findLast((r) => r.tool === tool);
      expect(record).toMatchObject({ phase: 'outcome', outcome: 'denied', errorCode: 'ERR_INVALID_INPUT' });
    }
    // moderate nesting is still the tool's own validation, as an isError result
    const moderate = await post(h.url, deepCall('echo_say', 10));
    expect(moderate.json.result.isError).toBe(true);
  });

  it('arguments as an array is -32602 with a readable message, not -32603 with a validation dump', async () => {
    const res = await post(h.url, {
      jsonrpc: '2.0',
      id: 4,
      method: 'tools/call',
      params: { name: 'echo_say', arguments: [] },
    });
    expect(res.json.error.code).toBe(-32602);
    expect(res.json.error.message).toBe(
      '"params.arguments" must be an object of argument names to values, not an array',
    );
    const noName = await post(h.url, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { arguments: {} } });
    expect(noName.json.error.code).toBe(-32602);
    expect(noName.json.error.message).toMatch(/needs "params.name"/);
  });

  it('echoes at most a few dozen characters of caller input', async () => {
    const longName = `x${'y'.repeat(900_000)}`;
    const unknown = await post(h.url, callBody(longName));
    expect(unknown.json.error.code).toBe(-32602);
    expect(unknown.text.length).toBeLessThan(1000);
    const name200 = 'z'.repeat(120);
    const shortUnknown = await post(h.url, callBody(name200));
    expect(shortUnknown.json.error.data.code).toBe('ERR_UNKNOWN_TOOL');
    const keys = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`${'k'.repeat(1000)}${i}`, 1]));
    const typo = await post(h.url, callBody('echo_say', { message: 'hi', ...keys }));
    expect(typo.json.result.isError).toBe(true);
    expect(typo.text.length).toBeLessThan(3000);
    expect(typo.json.result.content[0].text).toMatch(/and 490 more/);
    const version = await fetch(h.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer reader',
        'mcp-protocol-version': 'v'.repeat(8000),
      },
      body: JSON.stringify(callBody('echo_noop')),
    });
    expect((await version.text()).length).toBeLessThan(1000);
  });

  it('a refused id is answered with id null, never echoed whole', async () => {
    const res = await post(h.url, { jsonrpc: '2.0', id: 'i'.repeat(100_000), method: 'ping' });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ id: null, error: { code: -32600 } });
    expect(res.text.length).toBeLessThan(1000);
  });

  it('responses and valid notifications are accepted with 202; malformed ones get 400', async () => {
    expect((await post(h.url, { jsonrpc: '2.0', id: 1, result: {} })).status).toBe(202);
    expect((await post(h.url, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
    const bad = await post(h.url, { jsonrpc: '2.0', method: 'notifications/cancelled', params: [1] });
    expect(bad.status).toBe(400);
    expect(bad.json.id).toBeNull();
    const neither = await post(h.url, { jsonrpc: '2.0', id: 1 });
    expect(neither.status).toBe(400);
  });

  it('still serves a valid call afterwards', async () => {
    const res = await post(h.url, callBody('echo_say', { message: 'still here' }));
    expect(res.json.result.structuredContent).toEqual({ message: 'still here' });
  });
});

describe('Mcp-Method / Mcp-Name routing headers', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens });
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function withHeaders(body: unknown, headers: Record<string, string>, token = 'reader') {
    const res = await fetch(h.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${token}`,
        ...headers,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(4000),
    });
    // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON-RPC bodies
    return { status: res.status, json: (await res.json()) as any };
  }

  it('accepts headers that match the body, plain or base64-encoded', async () => {
    const plain = await withHeaders(callBody('echo_say', { message: 'a' }), {
      'mcp-method': 'tools/call',
      'mcp-name': 'echo_say',
    });
    expect(plain.json.result.structuredContent).toEqual({ message: 'a' });
    const encoded = await withHeaders(callBody('echo_say', { message: 'b' }), {
      'mcp-method': 'tools/call',
      'mcp-name': `=?base64?${Buffer.from('echo_say').toString('base64')}?=`,
    });
    expect(encoded.status).toBe(200);
    const list = await withHeaders({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { 'mcp-method': 'tools/list' });
    expect(list.json.result.tools.length).toBeGreaterThan(0);
  });

  it('refuses headers that disagree with the body: 400, -32020, nothing runs', async () => {
    const before = h.services.calls.length;
    const method = await withHeaders(callBody('echo_say', { message: 'x' }), { 'mcp-method': 'tools/list' });
    expect(method.status).toBe(400);
    expect(method.json.error).toMatchObject({ code: -32020, data: { code: 'ERR_HEADER_MISMATCH' } });
    const name = await withHeaders(callBody('echo_say', { message: 'x' }), {
      'mcp-method': 'tools/call',
      'mcp-name': 'echo_noop',
    });
    expect(name.status).toBe(400);
    expect(name.json.error.message).toMatch(/body names tool 'echo_say' but Mcp-Name names 'echo_noop'/);
    const badBase64 = await withHeaders(callBody('echo_say', { message: 'x' }), { 'mcp-name': '=?base64?@@@?=' });
    expect(badBase64.status).toBe(400);
    expect(h.services.calls.length).toBe(before);
  });

  it('authorizes a tools/call by its headers before the body is read', async () => {
    const { request } = await import('node:http');
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(h.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer reader',
          'mcp-method': 'tools/call',
          'mcp-name': 'echo_write',
          'content-length': '500000',
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write('{"jsonrpc":"2.0",'); // the rest never comes
      req.flushHeaders();
    });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text).error.data.code).toBe('ERR_INSUFFICIENT_SCOPE');
    expect(h.audit.records.at(-1)).toMatchObject({ tool: 'echo_write', outcome: 'denied' });
  });
});
