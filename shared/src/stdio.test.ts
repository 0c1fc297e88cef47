import { PassThrough } from 'node:stream';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { GuardedStdioTransport, oneLine } from './stdio.js';

describe('oneLine', () => {
  it('escapes U+2028 and U+2029, so a line splitter that breaks on them reads one message per line', () => {
    const message = { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'no method "\u2028x\u2029" here' } };
    const line = oneLine(message);
    expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
    expect(line).toContain('\\u2028x\\u2029');
    expect(JSON.parse(line)).toEqual(message);
  });
});

/** A transport on in-memory streams: what the server is handed, and every line written back. */
async function harness() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const written: Record<string, unknown>[] = [];
  stdout.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n').filter(Boolean)) written.push(JSON.parse(line));
  });
  const t = new GuardedStdioTransport({ stdin, stdout, maxLineBytes: 10_000 });
  const handed: JSONRPCMessage[] = [];
  t.onmessage = (m) => {
    handed.push(m);
  };
  await t.start();
  const line = (m: unknown) => stdin.write(`${JSON.stringify(m)}\n`);
  const tick = () => new Promise((r) => setImmediate(r));
  return { t, stdin, stdout, written, handed, line, tick };
}

describe('GuardedStdioTransport.drain', () => {
  it('waits for every request taken and refuses new ones with ERR_SHUTTING_DOWN', async () => {
    const { t, written, handed, line, tick } = await harness();
    line({ jsonrpc: '2.0', id: 1, method: 'ping' });
    line({ jsonrpc: '2.0', id: 2, method: 'ping' });
    line({ jsonrpc: '2.0', id: 'x', method: 'ping' });
    await tick();
    expect(t.inflight).toBe(3);
    let drained = false;
    const draining = t.drain(5_000).then(() => {
      drained = true;
    });
    line({ jsonrpc: '2.0', id: 3, method: 'ping' });
    await tick();
    expect(handed).toHaveLength(3);
    expect(written).toEqual([expect.objectContaining({ id: 3, error: expect.objectContaining({ code: -32000 }) })]);
    await t.send({ jsonrpc: '2.0', id: 1, result: {} });
    await t.send({ jsonrpc: '2.0', id: 'x', result: {} });
    await tick();
    expect(drained).toBe(false); // the request under id 2 is still running
    // A notification from the server is no answer; a cancelled request is not answered (MCP).
    await t.send({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } });
    line({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 2 } });
    await draining;
    expect(t.inflight).toBe(0);
    await t.close();
  });

  it('refuses a request under the id of one still running (MCP: ids are unique within a session); an answered id may come again', async () => {
    const { t, written, handed, line, tick } = await harness();
    line({ jsonrpc: '2.0', id: 1, method: 'ping' });
    line({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    await tick();
    expect(handed).toEqual([expect.objectContaining({ id: 1, method: 'ping' })]);
    expect(written).toEqual([
      expect.objectContaining({
        id: 1,
        error: expect.objectContaining({ code: -32600, data: { code: 'ERR_BAD_REQUEST' } }),
      }),
    ]);
    expect(written[0]).toMatchObject({
      error: { message: expect.stringMatching(/already used by a request still running/) },
    });
    expect(t.inflight).toBe(1);
    await t.send({ jsonrpc: '2.0', id: 1, result: {} });
    line({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    await tick();
    expect(handed).toHaveLength(2);
    await t.close();
  });

  it('gives up after its time limit when an answer never comes', async () => {
    const { t, line, tick } = await harness();
    line({ jsonrpc: '2.0', id: 7, method: 'ping' });
    await tick();
    const started = Date.now();
    await t.drain(100);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(t.inflight).toBe(1);
    await t.close();
  });
});
