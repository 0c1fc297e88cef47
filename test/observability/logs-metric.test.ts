/**
 * logs_query_metric through the real backend client against the Loki simulator: seeded lines with counts
 * known per stream and per 5-minute window, so every number asserted below follows from the seed.
 */
import { jsonBytes } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LokiSimulator } from '../simulators/loki.js';
import { listen } from './fixture.js';
import { call, callError, makeServices } from './harness.js';

const loki = new LokiSimulator();
let services: ReturnType<typeof makeServices>;

const STEP = 300;
const WINDOWS = 12;
/** Evaluation times t_0..t_12, aligned to the step and in the past; window k is (t_k - 5m, t_k]. */
const END = Math.floor(Date.now() / 1000 / STEP) * STEP - STEP;
const START = END - WINDOWS * STEP;
const t = (k: number) => START + k * STEP;
const range = { start: String(START), end: String(END), step: '5m' };

interface SeedLine {
  labels: Record<string, string>;
  at: number;
  line: string;
}
const seed: SeedLine[] = [];
const pod = (name: string, app: string, env = 'prod') => ({ env, app, pod: name });
const API1 = pod('api-1', 'api');
const API2 = pod('api-2', 'api');
const WEB1 = pod('web-1', 'web');
const BATCH = pod('batch-1', 'batch', 'dev');
/** api-1 logs 2k errors in window k; api-2 3 per window, one exactly at t_k; web-1 5 errors in window 6 only. */
const api1Errors = (k: number) => 2 * k;
const API2_ERRORS = 3;
const WEB_WINDOW = 6;
const WEB_ERRORS = 5;
for (let k = 1; k <= WINDOWS; k++) {
  for (let i = 0; i < api1Errors(k); i++) {
    seed.push({ labels: API1, at: t(k - 1) + 10 + i, line: `level=error msg="upstream timeout" k=${k} i=${i}` });
  }
  // t_k itself is inside window k (the upper bound is inclusive), t_k - 299 s too; t_{k-1} is not.
  for (const at of [t(k), t(k) - 150, t(k) - 299]) seed.push({ labels: API2, at, line: 'level=error msg="db"' });
  for (const labels of [API1, API2, WEB1, BATCH]) seed.push({ labels, at: t(k) - 200, line: 'level=info msg="ok"' });
  for (let i = 0; i < 4; i++) seed.push({ labels: BATCH, at: t(k) - 100 + i, line: 'level=error msg="dev"' });
}
for (let i = 0; i < WEB_ERRORS; i++) {
  seed.push({ labels: WEB1, at: t(WEB_WINDOW) - 250 + i * 10, line: `level=error msg="render failed" n=${i}` });
}

const ERRORS_PROD = '{env="prod"} |= "level=error"';

beforeAll(async () => {
  await loki.start();
  services = makeServices({ loki: { url: loki.url } });
  // one push per line: the simulator spaces lines of one push a nanosecond apart, and t_k must stay t_k
  for (const l of seed) loki.push(l.labels, [{ atMs: l.at * 1000, line: l.line }]);
});

afterAll(async () => {
  await loki.close();
});

/** The [t, value] points a series has, from the raw columns. */
function pointsOf(raw: { t: number[]; v: string[] }): [number, number][] {
  return raw.t.map((ts, i) => [ts, Number(raw.v[i])]);
}

