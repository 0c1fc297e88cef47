/**
 * Fair share of a server's backend slots between callers, end to end: the observability server over
 * Streamable HTTP (fast path and SDK server path), two agents with their own tokens as real SDK clients,
 * a real Prometheus made slow by a proxy that holds each query for DELAY_MS. Agent A fires 32 queries at
 * once (its whole per-caller allowance; LOW tools have no rate limit), so ~26 of them wait for
 * Prometheus's slots (its share of the server's 8); then agent B sends one query. B's query gets the next
 * free slot and finishes about one backend round trip after it was sent, not after A's queue drains
 * (first in, first out, B would finish after all 32 of A's).
 */
import { type ObservabilityServices, observabilityServer } from '@ravenhelm/mcp-observability';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { HTTP_CALL_PATHS } from '../fixtures/kit-harness.js';
import { type Proc, startPrometheus, waitFor } from '../observability/fixture.js';
import { type Agents, expectFairShare, serveAgents } from './fair-backend-harness.js';

const DELAY_MS = 300;
const FLOOD = 32;

let prometheus: Proc;
let slow: FaultProxy;

beforeAll(async () => {
  prometheus = await startPrometheus([]);
  const u = new URL(prometheus.url);
  slow = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
  slow.only = /^POST \/api\/v1\/query[? ]/;
}, 120_000);

afterAll(async () => {
  await slow?.close();
  await prometheus?.stop();
});

describe.each(HTTP_CALL_PATHS)('fair backend slots, observability over HTTP (%s)', (label, fastPath) => {
  let served: Agents<ObservabilityServices>;

  beforeAll(async () => {
    served = await serveAgents<ObservabilityServices>(observabilityServer, {
      env: { PROMETHEUS_URL: slow.url as string, PROMETHEUS_TIMEOUT_MS: '20000', RAVENHELM_CALL_TIMEOUT_MS: '30000' },
      scopes: ['mcp:observability:read'],
      agents: ['a', 'b'],
      fastPath,
    });
    await waitFor('Prometheus to answer through the slow proxy', async () => {
      const r = await served.clients.a?.callTool({ name: 'metrics_query', arguments: { query: 'vector(1)' } });
      return r !== undefined && !r.isError;
    });
  }, 120_000);

  afterAll(async () => {
    slow.mode = { kind: 'pass' };
    await served?.close();
  });

  it("one agent's flood does not make another agent's single query wait behind it", async () => {
    const prom = served.services.prometheus.http;
    // Prometheus's share of the server's backend slots (the limiter behind it is fair too)
    const slots = prom.share ?? prom.limiter;
    await expectFairShare(
      served,
      slow,
      { delayMs: DELAY_MS, flood: FLOOD, call: { name: 'metrics_query', arguments: { query: 'vector(1)' } }, slots },
      `fair observability (${label})`,
    );
  }, 60_000);
});
