/**
 * For the fair-share tests: a server (any definition) over Streamable HTTP with one bearer token per
 * agent, each agent a real SDK client. The slow backend is the fault proxy (test/fixtures/fault-proxy.ts)
 * in its `delay` mode, in front of the real backend (TCP or a Unix socket), counting what it held.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type HttpServerHandle, type Semaphore, type SuiteRuntime, startHttp } from '@ravenhelm/kit';
import { expect } from 'vitest';
import type { FaultProxy } from '../fixtures/fault-proxy.js';
import { serveOverHttp } from '../fixtures/fault-server.js';
import { sdkHttpClient, staticTokens } from '../fixtures/kit-harness.js';

export interface Agents<S> {
  rt: SuiteRuntime;
  services: S;
  http: HttpServerHandle;
  /** One connected SDK client per agent name, each with its own token (principal subject `agent-<name>`). */
  clients: Record<string, Client>;
  close(): Promise<void>;
}

/**
 * Starts `definition` with `env` (the fault tests' server, `serveOverHttp`) and one more listener on the
 * same runtime that knows one token per agent, all granted `scopes`; one SDK client per agent.
 */
export async function serveAgents<S>(
  // biome-ignore lint/suspicious/noExplicitAny: any server definition
  definition: any,
  opts: {
    env: Record<string, string>;
    scopes: string[];
    agents: string[];
    fastPath?: boolean;
    overrides?: Record<string, unknown>;
  },
): Promise<Agents<S>> {
  const served = await serveOverHttp<S>(definition, opts.env, opts.scopes, opts.overrides);
  const tokens = Object.fromEntries(
    opts.agents.map((a) => [
      `token-${a}`,
      { subject: `agent-${a}`, clientId: `cli-${a}`, scopes: opts.scopes, roles: [] },
    ]),
  );
  const http = await startHttp(served.rt, {
    authenticator: staticTokens(tokens),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
    ...(opts.fastPath === false ? { toolCallFastPath: false } : {}),
  });
  const clients: Record<string, Client> = {};
  for (const a of opts.agents) clients[a] = await sdkHttpClient(http.url, `token-${a}`, `fair-${a}`);
  return {
    rt: served.rt,
    services: served.services,
    http,
    clients,
    async close() {
      await Promise.all(Object.values(clients).map((c) => c.close().catch(() => undefined)));
      await http.shutdown();
      await served.close();
    },
  };
}

interface FloodOutcome {
  /** How many of the flooding agent's calls had finished when the other agent's call finished. */
  floodDoneBeforeOther: number;
  floodCalls: number;
  /** The other agent's call, in ms from when it was sent. */
  otherMs: number;
  /** From when the other agent's call was sent until the flood's last call finished, in ms. */
  floodMs: number;
  errors: string[];
}

/**
 * Agent `flooder` sends `count` calls at once; once `queued()` says they wait for backend slots, agent
 * `other` sends one call. Returns how many flood calls had finished when the other call did.
 */
async function floodThenOne(
  flooder: Client,
  other: Client,
  count: number,
  call: { name: string; arguments: Record<string, unknown> },
  queued: () => boolean,
): Promise<FloodOutcome> {
  let done = 0;
  const errors: string[] = [];
  const note = (r: Awaited<ReturnType<Client['callTool']>>) => {
    if (r.isError) errors.push((r.content as { text: string }[])[0]?.text ?? 'error');
  };
  const flood = Array.from({ length: count }, () =>
    flooder.callTool(call).then((r) => {
      done++;
      note(r);
    }),
  );
  const started = Date.now();
  while (!queued()) {
    if (Date.now() - started > 10_000) throw new Error('the flood never queued for backend slots');
    await new Promise((r) => setTimeout(r, 5));
  }
  const sent = Date.now();
  const mine = await other.callTool(call);
  const otherMs = Date.now() - sent;
  const floodDoneBeforeOther = done;
  note(mine);
  await Promise.all(flood);
  return { floodDoneBeforeOther, floodCalls: done, otherMs, floodMs: Date.now() - sent, errors };
}

/**
 * Makes `slow` hold each backend call (those its `only` matches) for `delayMs`; agent `a` floods `flood` calls, agent `b` sends one
 * once the flood waits for `slots`; then checks the share was fair: every call answered; B took the
 * first slot the flood's first wave freed, so it finished with the flood's second wave at the latest
 * (first in, first out, it would have finished after all of the flood) and well before the flood
 * drained; every delayed call reached the backend; no slot left held or waiting.
 */
export async function expectFairShare(
  agents: Agents<unknown>,
  slow: FaultProxy,
  o: { delayMs: number; flood: number; call: { name: string; arguments: Record<string, unknown> }; slots: Semaphore },
  label: string,
): Promise<void> {
  const { a, b } = agents.clients;
  if (!a || !b) throw new Error('expectFairShare needs agents a and b');
  slow.mode = { kind: 'delay', ms: o.delayMs };
  const before = slow.delayed;
  let out: FloodOutcome;
  try {
    out = await floodThenOne(
      a,
      b,
      o.flood,
      o.call,
      () => o.slots.active === o.slots.limit && o.slots.waiting >= o.flood - o.slots.limit,
    );
  } finally {
    slow.mode = { kind: 'pass' };
  }
  console.log(
    `${label}: ${o.slots.limit} slots, B done after ${out.otherMs} ms (A's flood after ${out.floodMs} ms) with ${out.floodDoneBeforeOther}/${o.flood} of A's calls done`,
  );
  expect(out.errors).toEqual([]);
  expect(out.floodCalls).toBe(o.flood);
  expect(slow.delayed - before).toBe(o.flood + 1);
  expect(out.floodDoneBeforeOther).toBeLessThanOrEqual(2 * o.slots.limit);
  expect(out.otherMs).toBeLessThan(out.floodMs / 2);
  expect({ active: o.slots.active, waiting: o.slots.waiting }).toEqual({ active: 0, waiting: 0 });
}
