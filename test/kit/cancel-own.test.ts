/**
 * A caller's notifications/cancelled stops its own call over stateless HTTP. SDK clients cancel that way
 * and keep the call's connection open (the SDK's transport aborts only on close), so before this a "stop"
 * in any SDK-based client never reached the server: the call ran to its end. The cancellation applies to
 * the sender's own running call alone (same principal, the id as sent), never to another caller's, and
 * to none when the id is ambiguous (the same principal on two clients that reuse ids).
 */
import { describe, expect, it } from 'vitest';
import {
  callBody,
  type EchoHarness,
  echoPerTest,
  HTTP_CALL_PATHS,
  rpc,
  sdkHttpClient,
} from '../fixtures/kit-harness.js';

const tokens = {
  reader: { subject: 'reader', clientId: 'cli', scopes: ['mcp:echo:read'], roles: [] },
  other: { subject: 'other', clientId: 'cli', scopes: ['mcp:echo:read'], roles: [] },
};
const headersFor = (token: string) => ({ authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-11-25' });
const cancelBody = (requestId: unknown) => ({
  jsonrpc: '2.0',
  method: 'notifications/cancelled',
  params: { requestId, reason: 'user pressed stop' },
});
const slowRecords = (h: EchoHarness) =>
  h.services.calls.filter((c) => c.tool === 'echo_slow').map((c) => c.args as { ms: number; aborted: boolean });

const startEchoHere = echoPerTest();

describe.each(HTTP_CALL_PATHS)('notifications/cancelled over HTTP (%s)', (_label, fastPath) => {
  it("an SDK client's abort stops its call on the server, audited as cancelled", async () => {
    const h = await startEchoHere({ tokens, fastPath });
    const client = await sdkHttpClient(h.url, 'reader', 'cancel-test');
    const ac = new AbortController();
    const call = client.callTool({ name: 'echo_slow', arguments: { ms: 20_000 } }, undefined, { signal: ac.signal });
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(1);
    ac.abort('user pressed stop');
    await expect(call).rejects.toThrow();
    // Stopped on the server, not run for 20 s.
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(0);
    expect(slowRecords(h)).toEqual([{ ms: 20_000, aborted: true }]);
    const outcome = h.audit.records.filter((r) => r.tool === 'echo_slow' && r.phase === 'outcome');
    expect(outcome.map((r) => [r.principal.subject, r.outcome, r.errorCode])).toEqual([
      ['reader', 'error', 'ERR_CANCELLED'],
    ]);
    // The client goes on working.
    const said = await client.callTool({ name: 'echo_say', arguments: { message: 'after' } });
    expect(said.isError).toBeFalsy();
    await client.close();
  }, 30_000);

  it("only the sender's own call with that exact id, and none when the id is ambiguous", async () => {
    const h = await startEchoHere({ tokens, fastPath });
    const url = h.url;
    // The same principal on two clients, both using id 9: a cancellation cannot tell which is meant.
    const twins = [1, 2].map(() => rpc(url, callBody('echo_slow', { ms: 800 }, 9), headersFor('reader')));
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(2);
    expect((await rpc(url, cancelBody(9), headersFor('reader'))).status).toBe(202);
    for (const r of await Promise.all(twins)) expect(r.json.result.structuredContent.aborted).toBe(false);

    // One call with id 9: another principal's cancellation, and the sender's for "9" (a string), leave it be.
    const mine = rpc(url, callBody('echo_slow', { ms: 20_000 }, 9), headersFor('reader'));
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(1);
    expect((await rpc(url, cancelBody(9), headersFor('other'))).status).toBe(202);
    expect((await rpc(url, cancelBody('9'), headersFor('reader'))).status).toBe(202);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.rt.pipeline.inFlight).toBe(1);
    // The sender's own, for its id as sent: stopped, and its (abandoned) request answered ERR_CANCELLED.
    expect((await rpc(url, cancelBody(9), headersFor('reader'))).status).toBe(202);
    const answer = await mine;
    expect(answer.json).toMatchObject({
      id: 9,
      error: { message: 'the client cancelled the call (notifications/cancelled)', data: { code: 'ERR_CANCELLED' } },
    });
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(0);
    expect(slowRecords(h).filter((c) => c.ms === 20_000)).toEqual([{ ms: 20_000, aborted: true }]);
  }, 30_000);
});
