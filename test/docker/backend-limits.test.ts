/** Engine answers are capped while they are read, and engine calls in flight are capped per server. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, callError, makeServices, tool } from './harness.js';

const MiB = 1024 * 1024;
const HUGE = 55 * MiB;
const CHUNK = Buffer.from(`${JSON.stringify({ Id: 'f'.repeat(64), Names: ['/x'], Labels: { a: 'b'.repeat(900) } })},`);

// A fake engine on loopback: /containers/json streams a 55 MiB list (chunked, no Content-Length),
// /hang never answers. It counts bytes written and connections held.
let engine: Server;
let port = 0;
let written = 0;
let hanging = 0;
let peak = 0;
const sockets = new Set<Socket>();
const sample = () => {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
};

beforeAll(async () => {
  engine = createServer((req, res) => {
    if (req.url?.startsWith('/containers/json')) {
      written = 0;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const pump = () => {
        while (!closed && written < HUGE) {
          sample();
          written += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once('drain', pump);
        }
        if (!closed) res.end('{}]');
      };
      pump();
      return;
    }
    if (req.method === 'POST' && /^\/containers\/[^/]+\/exec/.test(req.url ?? '')) {
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"Id":"e1"}');
      return;
    }
    if (req.url?.startsWith('/exec/e1/start') || (req.url?.startsWith('/containers/') && req.url.includes('/json'))) {
      hanging++;
      req.on('close', () => hanging--);
      return; // never answers
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"page not found"}');
  });
  engine.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => engine.listen(0, '127.0.0.1', r));
  port = (engine.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => engine.close(() => r()));
});

describe('engine answer cap', () => {
  it('refuses a 55 MiB container list early; the rest is never read and heap growth stays bounded', async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${port}`, maxResponseBytes: 2 * MiB });
    const before = process.memoryUsage();
    peak = before.heapUsed + before.arrayBuffers;
    const err = await callError(tool('containers_list'), {}, services);
    sample();
    expect(err.code).toBe('ERR_OUTPUT_TOO_LARGE');
    expect(err.message).toMatch(/larger than the 2,097,152-byte cap; reading stopped there/);
    expect(err.message).toMatch(/backend\.maxResponseBytes/);
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBeLessThan(HUGE / 4);
    // generous: reading the list whole would cost well over 55 MiB
    expect(peak - (before.heapUsed + before.arrayBuffers)).toBeLessThan(24 * MiB);
  }, 60_000);

  it('the real engine answers within the default cap and is refused under a tiny one', async () => {
    expect((await call(tool('containers_list'), { limit: 1 }, makeServices())).total).toBeGreaterThanOrEqual(0);
    const err = await callError(tool('containers_list'), {}, makeServices({ maxResponseBytes: 1 }));
    expect(err.code).toBe('ERR_OUTPUT_TOO_LARGE');
  });
});

describe('engine call concurrency', () => {
  it('holds at most maxConcurrentCalls; a queued call ends at its deadline saying it waited for a slot', async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${port}`, maxConcurrentCalls: 2, timeoutMs: 1000 });
    // two exec streams hold both slots (their own 10 s timeout) ...
    const ac = new AbortController();
    const streams = [0, 1].map((i) =>
      services.docker
        .exec(`c${i}`, ['true'], { timeoutMs: 10_000, maxBytesPerStream: 1024 }, ac.signal)
        .catch((err: Error) => err),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(hanging).toBe(2);
    // ... so further calls queue, and end at their own 1 s deadline without reaching the engine
    const queued = await Promise.all(
      [2, 3].map((i) => callError(tool('containers_diagnose'), { container: `c${i}` }, services)),
    );
    expect(hanging).toBe(2);
    for (const err of queued) {
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/waited \d+ ms for a free slot and reached its 1000 ms deadline/);
      expect(err.message).toMatch(/2 Docker Engine calls were in flight \(limit 2, backend\.maxConcurrentCalls\)/);
    }
    ac.abort();
    await Promise.all(streams);
    expect(services.docker.slots.active).toBe(0);
  }, 30_000);

  it("a queued call leaves the queue when the caller's signal aborts", async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${port}`, maxConcurrentCalls: 1, timeoutMs: 3000 });
    const first = callError(tool('containers_diagnose'), { container: 'a' }, services);
    const ac = new AbortController();
    const second = callError(tool('containers_diagnose'), { container: 'b' }, services, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 200));
    expect(services.docker.slots.waiting).toBe(1);
    ac.abort();
    expect((await second).code).toMatch(/^ERR_(CANCELLED|BACKEND_TIMEOUT)$/);
    expect(services.docker.slots.waiting).toBe(0);
    await first;
  }, 30_000);
});
