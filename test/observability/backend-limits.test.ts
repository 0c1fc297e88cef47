/**
 * Issue 7.16 for observability: a Prometheus answering a 55 MiB matrix is refused while it is read (the
 * default Prometheus cap is 16 MiB), with a message naming the setting; heap growth stays bounded; and
 * the five backends share one limit on calls in flight.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, callError, makeServices } from './harness.js';

const MiB = 1024 * 1024;
const HUGE = 55 * MiB;
// One series of a Prometheus matrix answer, repeated: `{"metric":{...},"values":[[t,"v"],...]}`.
const SERIES = Buffer.from(
  `${JSON.stringify({
    metric: { __name__: 'demo_requests_total', route: '/r'.repeat(40) },
    values: Array.from({ length: 200 }, (_, i) => [1_700_000_000 + i, String(i)]),
  })},`,
);

let prometheus: Server;
let url = '';
let written = 0;
let inFlight = 0;
let peakInFlight = 0;
const sockets = new Set<Socket>();

beforeAll(async () => {
  prometheus = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/query_range')) {
      written = 0;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":"success","data":{"resultType":"matrix","result":[');
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const pump = () => {
        while (!closed && written < HUGE) {
          written += SERIES.length;
          if (!res.write(SERIES)) return void res.once('drain', pump);
        }
        if (!closed) res.end('{"metric":{},"values":[]}]}}');
      };
      pump();
      return;
    }
    if (req.url?.startsWith('/api/v1/query')) {
      // Slow instant queries, to count how many arrive at once.
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"success","data":{"resultType":"vector","result":[]}}');
      }, 300);
      return;
    }
    res.writeHead(404).end();
  });
  prometheus.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => prometheus.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(prometheus.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => prometheus.close(r));
});

describe('bounded Prometheus reads', () => {
  it('refuses a 55 MiB matrix while reading it, names the setting, and keeps the heap bounded', async () => {
    const services = makeServices({ prometheus: { url, timeoutMs: 60_000 } });
    global.gc?.();
    const before = process.memoryUsage();
    let peak = 0;
    const timer = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
    }, 5);
    try {
      const e = await callError(
        'metrics_query_range',
        { query: 'demo_requests_total', start: 'now-1h', step: '15s' },
        services,
      );
      expect(e.code).toBe('ERR_OUTPUT_TOO_LARGE');
      expect(e.message).toMatch(/Prometheus/);
      expect(e.message).toMatch(/PROMETHEUS_MAX_RESPONSE_BYTES/);
    } finally {
      clearInterval(timer);
    }
    // The engine stopped being read soon after the 16 MiB cap: far less than the 55 MiB it would send.
    expect(written).toBeLessThan(40 * MiB);
    expect(peak).toBeLessThan(64 * MiB);
  }, 60_000);

  it('shares one limit on calls in flight across the backends', async () => {
    const services = makeServices({ prometheus: { url }, maxConcurrentCalls: 2 });
    peakInFlight = 0;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => call('metrics_query', { query: 'up' }, services)),
    );
    expect(results).toHaveLength(6);
    expect(peakInFlight).toBe(2);
  }, 30_000);
});
