import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendHttp, DEFAULT_MAX_RESPONSE_BYTES, defaultShare } from './backend-http.js';
import { ToolError } from './errors.js';
import { Semaphore } from './semaphore.js';

const MiB = 1024 * 1024;
const HUGE = 55 * MiB;
const CHUNK = Buffer.alloc(64 * 1024, 0x20); // one reused chunk: the server itself stays small

interface Served {
  written: number;
  closed: boolean;
}
const served: Served[] = [];
let inFlight = 0;
let maxInFlight = 0;
/** Heap + array buffers, sampled on every chunk the server writes (the client reads in between). */
let peak = 0;
const sample = () => {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
};

/** Writes `total` bytes of a JSON string respecting backpressure, so the server never holds more than a chunk. */
function stream(res: ServerResponse, total: number, withLength: boolean): void {
  const record: Served = { written: 0, closed: false };
  served.push(record);
  res.writeHead(200, {
    'content-type': 'application/json',
    ...(withLength ? { 'content-length': String(total) } : {}),
  });
  res.on('close', () => {
    record.closed = true;
  });
  const body = () => {
    while (record.written < total && !record.closed) {
      sample();
      const n = Math.min(CHUNK.length, total - record.written);
      const chunk =
        record.written === 0 ? Buffer.concat([Buffer.from('"'), CHUNK.subarray(1, n)]) : CHUNK.subarray(0, n);
      record.written += n;
      const last = record.written >= total;
      if (last) {
        res.end(Buffer.concat([chunk.subarray(0, n - 1), Buffer.from('"')]));
        return;
      }
      if (!res.write(chunk)) {
        res.once('drain', body);
        return;
      }
    }
  };
  body();
}

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/huge') return stream(res, HUGE, true);
    if (url.pathname === '/huge-chunked') return stream(res, HUGE, false);
    if (url.pathname === '/sized') return stream(res, Number(url.searchParams.get('bytes')), true);
    if (url.pathname === '/stall-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      return; // never finished
    }
    if (url.pathname === '/cut-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":', () => setTimeout(() => res.socket?.resetAndDestroy(), 20));
      return;
    }
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: 'http://elsewhere.example/steal?token=x' }).end('moved');
      return;
    }
    if (url.pathname === '/cut-before') {
      req.socket.resetAndDestroy();
      return;
    }
    if (url.pathname === '/slow') {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(
        () => {
          inFlight--;
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        },
        Number(url.searchParams.get('ms') ?? 100),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function refusal(p: Promise<unknown>): Promise<ToolError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ToolError) return err;
    throw err;
  }
  throw new Error('the call succeeded but should have been refused');
}

describe('BackendHttp byte cap', () => {
  it('refuses a 55 MiB answer early and keeps heap growth bounded (Content-Length and chunked)', async () => {
    const http = new BackendHttp({ name: 'Prometheus', baseUrl: base, timeoutMs: 30_000 });
    for (const path of ['/huge', '/huge-chunked']) {
      const before = process.memoryUsage();
      peak = before.heapUsed + before.arrayBuffers;
      const err = await refusal(http.request('GET', path, { query: { query: 'up' } }));
      sample();
      expect(err.code).toBe('ERR_OUTPUT_TOO_LARGE');
      const record = served.at(-1) as Served;
      // the rest of the answer was never read: the server could not send it
      await new Promise((r) => setTimeout(r, 50));
      expect(record.closed).toBe(true);
      expect(record.written).toBeLessThan(HUGE / 2);
      // generous bound: buffering the answer whole costs > 55 MiB, the cap is 4 MiB
      expect(peak - (before.heapUsed + before.arrayBuffers)).toBeLessThan(24 * MiB);
    }
  }, 60_000);

  it('says what was capped, the size, how to narrow the query and which setting raises the cap', async () => {
    const http = new BackendHttp({
      name: 'Prometheus',
      baseUrl: `${base}/`,
      timeoutMs: 10_000,
      maxResponseBytesSetting: 'backend.prometheus.maxResponseBytes',
    });
    const declared = await refusal(http.request('GET', '/huge', { query: { token: 'q-secret' } }));
    expect(declared.message).toContain(`Prometheus answered GET ${base}/huge with an answer of 57,671,680 bytes`);
    expect(declared.message).toContain(`cap of ${DEFAULT_MAX_RESPONSE_BYTES.toLocaleString('en-US')} bytes`);
    expect(declared.message).toMatch(/Narrow the query/);
    expect(declared.message).toContain('backend.prometheus.maxResponseBytes');
    expect(declared.message).not.toContain('q-secret'); // the query string is never echoed
    expect(declared.details).toMatchObject({ backend: 'Prometheus', capBytes: DEFAULT_MAX_RESPONSE_BYTES });
    const chunked = await refusal(http.request('GET', '/huge-chunked', { narrowHint: 'Use a larger step' }));
    expect(chunked.message).toContain('more than 4,194,304 bytes');
    expect(chunked.message).toContain('Use a larger step');
  });

  it('the cap is per client and per call', async () => {
    const small = new BackendHttp({ name: 'Loki', baseUrl: base, timeoutMs: 10_000, maxResponseBytes: 1000 });
    expect(small.maxResponseBytes).toBe(1000);
    expect((await small.request('GET', '/sized', { query: { bytes: 1000 } })).body).toHaveLength(998);
    expect((await refusal(small.request('GET', '/sized', { query: { bytes: 1001 } }))).code).toBe(
      'ERR_OUTPUT_TOO_LARGE',
    );
    const raised = await small.request('GET', '/sized', { query: { bytes: 5 * MiB }, maxBytes: 6 * MiB });
    expect(raised.body).toHaveLength(5 * MiB - 2);
    const lowered = await refusal(small.request('GET', '/sized', { query: { bytes: 600 }, maxBytes: 500 }));
    expect(lowered.message).toContain('cap of 500 bytes');
  });
});

