import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ObservabilityBackendConfig, observabilityServer } from '@ravenhelm/mcp-observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deadUrl,
  EXPORTED_SERIES,
  type Listening,
  listen,
  type Proc,
  ROUTES,
  silentServer,
  startExporter,
  startPrometheus,
  waitFor,
} from './fixture.js';
import { call, callError, makeServices } from './harness.js';

let exporter: Listening;
let prom: Proc;
let services: ReturnType<typeof makeServices>;

async function promQuery(expr: string): Promise<{ value: [number, string] }[]> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return ((await res.json()) as { data: { result: { value: [number, string] }[] } }).data.result;
}

beforeAll(async () => {
  exporter = await startExporter();
  prom = await startPrometheus([exporter.url]);
  services = makeServices({ prometheus: { url: prom.url } });
  // Enough history for range summaries: 8+ scrapes of every series.
  await waitFor('8 scrapes of the demo target', async () => {
    const [count] = await promQuery('count(count_over_time(demo_requests_total[1m]) >= 8)');
    return Number(count?.value[1]) === ROUTES * 3;
  });
});

afterAll(async () => {
  await prom?.stop();
  await exporter?.close();
});

describe('metrics_query', () => {
  it('returns labelled samples, sorted and paged with totals', async () => {
    const first = await call('metrics_query', { query: 'demo_temperature_celsius', sort: 'desc', limit: 5 }, services);
    expect(first).toMatchObject({ resultType: 'vector', total: 40, returned: 5, truncated: true });
    expect(first.samples[0].labels).toMatchObject({ __name__: 'demo_temperature_celsius', sensor: 's39', job: 'demo' });
    const values = first.samples.map((s: { value: string }) => Number(s.value));
    expect([...values].sort((a, b) => b - a)).toEqual(values);
    const second = await call(
      'metrics_query',
      { query: 'demo_temperature_celsius', sort: 'desc', limit: 5, cursor: first.nextCursor },
      services,
    );
    expect(second.samples[0].labels.sensor).toBe('s34');
  });

  it('sorts Prometheus infinities as numbers ("+Inf" first descending, "-Inf" last), NaN after them', async () => {
    const one = (expr: string, k: string) => `label_replace(${expr}, "k", "${k}", "", "")`;
    const query = [
      one('vector(2)', 'two'),
      one('vector(1) / 0', 'inf'),
      one('vector(0) / 0', 'nan'),
      one('vector(-1) / 0', 'ninf'),
      one('vector(5)', 'five'),
    ].join(' or ');
    const order = async (sort: string) =>
      (await call('metrics_query', { query, sort }, services)).samples.map(
        (s: { labels: { k: string }; value: string }) => `${s.labels.k}=${s.value}`,
      );
    expect(await order('desc')).toEqual(['inf=+Inf', 'five=5', 'two=2', 'ninf=-Inf', 'nan=NaN']);
    expect(await order('asc')).toEqual(['ninf=-Inf', 'two=2', 'five=5', 'inf=+Inf', 'nan=NaN']);
  });

  it('answers scalars and range selectors', async () => {
    const scalar = await call('metrics_query', { query: '1 + 1', time: '1767268800' }, services);
    expect(scalar).toEqual({
      resultType: 'scalar',
      time: 1767268800,
      samples: [{ labels: {}, value: '2' }],
      total: 1,
      returned: 1,
      truncated: false,
    });
    // an instant vector states its evaluation time once and carries no empty matrix list
    const vector = await call('metrics_query', { query: 'demo_temperature_celsius', limit: 3 }, services);
    expect(typeof vector.time).toBe('number');
    expect(Object.keys(vector.samples[0])).toEqual(['labels', 'value']);
    expect(vector.series).toBeUndefined();
    const matrix = await call('metrics_query', { query: 'demo_temperature_celsius{sensor="s1"}[30s]' }, services);
    expect(matrix.resultType).toBe('matrix');
    expect(matrix.series).toHaveLength(1);
    expect(matrix.series[0].points).toBeGreaterThanOrEqual(8);
    expect(matrix.series[0].t).toHaveLength(matrix.series[0].points);
    expect(matrix.series[0].v).toHaveLength(matrix.series[0].t.length);
    expect(typeof matrix.series[0].v[0]).toBe('string');
  });

  it('shows every sample of a range selector or subquery that fits, and says truncated when it keeps the newest', async () => {
    // A subquery evaluates at every step of its range, and `@` pins each evaluation to one instant with data:
    // 60 samples per series, however short the scrape history.
    const at = Math.floor(Date.now() / 1000) - 1;
    const one = await call(
      'metrics_query',
      { query: `(demo_temperature_celsius{sensor="s1"} @ ${at})[1m:1s]`, time: String(at) },
      services,
    );
    const [series] = one.series;
    // 61 on Prometheus 2 (both ends of the range), 60 on 3 (left-open ranges)
    expect(series.points).toBeGreaterThanOrEqual(60);
    expect(series.t).toHaveLength(series.points);
    expect(series.v).toHaveLength(series.points);
    expect(series.t[0]).toBe(at - series.points + 1);
    expect(series.t.at(-1)).toBe(at);
    expect(one).toMatchObject({ resultType: 'matrix', total: 1, returned: 1, truncated: false });

    // 40 series x 60 samples is over the 2000 raw points a page shows: the newest of each, and truncated
    const all = await call(
      'metrics_query',
      { query: `(demo_temperature_celsius @ ${at})[1m:1s]`, time: String(at) },
      services,
    );
    expect(all).toMatchObject({ total: 40, returned: 40, truncated: true });
    expect(all.nextCursor).toBeUndefined();
    for (const s of all.series) {
      expect(s.points).toBe(series.points);
      expect(s.t.length).toBeLessThan(s.points);
      expect(s.t.at(-1)).toBe(at);
    }
    expect(all.series.reduce((n: number, s: { t: number[] }) => n + s.t.length, 0)).toBeLessThanOrEqual(2000);
  });

  it('turns a PromQL parse error into ERR_QUERY_INVALID keeping the position', async () => {
    const err = await callError('metrics_query', { query: 'sum(rate(demo_requests_total[1m]' }, services);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    expect(err.message).toMatch(/Prometheus refused the query: .*1:\d+: parse error/);
    expect(err.details).toMatchObject({ backend: 'Prometheus', errorType: 'bad_data', line: 1 });
    expect(typeof err.details.column).toBe('number');
  });
});

