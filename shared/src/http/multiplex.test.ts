import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { MultiplexTransport } from './multiplex.js';

const request = { jsonrpc: '2.0' as const, id: 7, method: 'tools/call', params: { name: 'x' } };

/** A transport whose server never answers: every settle path must still resolve the request. */
function silentServer(deadlineMs = 60_000) {
  const t = new MultiplexTransport({ deadlineMs });
  const seen: JSONRPCMessage[] = [];
  t.onmessage = (m) => {
    seen.push(m);
  };
  return { t, seen };
}

describe('MultiplexTransport settles every dispatched request exactly once', () => {
  it('routes the answer back under the caller id; internal ids are random, not a counter', async () => {
    const t = new MultiplexTransport();
    const ids: unknown[] = [];
    t.onmessage = (m) => {
      const id = (m as { id: string }).id;
      ids.push(id);
      void t.send({ jsonrpc: '2.0', id, result: { ok: id } });
    };
    const [a, b] = await Promise.all([t.dispatch(request, {}), t.dispatch(request, {})]);
    expect(a).toMatchObject({ id: 7 });
    expect(b).toMatchObject({ id: 7 });
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[0]).not.toBe(ids[1]);
    expect(t.pending).toBe(0);
  });

  it('answers with ERR_BACKEND_TIMEOUT after the deadline and cancels the work inside the server', async () => {
    const { t, seen } = silentServer(50);
    const res = (await t.dispatch(request, {})) as { id: number; error: { data: { code: string } } };
    expect(res.id).toBe(7);
    expect(res.error.data.code).toBe('ERR_BACKEND_TIMEOUT');
    expect(seen.at(-1)).toMatchObject({ method: 'notifications/cancelled' });
    expect(t.pending).toBe(0);
  });

  it('answers with ERR_CANCELLED when the client goes away, and a late answer is ignored', async () => {
    const { t, seen } = silentServer();
    let cancel: (() => void) | undefined;
    const pending = t.dispatch(request, {}, (c) => {
      cancel = c;
    });
    cancel?.();
    const res = (await pending) as { error: { data: { code: string } } };
    expect(res.error.data.code).toBe('ERR_CANCELLED');
    const internal = (seen[0] as { id: string }).id;
    expect(seen[1]).toMatchObject({ method: 'notifications/cancelled', params: { requestId: internal } });
    await t.send({ jsonrpc: '2.0', id: internal, result: {} });
    expect(t.pending).toBe(0);
  });

  it('answers every pending request with ERR_SHUTTING_DOWN when it closes', async () => {
    const { t } = silentServer();
    const all = Promise.all([t.dispatch(request, {}), t.dispatch({ ...request, id: 'b' }, {})]);
    await t.close();
    const res = (await all) as { id: unknown; error: { data: { code: string } } }[];
    expect(res.map((r) => [r.id, r.error.data.code])).toEqual([
      [7, 'ERR_SHUTTING_DOWN'],
      ['b', 'ERR_SHUTTING_DOWN'],
    ]);
    await expect(t.dispatch(request, {})).rejects.toThrow(/closed/);
  });
});
