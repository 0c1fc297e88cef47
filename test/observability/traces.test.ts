import { dataBudgetOf, jsonBytes } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimSpan, TempoSimulator } from '../simulators/tempo.js';
import { call, callError, makeServices, type Result } from './harness.js';

const tempo = new TempoSimulator();
let services: ReturnType<typeof makeServices>;
const BIG = '4bf92f3577b34da6a3ce929d0e0e4736';
const SMALL = '00000000000000000000000000c0ffee';
const t0 = Date.now() - 60_000;
const hex16 = (n: number) => n.toString(16).padStart(16, '0');

/** 1 root, 9 service calls under it, 110 db spans under those; two failures deep in payments. */
function bigTrace(): SimSpan[] {
  const spans: SimSpan[] = [
    { spanId: hex16(1), service: 'frontend', name: 'GET /checkout', startMs: t0, durationMs: 1200, status: 'ok' },
  ];
  for (let c = 0; c < 9; c++) {
    const service = c === 4 ? 'payments' : `svc-${c}`;
    spans.push({
      spanId: hex16(100 + c),
      parentSpanId: hex16(1),
      service,
      name: `call ${c}`,
      startMs: t0 + 10 + c * 100,
      durationMs: 90,
      attributes: { 'http.method': 'POST', 'http.status_code': c === 4 ? 502 : 200, 'internal.noise': 'x' },
    });
  }
  for (let d = 0; d < 110; d++) {
    const parent = d % 9;
    const failed = parent === 4 && (d === 13 || d === 22);
    spans.push({
      spanId: hex16(1000 + d),
      parentSpanId: hex16(100 + parent),
      service: parent === 4 ? 'payments' : `svc-${parent}`,
      name: `db query ${d}`,
      startMs: t0 + 12 + parent * 100 + d,
      durationMs: 5,
      status: failed ? 'error' : 'unset',
      ...(failed ? { statusMessage: 'deadlock detected' } : {}),
      attributes: { 'db.system': 'postgresql' },
    });
  }
  return spans;
}

beforeAll(async () => {
  await tempo.start();
  services = makeServices({ tempo: { url: tempo.url } });
  tempo.addTrace(BIG, bigTrace());
  tempo.addTrace(SMALL, [
    { spanId: hex16(7), service: 'search', name: 'GET /q', startMs: t0 + 5000, durationMs: 40, status: 'ok' },
  ]);
});

afterAll(async () => {
  await tempo.close();
});