describe('metrics_query_range', () => {
  it('summarizes a big range far below the raw answer, with correct stats and the rest counted', async () => {
    const end = Math.floor(Date.now() / 1000) - 1;
    const start = end - 15;
    const step = 0.01; // up to 1501 points per series, 180 series
    const rawRes = await fetch(
      `${prom.url}/api/v1/query_range?query=demo_requests_total&start=${start}&end=${end}&step=${step}`,
    );
    const rawText = await rawRes.text();
    const raw = JSON.parse(rawText) as {
      data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
    };
    const res = await call(
      'metrics_query_range',
      {
        query: 'demo_requests_total',
        start: String(start),
        end: String(end),
        step: '10ms',
        maxPointsPerSeries: 2000,
        topK: 10,
        sortBy: 'max',
      },
      services,
    );
    const summaryBytes = Buffer.byteLength(JSON.stringify(res));
    const rawBytes = Buffer.byteLength(rawText);
    console.log(`range query: raw Prometheus answer ${rawBytes} bytes, summary ${summaryBytes} bytes`);
    expect(rawBytes).toBeGreaterThan(1_000_000);
    expect(summaryBytes).toBeLessThan(64 * 1024);
    expect(summaryBytes * 20).toBeLessThan(rawBytes);
    const longest = Math.max(...raw.data.result.map((s) => s.values.length));
    expect(longest).toBeGreaterThan(500);
    expect(res).toMatchObject({
      mode: 'summary',
      total: ROUTES * 3,
      returned: 10,
      truncated: true,
      pointsPerSeries: longest,
    });
    expect(res.rest.series).toBe(ROUTES * 3 - 10);
    expect(res.raw).toBeUndefined();
    // The fastest-growing routes rank first by max.
    expect(res.series[0].labels.route).toBe('/r59');
    // Stats match the raw answer for the same series.
    const top = res.series[0];
    const same = raw.data.result.find((s) => s.metric.route === top.labels.route && s.metric.code === top.labels.code);
    if (!same) throw new Error('series missing from the raw answer');
    const nums = same.values.map(([, v]) => Number(v));
    expect(top.stats.max).toBe(Number(Math.max(...nums).toPrecision(6)));
    expect(top.stats.min).toBe(Number(Math.min(...nums).toPrecision(6)));
    expect(top.stats.last).toBe(Number((nums.at(-1) as number).toPrecision(6)));
    expect(top.stats.samples).toBe(nums.length);
    expect(top.stats.p95).toBeLessThanOrEqual(top.stats.max);
    expect(top.stats.p95).toBeGreaterThanOrEqual(top.stats.avg);
    expect(top.downsampled).toHaveLength(24);
    expect(top.downsampled[0][0]).toBe(same.values[0]?.[0]);
    // rest max is no larger than the smallest max shown
    expect(res.rest.max).toBeLessThanOrEqual(res.series.at(-1).stats.max);
    // the next page continues the ranking
    const next = await call(
      'metrics_query_range',
      {
        query: 'demo_requests_total',
        start: String(start),
        end: String(end),
        step: '10ms',
        maxPointsPerSeries: 2000,
        topK: 10,
        cursor: res.nextCursor,
      },
      services,
    );
    expect(next.series[0].stats.max).toBeLessThanOrEqual(res.series.at(-1).stats.max);
    const shown = new Set(res.series.map((s: { labels: object }) => JSON.stringify(s.labels)));
    for (const s of next.series) expect(shown.has(JSON.stringify(s.labels))).toBe(false);
  });

  it('shrinks the summary to fit a small output budget', async () => {
    const res = await call(
      'metrics_query_range',
      { query: 'demo_requests_total', start: 'now-20s', end: 'now', step: '1s', topK: 100, points: 200 },
      services,
      { maxOutputBytes: 8 * 1024 },
    );
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(8 * 1024);
    expect(res.returned).toBeLessThan(100);
    expect(res.truncated).toBe(true);
    expect(res.rest.series + res.returned).toBe(res.total);
  });

  it('returns raw points only on request, bounded', async () => {
    const res = await call(
      'metrics_query_range',
      {
        query: 'demo_temperature_celsius',
        start: 'now-20s',
        end: 'now',
        step: '100ms',
        mode: 'raw',
        topK: 5,
        maxRawPoints: 100,
      },
      services,
    );
    expect(res).toMatchObject({ mode: 'raw', total: 40, returned: 5, truncated: true });
    expect(res.series).toBeUndefined();
    for (const s of res.raw) {
      expect(s.points).toBeGreaterThan(40);
      expect(s.t).toHaveLength(20);
      expect(s.v).toHaveLength(20);
    }
  });

  it('refuses a range with too many points per series and suggests a step', async () => {
    const err = await callError(
      'metrics_query_range',
      { query: 'up', start: 'now-1h', end: 'now', step: '100ms' },
      services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/36001 points per series, over the limit of 1500; use step "5s"/);
    expect(err.details).toMatchObject({ suggestedStep: '5s' });
    // refused before any request: a Prometheus that counts calls sees none
    let calls = 0;
    const counting = await listen((_req, res) => {
      calls++;
      res.writeHead(500).end();
    });
    try {
      const countingServices = makeServices({ prometheus: { url: counting.url } });
      const refused = await callError(
        'metrics_query_range',
        { query: 'up', start: 'now-1h', end: 'now', step: '100ms' },
        countingServices,
      );
      expect(refused.code).toBe('ERR_INVALID_INPUT');
      expect(calls).toBe(0);
      await callError(
        'metrics_query_range',
        { query: 'up', start: 'now-1h', end: 'now', step: '5s' },
        countingServices,
      );
      expect(calls).toBe(1);
    } finally {
      await counting.close();
    }
    // the suggested step is accepted
    const ok = await call('metrics_query_range', { query: 'up', start: 'now-1h', end: 'now', step: '5s' }, services);
    expect(ok.pointsPerSeries).toBeLessThanOrEqual(1500);
  });

  it('refuses an unreadable time', async () => {
    const err = await callError('metrics_query_range', { query: 'up', start: 'yesterday' }, services);
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/start: "yesterday" is not a time/);
  });

  it('reads times strictly: no 30 February, no offset means UTC, nothing before 1970', async () => {
    const feb30 = await callError('metrics_query', { query: 'time()', time: '2026-02-30T00:00:00Z' }, services);
    expect(feb30.code).toBe('ERR_INVALID_INPUT');
    expect(feb30.message).toMatch(/^time: "2026-02-30T00:00:00Z" is not a valid RFC 3339 time/);
    const farPast = await callError('metrics_query', { query: 'time()', time: 'now-999999999999999w' }, services);
    expect(farPast.message).toMatch(/^time: "now-999999999999999w" is before 1970-01-01T00:00:00Z/);
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const local = await call('metrics_query', { query: 'time()', time: '2026-01-31T12:00:00' }, services);
      expect(local.samples[0].value).toBe('1769860800');
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    const hugeStep = await callError('metrics_query_range', { query: 'up', step: '9999999999w' }, services);
    expect(hugeStep.message).toMatch(/^step: .* is longer than 100 years/);
  });
});

