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

  it('a server that throws on the message rejects the dispatch and keeps nothing pending (no deadline timer left)', async () => {
    const t = new MultiplexTransport({ deadlineMs: 60_000 });
    t.onmessage = () => {
      throw new TypeError('schema.safeParse is not a function');
    };
    await expect(t.dispatch(request, {})).rejects.toThrow(/safeParse/);
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

/** A handler that never finishes on its own: it records its signal and settles only when aborted. */
function hangingHandler() {
  const seen: { signal?: AbortSignal; settledAfterAbort: boolean } = { settledAfterAbort: false };
  const handler = ({ signal }: AbortController) => {
    seen.signal = signal;
    return new Promise<unknown>((_resolve, reject) => {
      signal.addEventListener('abort', () => {
        seen.settledAfterAbort = true;
        reject(new Error('handler saw the abort'));
      });
    });
  };
  return { seen, handler };
}

describe('MultiplexTransport.run (the in-process fast path) keeps the same settle rules', () => {
  it('answers with the result under the caller id, in the key order the SDK Protocol uses', async () => {
    const t = new MultiplexTransport();
    const res = await t.run(request, async () => ({ content: [] }));
    expect(JSON.stringify(res)).toBe('{"result":{"content":[]},"jsonrpc":"2.0","id":7}');
    expect(t.pending).toBe(0);
  });

  it('turns a thrown error into the JSON-RPC error the SDK Protocol builds (code, message, data)', async () => {
    const t = new MultiplexTransport();
    const coded = Object.assign(new Error('MCP error -32602: bad'), { code: -32602, data: { code: 'ERR_X' } });
    expect(await t.run(request, () => Promise.reject(coded))).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: { code: -32602, message: 'MCP error -32602: bad', data: { code: 'ERR_X' } },
    });
    // A plain error (no numeric code) is -32603 without data; a synchronous throw is answered too.
    const plain = await t.run(request, () => {
      throw new Error('boom');
    });
    expect(plain).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32603, message: 'boom' } });
    expect(t.pending).toBe(0);
  });

  it('aborts the handler and answers ERR_BACKEND_TIMEOUT when the deadline passes; its late answer is dropped', async () => {
    const t = new MultiplexTransport({ deadlineMs: 50 });
    const { seen, handler } = hangingHandler();
    const res = (await t.run(request, handler)) as { id: number; error: { data: { code: string } } };
    expect(res.id).toBe(7);
    expect(res.error.data.code).toBe('ERR_BACKEND_TIMEOUT');
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toBe('deadline passed');
    expect(seen.settledAfterAbort).toBe(true);
    expect(t.pending).toBe(0);
  });

  it('aborts the handler and answers ERR_CANCELLED when the transport cancels (client gone)', async () => {
    const t = new MultiplexTransport();
    const { seen, handler } = hangingHandler();
    let cancel: (() => void) | undefined;
    const pending = t.run(request, handler, (c) => {
      cancel = c;
    });
    expect(seen.signal?.aborted).toBe(false);
    cancel?.();
    const res = (await pending) as { error: { data: { code: string } } };
    expect(res.error.data.code).toBe('ERR_CANCELLED');
    expect(seen.signal?.reason).toBe('client disconnected');
    cancel?.(); // a second cancel is a no-op
    expect(t.pending).toBe(0);
  });

  it("still answers a call whose handler aborted the call's controller itself (its own deadline)", async () => {
    const t = new MultiplexTransport();
    const res = await t.run(request, async (controller) => {
      controller.abort(new Error('deadline'));
      return { content: [], isError: true };
    });
    expect(res).toEqual({ result: { content: [], isError: true }, jsonrpc: '2.0', id: 7 });
  });

  it('never lets a server response settle an in-process call', async () => {
    const t = new MultiplexTransport({ deadlineMs: 50 });
    const { handler } = hangingHandler();
    const pending = t.run(request, handler);
    for (let i = 1; i <= 3; i++) await t.send({ jsonrpc: '2.0', id: `direct:${i}`, result: { forged: true } });
    const res = (await pending) as { error: { data: { code: string } } };
    expect(res.error.data.code).toBe('ERR_BACKEND_TIMEOUT');
  });

  it('answers ERR_SHUTTING_DOWN and aborts the handler when the transport closes', async () => {
    const t = new MultiplexTransport();
    const { seen, handler } = hangingHandler();
    const pending = t.run(request, handler);
    await t.close();
    const res = (await pending) as { error: { data: { code: string } } };
    expect(res.error.data.code).toBe('ERR_SHUTTING_DOWN');
    expect(seen.signal?.aborted).toBe(true);
    await expect(t.run(request, handler)).rejects.toThrow(/closed/);
  });
});