describe('traces_get', () => {
  it('summarizes a trace: error spans first, then the tree, bounded', async () => {
    const res = await call('traces_get', { traceId: BIG.toUpperCase() }, services);
    expect(res).toMatchObject({
      traceId: BIG,
      rootService: 'frontend',
      rootOperation: 'GET /checkout',
      durationMs: 1200,
      errorCount: 2,
      total: 120,
      returned: 50,
      truncated: true,
    });
    expect(res.services[0]).toEqual({ name: 'payments', spans: 13, errors: 2 });
    expect(res.spans.slice(0, 2)).toMatchObject([
      { operation: 'db query 13', service: 'payments', status: 'error', statusMessage: 'deadlock detected', depth: 2 },
      { operation: 'db query 22', service: 'payments', status: 'error', depth: 2, parentSpanId: hex16(104) },
    ]);
    // then the tree from the root: root, its first child, that child's children...
    expect(res.spans[2]).toMatchObject({ operation: 'GET /checkout', depth: 0, parentSpanId: null, startOffsetMs: 0 });
    expect(res.spans[3]).toMatchObject({
      operation: 'call 0',
      depth: 1,
      durationMs: 90,
      attributes: { 'http.method': 'POST', 'http.status_code': '200' },
    });
    expect(res.spans[3].attributes['internal.noise']).toBeUndefined();
    expect(res.spans[4]).toMatchObject({
      operation: 'db query 0',
      depth: 2,
      attributes: { 'db.system': 'postgresql' },
    });
  });

  it('bounds the tree depth but still lists error spans below it', async () => {
    const res = await call('traces_get', { traceId: BIG, maxDepth: 1, maxSpans: 500 }, services);
    expect(res).toMatchObject({ total: 120, maxDepthInTrace: 2, belowMaxDepth: 108, returned: 12, truncated: true });
    expect(res.spans.slice(0, 2).map((s: { depth: number; status: string }) => [s.depth, s.status])).toEqual([
      [2, 'error'],
      [2, 'error'],
    ]);
    const tree = res.spans.slice(2);
    expect(tree).toHaveLength(10);
    for (const s of tree) expect(s.depth).toBeLessThanOrEqual(1);
    const rootsOnly = await call('traces_get', { traceId: BIG, maxDepth: 0, maxSpans: 500 }, services);
    expect(rootsOnly).toMatchObject({ returned: 3, belowMaxDepth: 117 });
    const everything = await call('traces_get', { traceId: BIG, maxSpans: 500 }, services);
    expect(everything).toMatchObject({ returned: 120, belowMaxDepth: 0, truncated: false });
  });

  it('reads a Tempo without the v2 API through v1, in both field names', async () => {
    const expected = await call('traces_get', { traceId: BIG }, services);
    tempo.v2Available = false;
    try {
      for (const field of ['resourceSpans', 'batches'] as const) {
        tempo.v1Field = field;
        expect(await call('traces_get', { traceId: BIG }, services)).toEqual(expected);
        expect(tempo.control.requests.at(-1)?.url.pathname).toBe(`/api/traces/${BIG}`);
      }
      const missing = await callError('traces_get', { traceId: 'deadbeefdeadbeefdeadbeefdeadbeef' }, services);
      expect(missing.code).toBe('ERR_NOT_FOUND');
    } finally {
      tempo.v2Available = true;
      tempo.v1Field = 'resourceSpans';
    }
  });

  it('returns every span of a small trace and accepts ids without leading zeros', async () => {
    const res = await call('traces_get', { traceId: 'c0ffee' }, services);
    expect(res).toMatchObject({ total: 1, returned: 1, truncated: false, traceId: SMALL, rootService: 'search' });
  });

  it('names the true root (no parent id) over an earlier orphan and a clock-skewed child; lists orphans as such', async () => {
    const id = '0af7651916cd43dd8448eb211c80319c';
    tempo.addTrace(id, [
      // the worker's parent never arrived, and the worker's clock runs 80 ms behind the gateway's
      {
        spanId: hex16(50),
        parentSpanId: hex16(49),
        service: 'worker',
        name: 'process job',
        startMs: t0 - 80,
        durationMs: 10,
      },
      {
        spanId: hex16(52),
        parentSpanId: hex16(51),
        service: 'orders',
        name: 'SELECT',
        startMs: t0 - 5,
        durationMs: 3,
        kind: 'client',
      },
      { spanId: hex16(51), service: 'gateway', name: 'GET /orders', startMs: t0, durationMs: 30, kind: 'server' },
    ]);
    const res = await call('traces_get', { traceId: id }, services);
    expect(res).toMatchObject({ rootService: 'gateway', rootOperation: 'GET /orders', orphans: 1, total: 3 });
    expect(
      res.spans.map((x: Record<string, unknown>) => [x.operation, x.depth, x.orphan ?? false, x.kind ?? null]),
    ).toEqual([
      ['GET /orders', 0, false, 'server'],
      ['SELECT', 1, false, 'client'],
      ['process job', 0, true, null],
    ]);
    // offsets count from the earliest span, so none is negative
    expect(res.spans[2].startOffsetMs).toBe(0);
    expect(res.spans[0].startOffsetMs).toBe(80);
  });

  it("says the trace is partial when it is over Tempo's size limit, and what Tempo said", async () => {
    tempo.maxTraceBytes = 4000;
    try {
      const res = await call('traces_get', { traceId: BIG, maxSpans: 500 }, services);
      expect(res.partial).toBe('Trace exceeds maximum size of 4000 bytes, a partial trace is returned');
      expect(res.total).toBeGreaterThan(0);
      expect(res.total).toBeLessThan(120);
      expect(tempo.control.requests.at(-1)?.url.pathname).toBe(`/api/v2/traces/${BIG}`);
      // a Tempo without v2 refuses with 422: the message blames the size limit, not the caller
      tempo.v2Available = false;
      const old = await callError('traces_get', { traceId: BIG }, services);
      expect(old.code).toBe('ERR_OUTPUT_TOO_LARGE');
      expect(old.message).toMatch(/over Tempo's per-trace size limit.*trace exceeds max size.*max_bytes_per_trace/);
    } finally {
      tempo.maxTraceBytes = Number.POSITIVE_INFINITY;
      tempo.v2Available = true;
    }
    const whole = await call('traces_get', { traceId: BIG }, services);
    expect(whole.partial).toBeUndefined();
  });

  it('says ERR_NOT_FOUND for an unknown id and refuses a malformed one', async () => {
    const missing = await callError('traces_get', { traceId: 'deadbeefdeadbeefdeadbeefdeadbeef' }, services);
    expect(missing.code).toBe('ERR_NOT_FOUND');
    expect(missing.message).toMatch(/Tempo has no trace deadbeef/);
    const bad = await callError('traces_get', { traceId: 'not-a-trace' }, services);
    expect(bad.code).toBe('ERR_INVALID_INPUT');
  });
});

describe('traces_search', () => {
  it('finds traces with TraceQL', async () => {
    const res = await call(
      'traces_search',
      { query: '{ resource.service.name = "payments" && status = error }', start: 'now-1h' },
      services,
    );
    expect(res).toMatchObject({ returned: 1, truncated: false, inspectedTraces: tempo.traces.size });
    expect(res.traces[0]).toMatchObject({ traceId: BIG, rootService: 'frontend', durationMs: 1200, matchedSpans: 2 });
    const all = await call('traces_search', { query: '{ duration > 30ms }', limit: 1 }, services);
    expect(all).toMatchObject({ returned: 1, truncated: true });
    expect(all.traces[0].traceId).toBe(SMALL);
  });

  it('reads sub-millisecond traces as 0 ms (Tempo omits a zero durationMs) and a root not yet received as null', async () => {
    const fast = '00000000000000000000000000fa57fa';
    const headless = '000000000000000000000000000d0d0d';
    tempo.addTrace(fast, [
      { spanId: hex16(60), service: 'cache', name: 'GET key', startMs: t0 + 9000, durationMs: 0.4, kind: 'server' },
    ]);
    tempo.addTrace(headless, [
      {
        spanId: hex16(62),
        parentSpanId: hex16(61),
        service: 'cache',
        name: 'SET key',
        startMs: t0 + 8000,
        durationMs: 2.7,
      },
    ]);
    const res = await call('traces_search', { query: '{ resource.service.name = "cache" }' }, services);
    const byId = Object.fromEntries(res.traces.map((t: { traceId: string }) => [t.traceId, t]));
    expect(byId[fast]).toMatchObject({ rootService: 'cache', rootOperation: 'GET key', durationMs: 0 });
    expect(byId[headless]).toMatchObject({ rootService: null, rootOperation: null, durationMs: 2 });
    const noneFound = await call('traces_search', { query: '{ resource.service.name = "nobody" }' }, services);
    expect(noneFound).toMatchObject({ traces: [], returned: 0, truncated: false });
  });

  it("reports Tempo's TraceQL parse error and refuses a query without braces", async () => {
    const err = await callError('traces_search', { query: '{ status = }' }, services);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    expect(err.message).toMatch(
      /^Tempo refused the TraceQL query: invalid TraceQL query: parse error at line 1, col 12/,
    );
    expect(err.details).toMatchObject({ backend: 'Tempo', status: 400, line: 1, column: 12 });
    const bare = await callError('traces_search', { query: 'status = error' }, services);
    expect(bare.code).toBe('ERR_QUERY_INVALID');
    expect(bare.message).toMatch(/start with a spanset filter in braces/);
  });

  it('times out on a slow Tempo within the configured timeout', async () => {
    const slow = makeServices({ tempo: { url: tempo.url, timeoutMs: 200 } });
    tempo.control.delayMs = 3000;
    try {
      const t0 = Date.now();
      const err = await callError('traces_search', { query: '{ status = error }' }, slow);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/^Tempo did not answer within 200 ms/);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      tempo.control.delayMs = 0;
    }
  });

  it('reports an unavailable Tempo', async () => {
    tempo.control.fail = { status: 503, text: 'Service Unavailable' };
    try {
      const err = await callError('traces_get', { traceId: BIG }, services);
      expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toMatch(/^Tempo is not able to answer/);
    } finally {
      tempo.control.fail = undefined;
    }
  });
});