describe('metric discovery', () => {
  it('lists metric names with a filter', async () => {
    const res = await call('metrics_list_names', { filter: 'DEMO_' }, services);
    expect(res.names).toEqual(['demo_requests_total', 'demo_temperature_celsius']);
    expect(res).toMatchObject({ total: 2, truncated: false });
  });

  it('lists label names and values', async () => {
    const labels = await call('metrics_list_labels', { match: ['demo_temperature_celsius'] }, services);
    expect(labels.labels).toEqual(expect.arrayContaining(['__name__', 'instance', 'job', 'sensor']));
    expect(labels.labels).not.toContain('route');
    const values = await call('metrics_list_label_values', { label: 'route', filter: '/r5' }, services);
    expect(values.values.sort()).toEqual(['/r5', ...Array.from({ length: 10 }, (_, i) => `/r5${i}`)].sort());
    const paged = await call('metrics_list_label_values', { label: 'route', limit: 7 }, services);
    expect(paged).toMatchObject({ total: ROUTES, returned: 7, truncated: true });
  });

  it('says what Prometheus warned beside a list (a remote store it could not ask), and nothing when it did not', async () => {
    const partial = await startPrometheus([exporter.url], { remoteRead: `${await deadUrl()}/api/v1/read` });
    try {
      const svc = makeServices({ prometheus: { url: partial.url } });
      await waitFor('the demo metrics to be scraped', async () => {
        return (await call('metrics_list_names', { filter: 'demo_' }, svc)).total === 2;
      });
      // Prometheus 2.42 warns "not implemented": remote read has no label API, so the remote names are missing
      for (const [tool, args] of [
        ['metrics_list_names', {}],
        ['metrics_list_labels', {}],
        ['metrics_list_label_values', { label: 'job' }],
      ] as const) {
        const res = await call(tool, args, svc);
        expect(res.warnings, tool).toEqual(['not implemented']);
        expect(res.total, tool).toBeGreaterThan(0);
      }
    } finally {
      await partial.stop();
    }
    const whole = await call('metrics_list_labels', {}, services);
    expect(whole).not.toHaveProperty('warnings');
  });

  it('returns metric metadata, and ERR_NOT_FOUND for an unknown metric', async () => {
    await waitFor(
      'metadata',
      async () => (await call('metrics_get_metadata', { filter: 'demo_' }, services)).total === 2,
    );
    const res = await call('metrics_get_metadata', { metric: 'demo_requests_total' }, services);
    expect(res.metrics).toEqual([
      { metric: 'demo_requests_total', type: 'counter', help: 'Requests served, by route and status code.', unit: '' },
    ]);
    const err = await callError('metrics_get_metadata', { metric: 'no_such_metric' }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
  });

  it('cuts a long HELP text with the cut marked and characters whole', async () => {
    // 299 characters, then emoji: a cut at 300 code units falls inside the first one
    const help = `${'h'.repeat(299)}${'🚀'.repeat(10)}`;
    const fake = await listen((_req, res) => {
      const data = { long_help_metric: [{ type: 'gauge', help, unit: '' }] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'success', data }));
    });
    try {
      const res = await call('metrics_get_metadata', {}, makeServices({ prometheus: { url: fake.url } }));
      expect(res.metrics[0].help).toBe(`${'h'.repeat(299)}…`);
    } finally {
      await fake.close();
    }
  });

  it('lists scrape targets, unhealthy first, with counts', async () => {
    await waitFor('the missing target to be down', async () => {
      const r = await call('metrics_list_targets', {}, services);
      return r.counts.down === 1 && r.counts.up === 1;
    });
    const res = await call('metrics_list_targets', {}, services);
    expect(res.total).toBe(2);
    expect(res.targets[0]).toMatchObject({ job: 'missing', health: 'down', instance: '127.0.0.1:1' });
    expect(res.targets[0].lastError).not.toBe('');
    expect(res.targets[1]).toMatchObject({ job: 'demo', health: 'up', lastError: '' });
    const up = await call('metrics_list_targets', { health: 'up' }, services);
    expect(up.targets.map((t: { job: string }) => t.job)).toEqual(['demo']);
    expect(EXPORTED_SERIES).toBeGreaterThanOrEqual(200);
  });
});