describe('BackendHttp faults after connecting', () => {
  it('a body that stalls after the headers ends at the deadline, saying how much arrived', async () => {
    const http = new BackendHttp({ name: 'Loki', baseUrl: base, timeoutMs: 300 });
    const started = Date.now();
    const e = await refusal(http.request('GET', '/stall-body'));
    expect(Date.now() - started).toBeLessThan(1300);
    expect(e.code).toBe('ERR_BACKEND_TIMEOUT');
    expect(e.message).toMatch(
      /^Loki did not finish answering within 300 ms .*: 11 bytes of its HTTP 200 answer had arrived/,
    );
    expect(http.limiter.active).toBe(0);
  });

  it('a stalled body still ends at the deadline when garbage collection runs during the call', async () => {
    // with fetch's redirect 'error', undici lost the abort of a collected fetch: the call hung for good
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const http = new BackendHttp({ name: 'Loki', baseUrl: base, timeoutMs: 300 });
    for (let round = 0; round < 3; round++) {
      const collecting = setInterval(gc, 20);
      try {
        const outcome = await Promise.race([
          http.request('GET', '/stall-body', { signal: new AbortController().signal }).then(
            () => 'answered',
            (e: ToolError) => e.code,
          ),
          new Promise((r) => setTimeout(() => r('still pending after 3 s'), 3000)),
        ]);
        expect(outcome).toBe('ERR_BACKEND_TIMEOUT');
      } finally {
        clearInterval(collecting);
      }
    }
    expect(http.limiter.active).toBe(0);
  });

  it('a redirect is refused, not followed, and says which URL to configure', async () => {
    const http = new BackendHttp({ name: 'Grafana', baseUrl: base, timeoutMs: 2000 });
    const e = await refusal(http.request('GET', '/redirect'));
    expect(e.code).toBe('ERR_BACKEND_ERROR');
    expect(e.message).toMatch(
      /^Grafana answered GET .*\/redirect with a redirect \(HTTP 302 to http:\/\/elsewhere\.example\/steal\); redirects are not followed/,
    );
    expect(e.message).not.toContain('token=x');
  });

  it('a connection cut mid-body is a broken connection, not an unreachable backend', async () => {
    const http = new BackendHttp({ name: 'Loki', baseUrl: base, timeoutMs: 5000 });
    const e = await refusal(http.request('GET', '/cut-body'));
    expect(e.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(e.message).toMatch(/^the connection to Loki broke while its answer was read \(\w+; .*\): 11 bytes/);
    const before = await refusal(http.request('GET', '/cut-before'));
    expect(before.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(before.message).toMatch(/^Loki at .* closed the connection before answering \(\w+\); retry/);
    expect(http.limiter.active).toBe(0);
  });
});

describe('BackendHttp concurrency cap', () => {
  it('runs at most maxConcurrent calls at once; the rest queue and all complete', async () => {
    maxInFlight = 0;
    const http = new BackendHttp({ name: 'Tempo', baseUrl: base, timeoutMs: 10_000, maxConcurrent: 2 });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => http.request('GET', '/slow', { query: { ms: 60 } })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(maxInFlight).toBe(2);
    expect(http.limiter.active).toBe(0);
  });

  it('a queued call respects its deadline and its abort signal, and says why it waited', async () => {
    const http = new BackendHttp({ name: 'Tempo', baseUrl: base, timeoutMs: 10_000, maxConcurrent: 1 });
    const running = http.request('GET', '/slow', { query: { ms: 400 } });
    const timedOut = await refusal(http.request('GET', '/slow', { timeoutMs: 100 }));
    expect(timedOut.code).toBe('ERR_BACKEND_TIMEOUT');
    expect(timedOut.message).toMatch(/waited \d+ ms for a free slot/);
    expect(timedOut.message).toContain('(limit 1)');
    const ac = new AbortController();
    const cancelled = refusal(http.request('GET', '/slow', { signal: ac.signal }));
    ac.abort();
    expect((await cancelled).message).toMatch(/cancelled while queued/);
    expect(http.limiter.waiting).toBe(0);
    await running;
    expect(http.limiter.active).toBe(0);
  });

  it('backends of one server can share one limiter', async () => {
    maxInFlight = 0;
    const limiter = new Semaphore(3);
    const a = new BackendHttp({ name: 'A', baseUrl: base, timeoutMs: 10_000, limiter });
    const b = new BackendHttp({ name: 'B', baseUrl: base, timeoutMs: 10_000, limiter, maxConcurrent: 50 });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).request('GET', '/slow', { query: { ms: 40 } })),
    );
    expect(maxInFlight).toBe(3);
  });
  it('maxShare sets the share of one client in a shared limiter', async () => {
    maxInFlight = 0;
    const limiter = new Semaphore(4);
    const narrow = new BackendHttp({ name: 'Narrow', baseUrl: base, timeoutMs: 10_000, limiter, maxShare: 1 });
    await Promise.all(Array.from({ length: 3 }, () => narrow.request('GET', '/slow', { query: { ms: 40 } })));
    expect(maxInFlight).toBe(1);
    expect(narrow.share?.limit).toBe(1);
    // a share as large as the limit is no share at all
    expect(
      new BackendHttp({ name: 'All', baseUrl: base, timeoutMs: 1000, limiter, maxShare: 9 }).share,
    ).toBeUndefined();
  });

  it('one backend holds at most its share of a shared limiter, so a stuck backend cannot starve the others', async () => {
    const limiter = new Semaphore(8);
    expect(defaultShare(8)).toBe(6);
    expect(defaultShare(3)).toBe(3);
    expect(defaultShare(1)).toBe(1);
    const stuck = new BackendHttp({ name: 'Stuck', baseUrl: base, timeoutMs: 10_000, limiter });
    const other = new BackendHttp({ name: 'Other', baseUrl: base, timeoutMs: 10_000, limiter });
    const held = Array.from({ length: 20 }, () => stuck.request('GET', '/slow', { query: { ms: 300 } }));
    await new Promise((r) => setTimeout(r, 50));
    expect(limiter.active).toBe(6);
    expect(stuck.share?.waiting).toBe(14);
    const started = Date.now();
    const res = await other.request('GET', '/slow', { query: { ms: 10 } });
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(500);
    // a call past its share's queue says whose calls filled it
    const refused = await refusal(stuck.request('GET', '/slow', { timeoutMs: 100 }));
    expect(refused.message).toMatch(/6 calls to Stuck were in flight \(its share of the server's backend limit: 6\)/);
    await Promise.all(held);
    expect({ active: limiter.active, share: stuck.share?.active }).toEqual({ active: 0, share: 0 });
  });
});

describe('Semaphore', () => {
  it('hands slots over in order and ignores a second release', async () => {
    const s = new Semaphore(1);
    const order: number[] = [];
    const r1 = await s.acquire();
    const p2 = s.acquire().then((r) => {
      order.push(2);
      return r;
    });
    const p3 = s.acquire().then((r) => {
      order.push(3);
      return r;
    });
    expect(s.waiting).toBe(2);
    r1();
    r1();
    (await p2)();
    (await p3)();
    expect(order).toEqual([2, 3]);
    expect(s.active).toBe(0);
  });

  it('refuses a bad limit and an already aborted signal', async () => {
    expect(() => new Semaphore(0)).toThrow(RangeError);
    await expect(new Semaphore(1).acquire(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });
});
