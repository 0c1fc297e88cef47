/**
 * The tools/call fast path (shared/src/http/fast-call.ts) against its reference: the same matrix of
 * valid and invalid calls sent to a server with the fast path and to one without it (every call through
 * the SDK server) must get the same statuses, headers, bodies and audit records.
 */
import { request as httpRequest } from 'node:http';
import { MultiplexTransport } from '@ravenhelm/kit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { callBody, type EchoHarness, startEcho } from '../fixtures/kit-harness.js';

const tokens = {
  reader: { subject: 'reader', clientId: 'reader-app', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', clientId: 'writer-app', scopes: ['mcp:echo:write'], roles: [] },
  limited: { subject: 'limited', scopes: ['mcp:echo:write'], roles: [] },
  admin: { subject: 'admin', scopes: ['mcp:echo:admin'], roles: [] },
};
const POLICY = `
servers:
  echo:
    confirm: destructive
`;
const ENV = { RAVENHELM_RATE_LIMIT_POINTS: '4', RAVENHELM_CALL_TIMEOUT_MS: '300' };

type Row = { label: string; token: keyof typeof tokens; body: unknown };

const call = (name: string, args?: unknown, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id: 11,
  method: 'tools/call',
  params: { name, ...(args === undefined ? {} : { arguments: args }), ...extra },
});

/** Valid and invalid calls, tool errors and protocol errors, and the methods that keep the SDK path. */
const MATRIX: Row[] = [
  { label: 'valid read', token: 'reader', body: callBody('echo_say', { message: 'hi', repeat: 2 }) },
  { label: 'string id', token: 'reader', body: callBody('echo_noop', {}, 'abc') },
  { label: 'no arguments member', token: 'reader', body: call('echo_noop') },
  { label: 'missing required argument', token: 'reader', body: call('echo_say', {}) },
  { label: 'wrong argument type', token: 'reader', body: callBody('echo_say', { message: 42 }) },
  { label: 'unknown argument', token: 'reader', body: callBody('echo_say', { message: 'x', mesage: 'typo' }) },
  {
    label: '__proto__ argument',
    token: 'reader',
    body: '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo_say","arguments":{"message":"x","__proto__":{"polluted":1}}}}',
  },
  {
    label: '__proto__ argument holding a value',
    token: 'reader',
    body: '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo_say","arguments":{"__proto__":{"message":"p"}}}}',
  },
  { label: 'unrelated _meta', token: 'reader', body: call('echo_say', { message: 'm' }, { _meta: { foo: 1 } }) },
  { label: 'extra params member', token: 'reader', body: call('echo_say', { message: 'm' }, { extra: true }) },
  { label: 'tool error (backend)', token: 'reader', body: callBody('echo_fail', { kind: 'backend' }) },
  { label: 'tool throws', token: 'reader', body: callBody('echo_fail', { kind: 'internal' }) },
  { label: 'handler timeout', token: 'reader', body: callBody('echo_slow', { ms: 2000 }) },
  { label: 'task-capable tool, no task', token: 'reader', body: callBody('echo_task', { ms: 0, value: 'v' }) },
  { label: 'unknown tool', token: 'reader', body: callBody('nope', {}) },
  { label: 'insufficient scope', token: 'reader', body: callBody('echo_write', { value: 'v' }) },
  { label: 'HIGH without SPIFFE', token: 'admin', body: callBody('echo_secret_rotate', { name: 'n', newValue: 's3' }) },
  { label: 'valid write (audited)', token: 'writer', body: callBody('echo_write', { value: 'v' }) },
  { label: 'write, invalid arguments', token: 'writer', body: callBody('echo_write', { value: 7 }) },
  { label: 'destructive: confirmation plan', token: 'writer', body: callBody('echo_delete', { item: 'i' }) },
  {
    label: 'destructive: forged token',
    token: 'writer',
    body: callBody('echo_delete', { item: 'i', confirmationToken: 'ct_forged' }),
  },
  { label: 'arguments not an object', token: 'reader', body: call('echo_say', ['x']) },
  { label: 'no tool name', token: 'reader', body: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: {} } },
  { label: 'progress token (SDK path)', token: 'reader', body: call('echo_noop', {}, { _meta: { progressToken: 5 } }) },
  { label: 'task-augmented (SDK path)', token: 'reader', body: call('echo_task', { ms: 0, value: 't' }, { task: {} }) },
  { label: 'tools/list', token: 'reader', body: { jsonrpc: '2.0', id: 2, method: 'tools/list' } },
  { label: 'ping', token: 'reader', body: { jsonrpc: '2.0', id: 2, method: 'ping' } },
  { label: 'unknown method', token: 'reader', body: { jsonrpc: '2.0', id: 2, method: 'nope/nope' } },
  ...Array.from({ length: 6 }, (_, i) => ({
    label: `rate limit ${i + 1}`,
    token: 'limited' as const,
    body: callBody('echo_write', { value: `r${i}` }),
  })),
];

interface Answer {
  status: number;
  headers: Record<string, string | null>;
  body: string;
}