describe('readiness', () => {
  it("pings Prometheus's /-/ready and fails when Prometheus is down", async () => {
    const ready = observabilityServer.ready;
    if (!ready) throw new Error('the observability server has no ready check');
    await expect(ready(services, new AbortController().signal)).resolves.toBeUndefined();
    const down = makeServices({ prometheus: { url: await deadUrl() } });
    await expect(ready(down, new AbortController().signal)).rejects.toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
    });
  });
});

describe('native histograms', () => {
  it('says a result of native histograms has no value to list and how to get numbers, for instant and range queries', async () => {
    // Shapes from the API reference (querying/api.md, "Native histograms"): `histogram` instead of `value` in a
    // vector sample, `histograms` instead of `values` in a matrix series.
    const histogram = { count: '12', sum: '3.5', buckets: [[0, '0.5', '1', '7']] };
    const bodies: Record<string, unknown> = {
      '/api/v1/query': {
        status: 'success',
        data: {
          resultType: 'vector',
          result: [
            { metric: { job: 'api' }, value: [1700000000, '1'] },
            { metric: { __name__: 'http_request_duration_seconds', job: 'api' }, histogram: [1700000000, histogram] },
          ],
        },
      },
      '/api/v1/query_range': {
        status: 'success',
        data: {
          resultType: 'matrix',
          result: [{ metric: { job: 'api' }, histograms: [[1700000000, histogram]] }],
        },
      },
    };
    const fake = await listen((req, res) => {
      const body = bodies[new URL(req.url ?? '/', 'http://x').pathname];
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
    });
    try {
      const histograms = makeServices({ prometheus: { url: fake.url } });
      const instant = await callError('metrics_query', { query: 'http_request_duration_seconds' }, histograms);
      const range = await callError(
        'metrics_query_range',
        { query: 'rate(http_request_duration_seconds[5m])' },
        histograms,
      );
      for (const [err, what, count] of [
        [instant, 'the query', '1 of 2'],
        [range, 'the range query', '1 of 1'],
      ] as const) {
        expect(err.code).toBe('ERR_QUERY_INVALID');
        expect(err.message).toContain(`Prometheus answered ${what} with native histograms (${count} series)`);
        expect(err.message).toMatch(/histogram_quantile\(0\.99, rate\(<metric>\[5m\]\)\)/);
      }
    } finally {
      await fake.close();
    }
  });
});