describe('logs_query_metric', () => {
  it('sums error counts by app per 5-minute window, exactly as the seed has them', async () => {
    const res = await call(
      'logs_query_metric',
      { query: `sum by (app) (count_over_time(${ERRORS_PROD} [5m]))`, ...range, mode: 'raw' },
      services,
    );
    expect(res).toMatchObject({ start: START, end: END, step: STEP, total: 2, returned: 2, truncated: false });
    const byApp = Object.fromEntries(res.raw.map((s: { labels: { app: string } }) => [s.labels.app, s]));
    expect(Object.keys(byApp).sort()).toEqual(['api', 'web']);
    const apiExpected = Array.from({ length: WINDOWS }, (_, n) => [t(n + 1), api1Errors(n + 1) + API2_ERRORS]);
    expect(pointsOf(byApp.api)).toEqual(apiExpected);
    expect(byApp.api.labels).toEqual({ app: 'api' });
    expect(pointsOf(byApp.web)).toEqual([[t(WEB_WINDOW), WEB_ERRORS]]);
    // the dev stream (env="dev") and the info lines are not counted; t_0 has no window with lines: no point
    const sent = loki.control.requests.at(-1)?.url.searchParams;
    expect(sent?.get('step')).toBe(String(STEP));
  });

  it('summarizes each series: stats, shape, gaps stated, and what Loki scanned', async () => {
    const res = await call(
      'logs_query_metric',
      { query: `sum by (app) (count_over_time(${ERRORS_PROD} [5m]))`, ...range, points: 4 },
      services,
    );
    const counts = Array.from({ length: WINDOWS }, (_, n) => api1Errors(n + 1) + API2_ERRORS);
    const [api, web] = res.series;
    expect(api.labels).toEqual({ app: 'api' });
    expect(api.stats).toEqual({
      min: Math.min(...counts),
      max: Math.max(...counts),
      avg: Number((counts.reduce((a, b) => a + b, 0) / counts.length).toPrecision(6)),
      last: counts.at(-1),
      p95: [...counts].sort((a, b) => a - b)[Math.ceil(0.95 * counts.length) - 1],
      samples: WINDOWS,
      nonFinite: 0,
    });
    // 12 points in 4 buckets of 3: each keeps its first time and its average
    expect(api.downsampled).toEqual(
      [0, 1, 2, 3].map((b) => [t(3 * b + 1), counts.slice(3 * b, 3 * b + 3).reduce((a, c) => a + c, 0) / 3]),
    );
    expect(web.labels).toEqual({ app: 'web' });
    expect(web.stats).toMatchObject({ max: WEB_ERRORS, samples: 1 });
    expect(res.rest).toEqual({ series: 0, min: null, max: null });
    expect(res).toMatchObject({ total: 2, returned: 2, truncated: false, pointsPerSeries: WINDOWS });
    // 13 evaluation times; every series misses at least t_0
    expect(res.notes).toEqual([
      `2 of 2 series have fewer than the ${WINDOWS + 1} points the range has: Loki leaves out a step with no sample (no matching line for count_over_time, rate, bytes_*: read it as 0); stats cover the points there are`,
    ]);
    // every prod line Loki read once, over (start - 5m, end]
    const read = seed.filter((l) => l.labels.env === 'prod' && l.at > START - STEP && l.at <= END);
    expect(res.scanned).toEqual({
      lines: read.length,
      bytes: read.reduce((n, l) => n + Buffer.byteLength(l.line), 0),
    });
  });

  it('reads rate as lines per second of the range, and bytes_over_time as line bytes', async () => {
    const rate = await call(
      'logs_query_metric',
      { query: `sum by (app) (rate(${ERRORS_PROD} [5m]))`, ...range, sortBy: 'last' },
      services,
    );
    const api = rate.series.find((s: { labels: { app: string } }) => s.labels.app === 'api');
    expect(api.stats.last).toBe(Number(((api1Errors(WINDOWS) + API2_ERRORS) / STEP).toPrecision(6)));
    expect(api.stats.min).toBe(Number(((api1Errors(1) + API2_ERRORS) / STEP).toPrecision(6)));
    const bytes = await call(
      'logs_query_metric',
      { query: 'sum(bytes_over_time({pod="web-1"} |= "level=error" [5m]))', ...range, mode: 'raw' },
      services,
    );
    const webBytes = seed
      .filter((l) => l.labels.pod === 'web-1' && l.line.startsWith('level=error'))
      .reduce((n, l) => n + Buffer.byteLength(l.line), 0);
    expect(bytes.raw).toEqual([{ labels: {}, points: 1, t: [t(WEB_WINDOW)], v: [String(webBytes)] }]);
  });

  it('keeps topk series with their own labels, only at the steps they are in the top k', async () => {
    const res = await call(
      'logs_query_metric',
      { query: `topk(1, sum by (pod) (count_over_time(${ERRORS_PROD} [5m])))`, ...range, mode: 'raw' },
      services,
    );
    const byPod = Object.fromEntries(res.raw.map((s: { labels: { pod: string } }) => [s.labels.pod, s]));
    // window 1: api-2 (3) beats api-1 (2); from window 2 on api-1 (4, 6, ...) beats api-2 (3) and web-1 (5)
    expect(pointsOf(byPod['api-2'])).toEqual([[t(1), API2_ERRORS]]);
    expect(pointsOf(byPod['api-1'])).toEqual(
      Array.from({ length: WINDOWS - 1 }, (_, n) => [t(n + 2), api1Errors(n + 2)]),
    );
    expect(byPod['web-1']).toBeUndefined();
  });

  it('ranks series, counts the rest and pages through them with the cursor', async () => {
    const query = `count_over_time(${ERRORS_PROD} [5m])`;
    const first = await call('logs_query_metric', { query, ...range, topK: 1 }, services);
    expect(first).toMatchObject({ total: 3, returned: 1, truncated: true });
    expect(first.series[0].labels).toEqual(API1);
    expect(first.series[0].stats.max).toBe(api1Errors(WINDOWS));
    // the two series left out: api-2 (3 per window) and web-1 (5 once)
    expect(first.rest).toEqual({ series: 2, min: API2_ERRORS, max: WEB_ERRORS });
    const order = [first.series[0].labels.pod];
    let cursor = first.nextCursor;
    for (let pages = 0; cursor && pages < 5; pages++) {
      const next = await call('logs_query_metric', { query, ...range, topK: 1, cursor }, services);
      order.push(...next.series.map((s: { labels: { pod: string } }) => s.labels.pod));
      cursor = next.nextCursor;
      if (!cursor) expect(next.truncated).toBe(false);
    }
    expect(order).toEqual(['api-1', 'web-1', 'api-2']);
    const ascending = await call('logs_query_metric', { query, ...range, sortBy: 'max', order: 'asc' }, services);
    expect(ascending.series.map((s: { labels: { pod: string } }) => s.labels.pod)).toEqual(['api-2', 'web-1', 'api-1']);
  });

  it("uses Loki's default step (range/250) and says how windows relate to the step", async () => {
    const hour = await call(
      'logs_query_metric',
      { query: `sum(count_over_time(${ERRORS_PROD} [5m]))`, start: String(END - 3600), end: String(END) },
      services,
    );
    expect(hour.step).toBe(Math.floor(3600 / 250));
    expect(loki.control.requests.at(-1)?.url.searchParams.get('step')).toBe(String(Math.floor(3600 / 250)));
    expect(hour.notes[0]).toMatch(
      /^each point covers the \[5m\] before it and points are 14s apart, so windows overlap: do not add points up; for a total use step "5m"/,
    );
    const sparse = await call(
      'logs_query_metric',
      { query: `sum(count_over_time(${ERRORS_PROD} [1m]))`, ...range },
      services,
    );
    expect(sparse.notes[0]).toMatch(
      /^each point covers only the \[1m\] before it and points are 5m apart, so lines between windows are not counted/,
    );
    // step = range: windows tile the range, nothing to warn about
    const tiled = await call(
      'logs_query_metric',
      { query: `sum(count_over_time(${ERRORS_PROD} [5m]))`, ...range },
      services,
    );
    expect(tiled.notes.some((n: string) => n.startsWith('each point'))).toBe(false);
  });
});