async function send(url: string, token: string, body: unknown): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      authorization: `Bearer ${token}`,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const headers: Record<string, string | null> = {};
  for (const h of ['content-type', 'cache-control', 'www-authenticate', 'retry-after', 'connection']) {
    headers[h] = res.headers.get(h);
  }
  const challenge = headers['www-authenticate'];
  if (challenge) headers['www-authenticate'] = challenge.replace(/127\.0\.0\.1:\d+/g, '<host>');
  headers['x-request-id'] = res.headers.get('x-request-id') === null ? null : '<uuid>';
  return { status: res.status, headers, body: normalize(await res.text()) };
}

/** Random values (request ids, confirmation tokens, task ids, times) differ between any two runs. */
function normalize(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
    .replace(/cfm_[A-Za-z0-9_-]{16,}/g, '<token>')
    .replace(/"expiresAt":\d+/g, '"expiresAt":0')
    .replace(/"(createdAt|lastUpdatedAt|time)":"[^"]+"/g, '"$1":"<time>"')
    .replace(/"taskId":"[^"]+"/g, '"taskId":"<id>"')
    .replace(/(\\?"(?:waited|durationMs)\\?"):\d+/g, '$1:0');
}

/** The audit records without what differs by run (ids, times, chain hashes). */
function auditOf(h: EchoHarness): unknown[] {
  return h.audit.records.map(({ time, requestId, hash, prevHash, durationMs, ...rest }) => rest);
}

describe('tools/call fast path: the same answers as the SDK server path', () => {
  let fast: EchoHarness;
  let slow: EchoHarness;
  beforeAll(async () => {
    [fast, slow] = await Promise.all([
      startEcho({ tokens, policy: POLICY, env: ENV }),
      startEcho({ tokens, policy: POLICY, env: ENV, fastPath: false }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fast?.stop(), slow?.stop()]);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('answers every row of the matrix with the same status, headers and body, and audits it the same', async () => {
    const dispatched = vi.spyOn(MultiplexTransport.prototype, 'dispatch');
    const ran = vi.spyOn(MultiplexTransport.prototype, 'run');
    for (const row of MATRIX) {
      const a = await send(fast.url, row.token, row.body);
      const b = await send(slow.url, row.token, row.body);
      expect({ row: row.label, ...a }).toEqual({ row: row.label, ...b });
    }
    expect(auditOf(fast)).toEqual(auditOf(slow));
    expect(auditOf(fast).length).toBeGreaterThan(10);
    // The rows really took different paths: the fast server ran its authorized plain calls in-process.
    const fastRuns = ran.mock.contexts.filter((t) => t !== undefined).length;
    expect(fastRuns).toBeGreaterThanOrEqual(15);
    expect(dispatched.mock.calls.some(([r]) => (r.params as { task?: unknown }).task !== undefined)).toBe(true);
  });

  it('an operator turns the fast path off with RAVENHELM_HTTP_FAST_PATH=false: the same answer, through the SDK server', async () => {
    const off = await startEcho({ tokens, policy: POLICY, env: { ...ENV, RAVENHELM_HTTP_FAST_PATH: 'false' } });
    try {
      expect(off.rt.config.http.fastPath).toBe(false);
      const ran = vi.spyOn(MultiplexTransport.prototype, 'run');
      const dispatched = vi.spyOn(MultiplexTransport.prototype, 'dispatch');
      const body = callBody('echo_say', { message: 'hi', repeat: 2 });
      const a = await send(off.url, 'reader', body);
      expect(ran).not.toHaveBeenCalled();
      expect(dispatched).toHaveBeenCalledTimes(1);
      ran.mockClear();
      expect(a).toEqual(await send(fast.url, 'reader', body));
      expect(ran).toHaveBeenCalledTimes(1);
    } finally {
      await off.stop();
    }
  });

  it('a fast-path result carries the answer a real call gets', async () => {
    const a = await send(fast.url, 'reader', callBody('echo_say', { message: 'hi', repeat: 2 }));
    expect(a.status).toBe(200);
    expect(a.body).toBe(
      '{"result":{"content":[{"type":"text","text":"{\\"message\\":\\"hihi\\"}"}],"structuredContent":{"message":"hihi"}},"jsonrpc":"2.0","id":1}',
    );
  });

  it('a client that disconnects cancels its call: the abort reaches the handler and the outcome is audited', async () => {
    const run = vi.spyOn(MultiplexTransport.prototype, 'run');
    const before = fast.audit.records.length;
    const body = JSON.stringify(callBody('echo_slow', { ms: 5000 }));
    await new Promise<void>((resolve) => {
      const req = httpRequest(fast.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: 'Bearer reader',
          'content-length': Buffer.byteLength(body),
        },
      });
      req.on('error', () => resolve());
      req.end(body);
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 150);
    });
    expect(run).toHaveBeenCalledTimes(1);
    await vi.waitFor(
      () => {
        const slowCall = fast.services.calls.findLast((c) => c.tool === 'echo_slow');
        expect(slowCall?.args).toEqual({ ms: 5000, aborted: true });
      },
      { timeout: 3000 },
    );
    await vi.waitFor(() => {
      const outcome = fast.audit.records.slice(before).find((r) => r.tool === 'echo_slow' && r.phase === 'outcome');
      expect(outcome).toMatchObject({ outcome: 'error', errorCode: 'ERR_CANCELLED' });
    });
  });
});