describe('traces within the output budget', () => {
  const big = new TempoSimulator();
  let bigServices: ReturnType<typeof makeServices>;
  /** What a handler gets when the whole result must fit the default 64 KiB (RAVENHELM_MAX_OUTPUT_BYTES). */
  const share = dataBudgetOf(64 * 1024);
  const SQL =
    'SELECT id, name, price FROM products WHERE category_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 50 OFFSET $2 /* app=checkout route=/api/products */';
  const HUGE = 'ffffffffffffffffffffffffffffffff';

  beforeAll(async () => {
    await big.start();
    bigServices = makeServices({ tempo: { url: big.url } });
    // 100 traces whose root span is a long SQL statement, one second apart.
    for (let i = 0; i < 100; i++) {
      big.addTrace((i + 1).toString(16).padStart(32, 'a'), [
        {
          spanId: hex16(i + 1),
          service: 'checkout',
          name: SQL,
          startMs: t0 + i * 100,
          durationMs: 12,
          status: 'error',
        },
      ]);
    }
    big.addTrace(HUGE, [
      { spanId: hex16(1), service: 's'.repeat(5000), name: 'x'.repeat(100_000), startMs: t0, durationMs: 1 },
    ]);
  });

  afterAll(async () => {
    await big.close();
  });

  it('traces_search lists the newest traces that fit and counts the rest', async () => {
    const res = await call('traces_search', { query: '{ status = error }', limit: 100 }, bigServices, {
      maxOutputBytes: share,
    });
    expect(jsonBytes(res)).toBeLessThanOrEqual(share);
    const kept = res.returned as number;
    expect(kept).toBeGreaterThan(10);
    expect(kept).toBeLessThan(100);
    expect(res.truncated).toBe(true);
    expect(res.traces[0].traceId).toBe((100).toString(16).padStart(32, 'a'));
    expect(res.traces[0].rootOperation).toBe(SQL);
    const oldest = res.traces.at(-1).startTime;
    expect(res.cut).toEqual([
      `output budget: ${100 - kept} of 100 traces left out; for the older ones repeat with end="${oldest}" (it lists the traces of that second again), or lower limit or narrow the query`,
    ]);
  });

  it('traces_search asks Tempo for the most recent traces (Tempo keeps the first it finds otherwise)', async () => {
    const ids = (r: Result) => (r.traces as { traceId: string }[]).map((t) => t.traceId);
    const newest = [100, 99, 98, 97, 96].map((i) => i.toString(16).padStart(32, 'a'));
    const res = await call('traces_search', { query: '{ status = error }', limit: 5 }, bigServices);
    expect(ids(res)).toEqual(newest);
    expect(res.cut).toBeUndefined();
    // a query with hints of its own is sent as it is
    const own = await call(
      'traces_search',
      { query: '{ status = error } with (most_recent=true)', limit: 5 },
      bigServices,
    );
    expect(ids(own)).toEqual(newest);
    // a Tempo before 2.4 refuses hints: asked again without it, the answer says what it holds
    big.hintsAvailable = false;
    try {
      const old = await call('traces_search', { query: '{ status = error }', limit: 5 }, bigServices);
      expect(old.returned).toBe(5);
      expect(ids(old)).not.toEqual(newest);
      expect(old.cut).toEqual([
        'this Tempo refuses query hints (it is older than 2.4): these are the first 5 traces it found in the window, not necessarily the newest; narrow start and end to see them all',
      ]);
      // a query that is wrong is still reported as wrong, with Tempo's own message, in one call (the error's
      // column lies in the query, not in the hint)
      const searches = () => big.control.requests.filter((r) => r.url.pathname === '/api/search').length;
      let before = searches();
      const err = await callError('traces_search', { query: '{ status = }' }, bigServices);
      expect(err.code).toBe('ERR_QUERY_INVALID');
      expect(err.message).not.toContain('most_recent');
      expect(searches() - before).toBe(1);
      // a wrong query of two lines, the error on the first: one call too
      before = searches();
      await callError('traces_search', { query: '{ status = }\n&& { }' }, bigServices);
      expect(searches() - before).toBe(1);
      // the hint refused after a query with characters beyond ASCII (columns count characters): asked again
      before = searches();
      const wide = await call('traces_search', { query: '{ name = "€€€€" }', limit: 5 }, bigServices);
      expect(wide.returned).toBe(0);
      expect(searches() - before).toBe(2);
    } finally {
      big.hintsAvailable = true;
    }
    // Tempo with hints: a wrong query is one call
    const before = big.control.requests.length;
    await callError('traces_search', { query: '{ status = }' }, bigServices);
    expect(big.control.requests.slice(before).filter((r) => r.url.pathname === '/api/search')).toHaveLength(1);
    // Tempo 2.4 to 2.7 take the hint and ignore it: its version says so (read once per server)
    big.version = '2.7.2';
    const quiet = makeServices({ tempo: { url: big.url } });
    try {
      const ignored = await call('traces_search', { query: '{ status = error }', limit: 5 }, quiet);
      expect(ids(ignored)).not.toEqual(newest);
      expect(ignored.cut).toEqual([
        'Tempo 2.7.2 ignores the most_recent query hint (2.8 and later honour it): these are the first 5 traces it found in the window, not necessarily the newest; narrow start and end to see them all',
      ]);
      // fewer than limit found: every trace in the window is there, nothing to say
      const all = await call('traces_search', { query: '{ name =~ "x+" }', limit: 5 }, quiet);
      expect(all.returned).toBe(1);
      expect(all.cut?.join(' ') ?? '').not.toContain('most_recent');
    } finally {
      big.version = '2.8.2';
    }
  });

  it('traces_get cuts span, operation and service names and says so', async () => {
    const res = await call('traces_get', { traceId: HUGE }, bigServices, { maxOutputBytes: share });
    expect(jsonBytes(res)).toBeLessThanOrEqual(share);
    expect(res).toMatchObject({ total: 1, returned: 1, truncated: false });
    expect(res.spans[0].operation).toBe(`${'x'.repeat(200)}…`);
    expect(res.spans[0].service).toBe(`${'s'.repeat(200)}…`);
    expect(res.rootOperation).toBe(`${'x'.repeat(200)}…`);
    expect(res.rootService).toBe(`${'s'.repeat(200)}…`);
    expect(res.services).toEqual([{ name: `${'s'.repeat(200)}…`, spans: 1, errors: 0 }]);
    expect(res.cut).toEqual(['span and service names cut to 200 chars on 1 span(s), marked with …']);
    // and the search lists the same trace with its names cut
    const found = await call('traces_search', { query: '{ name =~ "x+" }', limit: 5 }, bigServices, {
      maxOutputBytes: share,
    });
    expect(found.traces.map((t: { traceId: string }) => t.traceId)).toEqual([HUGE]);
    expect(found.cut).toEqual(['root service and operation names cut to 200 chars on 1 trace(s), marked with …']);
  });
});