describe('logs_query_metric refusals', () => {
  it('refuses a log query and points at logs_search, before calling Loki', async () => {
    const before = loki.control.requests.length;
    const err = await callError('logs_query_metric', { query: '{app="api"} |= "error"' }, services);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    expect(err.message).toMatch(/this is a log query .*logs_search returns its lines/);
    expect(err.message).toContain('sum(count_over_time({app="api"} |= "error" [5m]))');
    const bare = await callError('logs_query_metric', { query: 'rate(errors[5m])' }, services);
    expect(bare.message).toMatch(/needs a stream selector/);
    expect(loki.control.requests.length).toBe(before);
  });

  it('logs_search refuses a metric query and points at logs_query_metric', async () => {
    const err = await callError('logs_search', { query: `sum(count_over_time(${ERRORS_PROD} [5m]))` }, services);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    expect(err.message).toMatch(/goes to logs_query_metric/);
  });

  it('refuses a step giving too many points per series with a suggested step, and a range over 721h', async () => {
    const before = loki.control.requests.length;
    const err = await callError(
      'logs_query_metric',
      { query: `sum(count_over_time(${ERRORS_PROD} [5m]))`, start: 'now-7d', step: '10s' },
      services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(
      /a 7d range at step 10s gives 60481 points per series, over the limit of 1500; use step "10m"/,
    );
    expect(err.details).toMatchObject({ pointsPerSeries: 60481, maxPointsPerSeries: 1500, suggestedStep: '10m' });
    const tooLong = await callError(
      'logs_query_metric',
      { query: `sum(count_over_time(${ERRORS_PROD} [5m]))`, start: 'now-722h', step: '1h' },
      services,
    );
    expect(tooLong.code).toBe('ERR_INVALID_INPUT');
    expect(tooLong.message).toMatch(/more than the 721h allowed; shorten it/);
    expect(loki.control.requests.length).toBe(before);
  });

  it("surfaces Loki's parse error with its position and how a metric query reads", async () => {
    const query = 'sum by (app) (count_over_time({app="api"} |= "error"))';
    const err = await callError('logs_query_metric', { query, ...range }, services);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    const col = query.indexOf('))') + 1;
    expect(err.message).toMatch(
      new RegExp(`^Loki refused the LogQL query: parse error at line 1, col ${col}: syntax error`),
    );
    expect(err.message).toMatch(/a metric query reads like sum by \(app\) \(count_over_time/);
    expect(err.details).toMatchObject({ backend: 'Loki', status: 400, line: 1, column: col });
  });

  it("surfaces Loki's series limit (max_query_series) with its advice", async () => {
    loki.maxQuerySeries = 2;
    try {
      const err = await callError(
        'logs_query_metric',
        { query: `count_over_time(${ERRORS_PROD} [5m])`, ...range },
        services,
      );
      expect(err.code).toBe('ERR_QUERY_INVALID');
      expect(err.message).toMatch(
        /maximum number of series \(2\) reached for a single query; consider reducing query cardinality/,
      );
    } finally {
      loki.maxQuerySeries = 500;
    }
  });
});

describe('logs_query_metric within the output budget', () => {
  const wide = new LokiSimulator();
  let wideServices: ReturnType<typeof makeServices>;
  const PODS = 80;

  beforeAll(async () => {
    await wide.start();
    wideServices = makeServices({ loki: { url: wide.url } });
    // pod i logs i + 1 errors in every window
    for (let i = 0; i < PODS; i++) {
      const labels = { namespace: 'shop', pod: `checkout-7d9f8b6c5d-${String(i).padStart(3, '0')}` };
      for (let k = 1; k <= WINDOWS; k++) {
        for (let n = 0; n <= i; n++) wide.push(labels, [{ atMs: (t(k) - 200 + n) * 1000, line: 'level=error' }]);
      }
    }
  });

  afterAll(async () => {
    await wide.close();
  });

  it('cuts shapes, then series, to fit; states the cut, the rest and where to continue', async () => {
    const budget = 6000;
    const res = await call(
      'logs_query_metric',
      { query: 'count_over_time({namespace="shop"} [5m])', ...range, topK: 50, points: 12 },
      wideServices,
      { maxOutputBytes: budget },
    );
    expect(jsonBytes(res)).toBeLessThanOrEqual(budget);
    expect(res.total).toBe(PODS);
    expect(res.returned).toBeLessThan(50);
    expect(res.returned).toBeGreaterThan(0);
    expect(res.truncated).toBe(true);
    expect(res.nextCursor).toBeDefined();
    expect(res.rest.series).toBe(PODS - res.returned);
    // ranked by max: the busiest pods first, pod i at i + 1 lines per window
    expect(res.series.map((s: { stats: { max: number } }) => s.stats.max)).toEqual(
      Array.from({ length: res.returned }, (_, n) => PODS - n),
    );
    expect(res.rest.max).toBe(PODS - res.returned);
    expect(res.rest.min).toBe(1);
    expect(res.notes).toContainEqual(
      expect.stringMatching(/^output budget: shapes cut to \d+ points per series \(asked for 12\)$/),
    );
    const next = await call(
      'logs_query_metric',
      { query: 'count_over_time({namespace="shop"} [5m])', ...range, topK: 50, points: 12, cursor: res.nextCursor },
      wideServices,
      { maxOutputBytes: budget },
    );
    expect(next.series[0].stats.max).toBe(PODS - res.returned);
  });

  it('bounds raw points by the byte budget and says it cut them', async () => {
    const budget = 4000;
    const res = await call(
      'logs_query_metric',
      { query: 'count_over_time({namespace="shop"} [5m])', ...range, mode: 'raw', topK: 20 },
      wideServices,
      { maxOutputBytes: budget },
    );
    expect(jsonBytes(res)).toBeLessThanOrEqual(budget);
    expect(res).toMatchObject({ total: PODS, truncated: true });
    expect(res.nextCursor).toBeDefined();
  });
});

describe("Loki's other answers", () => {
  it('reads an instant vector as one point per series and carries Loki warnings as notes', async () => {
    const body = {
      status: 'success',
      warnings: ['maximum number of series (500) reached for a single query; returning partial results'],
      data: {
        resultType: 'vector',
        result: [
          { metric: { app: 'api' }, value: [1568404331.324, '12'] },
          { metric: { app: 'web' }, value: [1568404331.324, '3'] },
        ],
        stats: { summary: { totalLinesProcessed: 40, totalBytesProcessed: 800 } },
      },
    };
    const fake = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    try {
      const res = await call(
        'logs_query_metric',
        { query: 'sum by (app) (count_over_time({env="prod"}[5m]))', start: 'now-5m', step: '5m' },
        makeServices({ loki: { url: fake.url } }),
      );
      expect(
        res.series.map((s: { labels: { app: string }; stats: { last: number } }) => [s.labels.app, s.stats.last]),
      ).toEqual([
        ['api', 12],
        ['web', 3],
      ]);
      expect(res.pointsPerSeries).toBe(1);
      expect(res.notes.slice(0, 2)).toEqual([
        'Loki: maximum number of series (500) reached for a single query; returning partial results',
        'Loki answered an instant vector: one point per series',
      ]);
      expect(res.scanned).toEqual({ lines: 40, bytes: 800 });
    } finally {
      await fake.close();
    }
  });

  it("reports Loki's own step refusals (pkg/loghttp/query.go) when a client sends such a step", async () => {
    const q = {
      query: `sum(count_over_time(${ERRORS_PROD} [5m]))`,
      startNs: `${START}000000000`,
      endNs: `${END}000000000`,
      limit: 100,
      direction: 'backward' as const,
    };
    // 3600 s / 0.3 s = 12,000 points, over Loki's 11,000
    await expect(services.loki.queryRange({ ...q, step: 0.3 })).rejects.toMatchObject({
      code: 'ERR_QUERY_INVALID',
      message:
        'Loki refused the LogQL query: exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter',
    });
    await expect(services.loki.queryRange({ ...q, step: -5 })).rejects.toMatchObject({
      message: expect.stringMatching(/zero or negative query resolution step widths are not accepted/),
    });
  });

  it('refuses a streams answer as a log query', async () => {
    const fake = await listen((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'success', data: { resultType: 'streams', result: [], stats: {} } }));
    });
    try {
      const err = await callError(
        'logs_query_metric',
        { query: 'count_over_time({app="api"}[5m])' },
        makeServices({ loki: { url: fake.url } }),
      );
      expect(err.code).toBe('ERR_QUERY_INVALID');
      expect(err.message).toMatch(/Loki answered with log lines: this is a log query, which logs_search reads/);
    } finally {
      await fake.close();
    }
  });
});