describe('Prometheus failures', () => {
  it('refuses a backend URL holding a user and password at startup, naming the settings, never the password', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const run = spawnSync(
      process.execPath,
      ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/observability/src/bin.ts', '--stdio'],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PROMETHEUS_URL: 'http://admin:UrlPassw0rdXYZ@127.0.0.1:9',
        },
        input: '',
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/backend\.prometheus\.url: must not hold a user name or password/);
    expect(run.stderr).toMatch(/PROMETHEUS_USERNAME and PROMETHEUS_PASSWORD .* or PROMETHEUS_TOKEN/);
    expect(run.stderr + run.stdout).not.toContain('UrlPassw0rdXYZ');
    for (const family of ['alertmanager', 'loki', 'tempo', 'grafana'] as const) {
      const parsed = ObservabilityBackendConfig.safeParse({ [family]: { url: 'https://user:pw@example.com' } });
      expect(parsed.success, family).toBe(false);
      expect(JSON.stringify(parsed.error?.issues)).toContain(`${family.toUpperCase()}_USERNAME`);
    }
    expect(ObservabilityBackendConfig.safeParse({ prometheus: { url: 'https://example.com' } }).success).toBe(true);
  });

  it('says Prometheus is unreachable when nothing listens', async () => {
    const down = makeServices({ prometheus: { url: await deadUrl() } });
    const err = await callError('metrics_query', { query: 'up' }, down);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/^Prometheus is unreachable at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('times out on a backend that never answers', async () => {
    const silent = await silentServer();
    try {
      const slow = makeServices({ prometheus: { url: silent.url, timeoutMs: 300 } });
      const t0 = Date.now();
      const err = await callError('metrics_query', { query: 'up' }, slow);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/Prometheus did not answer within 300 ms/);
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      await silent.close();
    }
  });

  it('sends the token and tenant, and never shows the token in errors', async () => {
    const seen: Record<string, string | undefined>[] = [];
    const guard = await listen((req, res) => {
      seen.push({ auth: req.headers.authorization, tenant: req.headers['x-scope-orgid'] as string | undefined });
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`bad token ${req.headers.authorization}`);
    });
    try {
      const secret = 's3cr3t-token-value';
      const guarded = makeServices({ prometheus: { url: guard.url, tenant: 'team-a', auth: { token: secret } } });
      const err = await callError('metrics_query', { query: 'up' }, guarded);
      expect(seen[0]).toEqual({ auth: `Bearer ${secret}`, tenant: 'team-a' });
      expect(err.code).toBe('ERR_BACKEND_ERROR');
      expect(err.message).toMatch(/rejected our credentials \(HTTP 401\)/);
      expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain(secret);
    } finally {
      await guard.close();
    }
  });
});