describe("traces_search past Tempo's search limits (max_duration, max_result_limit)", () => {
  it('names the argument to change, in one call, not the query', async () => {
    const searches = () => tempo.control.requests.filter((r) => r.url.pathname === '/api/search').length;
    // Tempo's default max_duration is 168h: a 14-day window is refused before any search
    let before = searches();
    const end = '2026-03-15T00:00:00Z';
    const wide = await callError('traces_search', { query: '{ status = error }', start: 'now-14d' }, services);
    expect(wide.code).toBe('ERR_INVALID_INPUT');
    expect(wide.message).toMatch(
      /^Tempo searches at most 168h0m0s per query \(its max_duration\) and this window is 14d: narrow start and end to 168h0m0s or less, e.g. start="[^"]+" for the newest part of it/,
    );
    expect(searches() - before).toBe(1); // not asked again without the most_recent hint
    const fixed = await callError(
      'traces_search',
      { query: '{ status = error }', start: '2026-02-13T00:00:00Z', end },
      services,
    );
    expect(fixed.message).toContain('this window is 30d');
    expect(fixed.message).toContain('start="2026-03-08T00:00:00.000Z"');
    // the start it names is accepted
    const ok = await call(
      'traces_search',
      { query: '{ status = error }', start: '2026-03-08T00:00:00Z', end },
      services,
    );
    expect(ok.returned).toBe(0);
    // a limit over the configured max_result_limit
    tempo.maxSearchLimit = 50;
    try {
      before = searches();
      const many = await callError('traces_search', { query: '{ status = error }', limit: 80 }, services);
      expect(many.code).toBe('ERR_INVALID_INPUT');
      expect(many.message).toBe(
        'Tempo returns at most 50 traces per search (its max_result_limit) and limit was 80: ask again with limit=50 or less',
      );
      expect(searches() - before).toBe(1);
    } finally {
      tempo.maxSearchLimit = 0;
    }
  });
});
