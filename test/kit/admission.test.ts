/**
 * One runaway agent cannot take the server: tool calls running at once are bounded per caller and per
 * process (limits.maxCallsInFlightPerCaller / maxCallsInFlight). Through the real SDK client over
 * Streamable HTTP, on the fast path and on the SDK server path: a caller over its bound gets an isError
 * result it can act on at once (nothing runs, nothing queues), other callers are served meanwhile, the
 * process bound refuses whoever comes next, refusals are counted and audited as denied, and slots come
 * back when calls end (also when they fail or their caller leaves).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { describe, expect, it } from 'vitest';
import { callBody, echoPerTest, HTTP_CALL_PATHS, sdkHttpClient } from '../fixtures/kit-harness.js';

const tokens = {
  noisy: { subject: 'agent-noisy', clientId: 'cli', scopes: ['mcp:echo:write'], roles: [] },
  polite: { subject: 'agent-polite', clientId: 'cli', scopes: ['mcp:echo:write'], roles: [] },
  third: { subject: 'agent-third', clientId: 'cli', scopes: ['mcp:echo:write'], roles: [] },
};

type CallResult = Awaited<ReturnType<Client['callTool']>>;
const textOf = (r: CallResult) => (r.content as { text: string }[])[0]?.text ?? '';

const client = (url: string, token: string) => sdkHttpClient(url, token, 'admission-test');
const startEchoHere = echoPerTest();

describe.each(HTTP_CALL_PATHS)('admission over HTTP (%s)', (_label, fastPath) => {
  it('bounds one caller, serves the others meanwhile, then bounds the process', async () => {
    const h = await startEchoHere({
      tokens,
      fastPath,
      env: { RAVENHELM_MAX_CALLS_IN_FLIGHT: '5', RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '3' },
    });
    const [noisy, polite, third] = await Promise.all([
      client(h.url, 'noisy'),
      client(h.url, 'polite'),
      client(h.url, 'third'),
    ]);
    const settledOrder: string[] = [];
    const slow = (c: Client, who: string, ms: number) =>
      c.callTool({ name: 'echo_slow', arguments: { ms } }).then((r) => {
        settledOrder.push(r.isError ? `${who}:refused` : `${who}:ran`);
        return r;
      });

    // The runaway agent fires 10 at once: 3 run, 7 are refused at once (before any of the 3 ends).
    const flood = Array.from({ length: 10 }, () => slow(noisy, 'noisy', 1500));
    await expect.poll(() => settledOrder.filter((s) => s === 'noisy:refused').length, { timeout: 5000 }).toBe(7);
    expect(settledOrder).not.toContain('noisy:ran');
    expect(h.rt.pipeline.inFlight).toBe(3);

    // Meanwhile another agent is served, and may run calls of its own up to the process bound (3 + 2 = 5).
    const said = await polite.callTool({ name: 'echo_say', arguments: { message: 'still here' } });
    expect(said.isError).toBeFalsy();
    const politeSlow = [slow(polite, 'polite', 1200), slow(polite, 'polite', 1200)];
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(5);

    // The process is full: whoever calls next is refused, with what to do.
    const busy = await third.callTool({ name: 'echo_say', arguments: { message: 'x' } });
    expect(busy.isError).toBe(true);
    expect(textOf(busy)).toMatch(/^ERR_SERVER_BUSY: the server is running 5 tool calls, its limit; try again/);

    const results = await Promise.all([...flood, ...politeSlow]);
    const refused = results.filter((r) => r.isError);
    expect(refused).toHaveLength(7);
    for (const r of refused) {
      expect(textOf(r)).toMatch(
        /^ERR_TOO_MANY_CALLS: 3 of your tool calls are still running, the most one caller may run at once here; wait for one to finish, then call again/,
      );
    }
    // Only the admitted calls ran: 3 of the noisy agent's and 2 of the polite one's.
    expect(h.services.calls.filter((c) => c.tool === 'echo_slow')).toHaveLength(5);
    expect(h.rt.pipeline.inFlight).toBe(0);

    // Slots came back: every agent calls again.
    for (const c of [noisy, polite, third]) {
      const again = await c.callTool({ name: 'echo_say', arguments: { message: 'again' } });
      expect(again.isError, textOf(again)).toBeFalsy();
    }

    // Refusals are counted by reason and audited as denied (the first per agent, tool and reason at once).
    const metrics = await (await fetch(`${h.base}/metrics`)).text();
    expect(metrics).toMatch(/ravenhelm_rejections_total\{server="echo",reason="ERR_TOO_MANY_CALLS"\} 7\n/);
    expect(metrics).toMatch(/ravenhelm_rejections_total\{server="echo",reason="ERR_SERVER_BUSY"\} 1\n/);
    const denied = h.audit.records.filter((r) => r.outcome === 'denied');
    expect(denied.map((r) => [r.principal.subject, r.tool, r.errorCode])).toEqual(
      expect.arrayContaining([
        ['agent-noisy', 'echo_slow', 'ERR_TOO_MANY_CALLS'],
        ['agent-third', 'echo_say', 'ERR_SERVER_BUSY'],
      ]),
    );
    await Promise.all([noisy.close(), polite.close(), third.close()]);
  }, 30_000);

  it('gives the slot back when a call fails or its caller leaves', async () => {
    const h = await startEchoHere({ tokens, fastPath, env: { RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '1' } });
    const noisy = await client(h.url, 'noisy');
    const failed = await noisy.callTool({ name: 'echo_fail', arguments: {} });
    expect(failed.isError).toBe(true);
    expect(textOf(failed)).not.toMatch(/ERR_TOO_MANY_CALLS/);

    // A caller that hangs up mid-call (closes its connection: how a stateless HTTP client cancels) has
    // its call cancelled and its slot freed long before the call would have ended.
    const ac = new AbortController();
    const left = fetch(h.url, {
      method: 'POST',
      signal: ac.signal,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
        authorization: 'Bearer noisy',
      },
      body: JSON.stringify(callBody('echo_slow', { ms: 20_000 }, 77)),
    }).catch((err: Error) => err);
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(1);
    ac.abort();
    expect(await left).toBeInstanceOf(Error);
    await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 5000 }).toBe(0);
    expect(h.services.calls.find((c) => c.tool === 'echo_slow')?.args).toMatchObject({ ms: 20_000, aborted: true });

    const after = await noisy.callTool({ name: 'echo_say', arguments: { message: 'ok' } });
    expect(after.isError, textOf(after)).toBeFalsy();
    await noisy.close();
  }, 30_000);
});
