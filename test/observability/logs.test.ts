import { dataBudgetOf, jsonBytes } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LONE_SURROGATE } from '../fixtures/unicode.js';
import { LOKI_NEXT_GEN_WARNING, LOKI_TIMEOUT_BODY, LokiSimulator } from '../simulators/loki.js';
import { listen } from './fixture.js';
import { call, callError, makeServices } from './harness.js';

const loki = new LokiSimulator();
let services: ReturnType<typeof makeServices>;
const now = Date.now();

beforeAll(async () => {
  await loki.start();
  services = makeServices({ loki: { url: loki.url, tenant: 'team-a' } });
  // 300 checkout lines over the last 5 minutes: every 6th is an error, every 50th a timeout.
  const checkout = Array.from({ length: 300 }, (_, i) => ({
    atMs: now - 300_000 + i * 1000,
    line:
      i % 50 === 0
        ? `level=error msg="upstream Timeout" seq=${i}`
        : i % 6 === 0
          ? `level=error msg="payment declined" seq=${i}`
          : `level=info msg="ok" seq=${i}`,
  }));
  loki.push({ service_name: 'checkout', env: 'prod' }, checkout);
  loki.push({ service_name: 'search', env: 'prod' }, [{ atMs: now - 10_000, line: 'level=error msg="index missing"' }]);
  loki.push({ service_name: 'checkout', env: 'prod' }, [{ atMs: now - 2 * 3600_000, line: 'level=error msg="old"' }]);
  loki.push({ service_name: 'blob', env: 'dev' }, [{ atMs: now - 5000, line: `level=error ${'x'.repeat(5000)}` }]);
});

afterAll(async () => {
  await loki.close();
});

describe('logs_search', () => {
  it('returns the newest matching lines, says the limit truncated them and how many lines were scanned', async () => {
    const res = await call('logs_search', { query: '{service_name="checkout"} |= "level=error"', limit: 20 }, services);
    expect(res).toMatchObject({ returned: 20, truncated: true, scannedLines: 300 });
    expect(res.reason).toMatch(/limit of 20 lines reached/);
    // the end it gives reaches the older lines: the last line listed again, then the next one
    const end = /repeat with end="([^"]+)"/.exec(res.reason)?.[1];
    const older = await call(
      'logs_search',
      { query: '{service_name="checkout"} |= "level=error"', limit: 2, end },
      services,
    );
    expect(older.lines.map((l: { line: string }) => l.line)).toEqual([
      res.lines[19].line,
      'level=error msg="payment declined" seq=186',
    ]);
    expect(res.streams).toEqual([{ service_name: 'checkout', env: 'prod' }]);
    expect(res.lines[0].line).toBe('level=error msg="payment declined" seq=294');
    const ns = res.lines.map((l: { ns: string }) => BigInt(l.ns));
    for (let i = 1; i < ns.length; i++) expect(ns[i] < ns[i - 1]).toBe(true);
    expect(Date.parse(res.lines[0].time)).toBe(now - 300_000 + 294 * 1000);
    // the old line (2h ago) is outside the default hour
    expect(res.lines.some((l: { line: string }) => l.line.includes('old'))).toBe(false);
    expect(loki.control.requests.at(-1)?.headers['x-scope-orgid']).toBe('team-a');
  });

  it('reads forward, with regex filters and negative matchers, untruncated when all fit', async () => {
    const res = await call(
      'logs_search',
      { query: '{env="prod", service_name!="search"} |~ "(?i)timeout"', direction: 'forward', limit: 100 },
      services,
    );
    expect(res).toMatchObject({ returned: 6, truncated: false });
    expect(res.reason).toBeUndefined();
    expect(res.lines.map((l: { line: string }) => l.line.split('seq=')[1])).toEqual([
      '0',
      '50',
      '100',
      '150',
      '200',
      '250',
    ]);
  });

  it('refuses queries without a stream selector and explains how to write one', async () => {
    for (const query of ['|= "error"', 'error', '{}', 'rate({service_name="checkout"}[5m])']) {
      const err = await callError('logs_search', { query }, services);
      expect(err.code).toBe('ERR_QUERY_INVALID');
      expect(err.message).toMatch(/stream selector/);
      expect(err.message).toMatch(/\{service_name="api"\} \|= "error"/);
    }
  });

  it("reports Loki's parse error with its position", async () => {
    const before = loki.control.requests.length;
    const err = await callError('logs_search', { query: '{service_name="checkout"} |= error' }, services);
    expect(loki.control.requests.length).toBe(before + 1);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    expect(err.message).toMatch(/^Loki refused the LogQL query: parse error at line 1, col 30: syntax error/);
    expect(err.details).toMatchObject({ backend: 'Loki', status: 400, line: 1, column: 30 });
  });

  it('cuts long lines and stays within a small output budget', async () => {
    const cut = await call('logs_search', { query: '{env="dev"}', maxLineLength: 100 }, services);
    expect(cut.lines[0]).toMatchObject({ cut: true });
    expect(cut.lines[0].line).toHaveLength(101);
    const small = await call('logs_search', { query: '{service_name="checkout"}', limit: 500 }, services, {
      maxOutputBytes: 4096,
    });
    expect(Buffer.byteLength(JSON.stringify(small))).toBeLessThanOrEqual(4096);
    expect(small.truncated).toBe(true);
    expect(small.reason).toMatch(/output budget/);
    expect(small.returned).toBeGreaterThan(0);
  });
});

describe('the simulated push API', () => {
  it('accepts lines on POST /loki/api/v1/push and serves them to logs_search', async () => {
    const ns = (BigInt(Date.now() - 2000) * 1_000_000n).toString();
    const push = (body: unknown, type = 'application/json') =>
      fetch(`${loki.url}/loki/api/v1/push`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: JSON.stringify(body),
      });
    const ok = await push({
      streams: [{ stream: { service_name: 'pushed' }, values: [[ns, 'level=error pushed line']] }],
    });
    expect(ok.status).toBe(204);
    try {
      const res = await call('logs_search', { query: '{service_name="pushed"}' }, services);
      expect(res.lines).toMatchObject([{ ns, line: 'level=error pushed line', stream: 0 }]);
    } finally {
      expect(loki.remove({ service_name: 'pushed' })).toBe(true);
    }
    expect((await push({ streams: [{ stream: {}, values: [] }] })).status).toBe(400);
    expect((await push({ streams: [{ stream: { a: 'b' }, values: [[1.5, 'x']] }] })).status).toBe(400);
    expect((await push({}, 'application/x-protobuf')).status).toBe(415);
  });
});

describe('log labels', () => {
  it('lists label names and values, optionally within a selector', async () => {
    const names = await call('logs_list_labels', {}, services);
    expect(names.labels).toEqual(['env', 'service_name']);
    const values = await call('logs_list_label_values', { label: 'service_name' }, services);
    expect(values).toMatchObject({ values: ['blob', 'checkout', 'search'], total: 3, truncated: false });
    const paged = await call('logs_list_label_values', { label: 'service_name', limit: 2 }, services);
    expect(paged).toMatchObject({ returned: 2, truncated: true });
  });
});

describe('Loki behind basic auth', () => {
  it('sends the user and password, and never shows the password in errors', async () => {
    const seen: (string | undefined)[] = [];
    const guard = await listen((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`no access for ${req.headers.authorization}`);
    });
    try {
      const password = 'loki-pa55word-value';
      const guarded = makeServices({ loki: { url: guard.url, auth: { username: 'agent', password } } });
      const err = await callError('logs_search', { query: '{env="prod"}' }, guarded);
      expect(seen[0]).toBe(`Basic ${Buffer.from(`agent:${password}`).toString('base64')}`);
      expect(err.code).toBe('ERR_BACKEND_ERROR');
      expect(err.message).toMatch(/^Loki rejected our credentials \(HTTP 401\)/);
      const shown = JSON.stringify({ m: err.message, d: err.details });
      expect(shown).not.toContain(password);
      expect(shown).not.toContain(Buffer.from(`agent:${password}`).toString('base64'));
    } finally {
      await guard.close();
    }
  });
});

describe("Loki's own answers", () => {
  it("carries Loki's warnings beside the lines (the next-generation engine warns on every answer)", async () => {
    loki.nextGenEngine = true;
    try {
      const res = await call('logs_search', { query: '{service_name="search"}' }, services);
      expect(res).toMatchObject({ returned: 1, warnings: [LOKI_NEXT_GEN_WARNING] });
      expect(res.lines[0].line).toBe('level=error msg="index missing"');
    } finally {
      loki.nextGenEngine = false;
    }
    const quiet = await call('logs_search', { query: '{service_name="search"}' }, services);
    expect(quiet).not.toHaveProperty('warnings');
  });

  it("maps Loki's query timeout (504) to ERR_BACKEND_TIMEOUT, like Prometheus's, and says to narrow the query", async () => {
    loki.timeoutAfterScannedLines = 100;
    try {
      const err = await callError('logs_search', { query: '{env="prod"} |= "level=error"' }, services);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toContain(LOKI_TIMEOUT_BODY);
      expect(err.message).toMatch(/narrow the query/);
      expect(err.details).toMatchObject({ backend: 'Loki', status: 504 });
    } finally {
      loki.timeoutAfterScannedLines = Number.POSITIVE_INFINITY;
    }
  });

  it('reads a parse error without a position ("parse error : ...")', async () => {
    const err = await callError('logs_search', { query: '{service_name=~".*"}' }, services);
    expect(err.code).toBe('ERR_QUERY_INVALID');
    expect(err.message).toMatch(/^Loki refused the LogQL query: parse error : queries require at least one regexp/);
    expect(err.details.line).toBeUndefined();
  });

  it('reads a vector answer (Loki marshal_test shape) as one-point series, and refuses an unknown resultType', async () => {
    const bodies = [
      {
        status: 'success',
        data: {
          resultType: 'vector',
          result: [
            {
              metric: { filename: '/var/hostlog/apport.log', job: 'varlogs' },
              value: [1568404331.324, '0.013333333333333334'],
            },
            { metric: { filename: '/var/hostlog/syslog', job: 'varlogs' }, value: [1568404331.324, '3.45'] },
          ],
          stats: {},
        },
      },
      { status: 'success', data: { resultType: 'scalar', result: [1, '1'] } },
    ];
    const fake = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bodies.shift()));
    });
    try {
      const backend = makeServices({ loki: { url: fake.url } }).loki;
      const q = {
        query: 'sum(rate({job="varlogs"}[1m]))',
        startNs: '1',
        endNs: '2',
        limit: 10,
        direction: 'backward' as const,
      };
      expect(await backend.queryRange(q)).toMatchObject({
        resultType: 'vector',
        series: [
          { metric: { job: 'varlogs' }, values: [[1568404331.324, '0.013333333333333334']] },
          { metric: { filename: '/var/hostlog/syslog' }, values: [[1568404331.324, '3.45']] },
        ],
      });
      await expect(backend.queryRange(q)).rejects.toMatchObject({
        code: 'ERR_BACKEND_ERROR',
        message: expect.stringMatching(/resultType "scalar"/),
      });
    } finally {
      await fake.close();
    }
  });

  it('reads label answers without data (Loki omits an empty list)', async () => {
    const empty = await new LokiSimulator().start();
    try {
      const bare = makeServices({ loki: { url: empty.url } });
      const res = await call('logs_list_labels', {}, bare);
      expect(res).toMatchObject({ labels: [], total: 0, truncated: false });
      const raw = await (await fetch(`${empty.url}/loki/api/v1/labels`)).json();
      expect(raw).toEqual({ status: 'success' });
    } finally {
      await empty.close();
    }
  });
});

describe('Loki failures', () => {
  it('times out on a slow Loki and reports a failing one', async () => {
    const slow = makeServices({ loki: { url: loki.url, timeoutMs: 200 } });
    loki.control.delayMs = 2000;
    try {
      const err = await callError('logs_search', { query: '{env="prod"}' }, slow);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/^Loki did not answer within 200 ms/);
    } finally {
      loki.control.delayMs = 0;
    }
    loki.control.fail = { status: 500, text: 'rpc error: code = Unavailable' };
    try {
      const err = await callError('logs_search', { query: '{env="prod"}' }, services);
      expect(err.code).toBe('ERR_BACKEND_ERROR');
      expect(err.message).toBe('Loki failed on the LogQL query (HTTP 500: rpc error: code = Unavailable)');
    } finally {
      loki.control.fail = undefined;
    }
  });
});

describe('logs_search within the output budget', () => {
  const k8s = new LokiSimulator();
  let k8sServices: ReturnType<typeof makeServices>;
  /** What a handler gets when the whole result must fit the default 64 KiB (RAVENHELM_MAX_OUTPUT_BYTES). */
  const share = dataBudgetOf(64 * 1024);
  const t = Date.now();

  beforeAll(async () => {
    await k8s.start();
    k8sServices = makeServices({ loki: { url: k8s.url } });
    // 100 pods of one deployment, one error line each, with the labels a Kubernetes log agent attaches.
    for (let i = 0; i < 100; i++) {
      k8s.push(
        {
          cluster: 'prod-eu-west-1',
          namespace: 'checkout',
          app: 'checkout-api',
          pod: `checkout-api-7d9f8b6c5d-${String(i).padStart(5, 'x')}`,
          container: 'server',
          node_name: `ip-10-0-${i}-17.eu-west-1.compute.internal`,
          service_name: 'checkout-api',
          job: 'checkout/checkout-api',
          stream: 'stderr',
          level: 'error',
          filename: `/var/log/pods/checkout_checkout-api-7d9f8b6c5d-${i}_0a1b2c3d-4e5f-6789-abcd-ef0123456789/server/0.log`,
          instance: `checkout-api-7d9f8b6c5d-${i}`,
        },
        [{ atMs: t - 200_000 + i * 1000, line: `level=error msg="payment declined" order=${i}` }],
      );
    }
    // One line of 10,000 three-byte characters: over the budget even alone.
    k8s.push({ namespace: 'wide' }, [{ atMs: t - 1000, line: '€'.repeat(10_000) }]);
    // Emoji are two UTF-16 units each: a cut at an odd index would split one.
    k8s.push({ namespace: 'emoji' }, [{ atMs: t - 1000, line: '🚀'.repeat(20_000) }]);
  });

  afterAll(async () => {
    await k8s.close();
  });

  it('keeps only the streams its lines use and states how many lines and streams it left out', async () => {
    const res = await call('logs_search', { query: '{namespace="checkout"} |= "error"' }, k8sServices, {
      maxOutputBytes: share,
    });
    expect(jsonBytes(res)).toBeLessThanOrEqual(share);
    const kept = res.returned as number;
    expect(kept).toBeGreaterThan(10);
    expect(kept).toBeLessThan(100);
    expect(res.truncated).toBe(true);
    expect(res.streams).toHaveLength(kept);
    // newest first, each line pointing at its own pod's labels
    res.lines.forEach((l: { stream: number; line: string }, n: number) => {
      const order = 99 - n;
      expect(l.line).toBe(`level=error msg="payment declined" order=${order}`);
      expect(res.streams[l.stream].instance).toBe(`checkout-api-7d9f8b6c5d-${order}`);
    });
    // the bound is exact to the nanosecond: the last line's, plus one (Loki's end is exclusive)
    const last = res.lines.at(-1) as { time: string; ns: string };
    const end = `${last.time.slice(0, 23)}${String((BigInt(last.ns) % 1_000_000n) + 1n).padStart(6, '0')}Z`;
    expect(res.reason).toBe(
      `output budget: ${100 - kept} of 100 lines left out (and ${100 - kept} of 100 streams only they use); they are older than the last line listed: repeat with end="${end}" (it lists that line again), or narrow the query (more labels, a line filter) or lower limit`,
    );
    // following the advice gets the last line listed again, then the next (older) lines
    const next = await call('logs_search', { query: '{namespace="checkout"}', end }, k8sServices, {
      maxOutputBytes: share,
    });
    expect(next.lines[0].line).toBe(`level=error msg="payment declined" order=${100 - kept}`);
    expect(next.lines[1].line).toBe(`level=error msg="payment declined" order=${99 - kept}`);
  });

  it('pages through lines that share one millisecond without skipping any', async () => {
    // 400 lines written in one millisecond (Loki keeps nanoseconds; lines are shown to the millisecond)
    const n = 400;
    k8s.push(
      { namespace: 'burst' },
      Array.from({ length: n }, (_, i) => ({ atMs: t - 5000, line: `burst ${i} ${'x'.repeat(400)}` })),
    );
    for (const direction of ['backward', 'forward'] as const) {
      const seen = new Set<string>();
      let bound: Record<string, string> = direction === 'forward' ? { start: new Date(t - 6000).toISOString() } : {};
      for (let page = 0; ; page++) {
        // the hint must move on: a page that lists nothing new would loop forever
        expect(page).toBeLessThan(10);
        const res = await call(
          'logs_search',
          { query: '{namespace="burst"}', limit: 1000, direction, ...bound },
          k8sServices,
          { maxOutputBytes: share },
        );
        for (const l of res.lines as { line: string }[]) seen.add(l.line.split(' ').slice(0, 2).join(' '));
        const next = /repeat with (start|end)="([^"]+)"/.exec(res.reason ?? '');
        if (!next) break;
        bound = { ...bound, [next[1] as string]: next[2] as string };
      }
      expect(seen.size).toBe(n);
    }
  });

  it('pages past more lines in one nanosecond than a page holds, and one line at a time', async () => {
    // A log agent that reads whole-second timestamps off the lines stamps a burst with one nanosecond.
    const second = BigInt(Math.floor((t - 8000) / 1000)) * 1_000_000_000n;
    const at = (s: bigint) => String(second + s * 1_000_000_000n);
    const values = [
      ...Array.from({ length: 3 }, (_, i) => [at(BigInt(i - 3)), `before ${i}`]),
      ...Array.from({ length: 25 }, (_, i) => [at(0n), `burst ${i}`]),
      ...Array.from({ length: 3 }, (_, i) => [at(BigInt(i + 1)), `after ${i}`]),
    ];
    const body = JSON.stringify({ streams: [{ stream: { namespace: 'stamped' }, values }] });
    expect(k8s.pushHttp('application/json', body).status).toBe(204);
    for (const [direction, limit] of [
      ['backward', 10],
      ['forward', 10],
      ['backward', 1],
      ['forward', 1],
    ] as const) {
      const seen = new Set<string>();
      let args: Record<string, unknown> = {
        query: '{namespace="stamped"}',
        direction,
        limit,
        start: new Date(t - 60_000).toISOString(),
      };
      for (let page = 0; ; page++) {
        // following the note must move on: the same bound and limit would answer the same page forever
        expect(page, `${direction}, limit ${limit}`).toBeLessThan(40);
        const res = await call('logs_search', args, k8sServices);
        for (const l of res.lines as { line: string }[]) seen.add(l.line);
        const next = /repeat with (start|end)="([^"]+)"(?: and limit=(\d+))?/.exec(res.reason ?? '');
        if (!next) break;
        args = { ...args, [next[1] as string]: next[2], ...(next[3] ? { limit: Number(next[3]) } : {}) };
      }
      expect(seen.size, `${direction}, limit ${limit}`).toBe(values.length);
    }
  });

  it('cuts a single line over the budget and says so', async () => {
    const res = await call('logs_search', { query: '{namespace="wide"}', maxLineLength: 10_000 }, k8sServices, {
      maxOutputBytes: share,
    });
    expect(jsonBytes(res)).toBeLessThanOrEqual(share);
    expect(res).toMatchObject({ returned: 1, truncated: true, streams: [{ namespace: 'wide' }] });
    expect(res.lines[0].cut).toBe(true);
    expect(res.lines[0].line.length).toBeLessThan(10_000);
    expect(res.lines[0].line.endsWith('…')).toBe(true);
    expect(res.reason).toBe('output budget: the first line listed was cut further to fit (cut: true)');
  });

  it('never cuts a line inside a character (half an emoji breaks strict JSON parsers)', async () => {
    const byLength = await call('logs_search', { query: '{namespace="emoji"}', maxLineLength: 101 }, k8sServices);
    expect(byLength.lines[0]).toMatchObject({ cut: true, line: `${'🚀'.repeat(50)}…` });
    // cut further to fit the budget (the 0.8 steps land on odd lengths too)
    const byBudget = await call('logs_search', { query: '{namespace="emoji"}', maxLineLength: 10_000 }, k8sServices, {
      maxOutputBytes: 3001,
    });
    expect(byBudget.reason).toMatch(/cut further to fit/);
    expect(byBudget.lines[0].line).toMatch(/^(🚀)+…$/u);
    for (const res of [byLength, byBudget]) expect(res.lines[0].line).not.toMatch(LONE_SURROGATE);
  });
});

describe("Loki's per-tenant limits (max_query_length, max_entries_limit_per_query)", () => {
  it('name the argument to change and the value Loki takes, not a wrong query', async () => {
    loki.maxQueryLengthSeconds = 24 * 3600;
    loki.maxEntriesLimit = 1000;
    try {
      const end = '2026-03-15T12:00:00Z';
      const long = await callError(
        'logs_search',
        { query: '{service_name="checkout"}', start: '2026-03-13T12:00:00Z', end },
        services,
      );
      expect(long.code).toBe('ERR_INVALID_INPUT');
      expect(long.message).toBe(
        'Loki reads at most 1d per query (its max_query_length) and this range is 48h0m0s: narrow start and end to 1d or less, e.g. start="2026-03-14T12:00:00.000000000Z" for the newest part, then earlier windows in turn',
      );
      // the start it names is taken
      const newest = await call(
        'logs_search',
        { query: '{service_name="checkout"}', start: '2026-03-14T12:00:00.000000000Z', end },
        services,
      );
      expect(newest.returned).toBe(0);
      // the metric tool reads the same limit
      const metric = await callError(
        'logs_query_metric',
        { query: 'count_over_time({service_name="checkout"}[5m])', start: 'now-2d', step: '1h' },
        services,
      );
      expect(metric.code).toBe('ERR_INVALID_INPUT');
      expect(metric.message).toMatch(/^Loki reads at most 1d per query \(its max_query_length\)/);
      const many = await callError('logs_search', { query: '{service_name="checkout"}', limit: 2000 }, services);
      expect(many.code).toBe('ERR_INVALID_INPUT');
      expect(many.message).toBe(
        'Loki returns at most 1000 lines per query (its max_entries_limit_per_query) and limit was 2000: ask again with limit=1000 or less',
      );
    } finally {
      loki.maxQueryLengthSeconds = 721 * 3600;
      loki.maxEntriesLimit = 5000;
    }
  });
});

describe('log label lists page by key', () => {
  it('a value appearing before the cursor makes the next page repeat none, and says the list changed', async () => {
    const own = new LokiSimulator();
    await own.start();
    try {
      const svc = makeServices({ loki: { url: own.url } });
      for (const v of ['m1', 'm2', 'm3', 'm4']) own.push({ app: v }, [{ atMs: now - 1000, line: 'x' }]);
      own.push({ app: 'm5', zone: 'z' }, [{ atMs: now - 1000, line: 'x' }]);
      const first = await call('logs_list_label_values', { label: 'app', limit: 2 }, svc);
      expect(first.values).toEqual(['m1', 'm2']);
      own.push({ app: 'a0' }, [{ atMs: now - 1000, line: 'x' }]);
      const second = await call('logs_list_label_values', { label: 'app', limit: 2, cursor: first.nextCursor }, svc);
      expect(second.values).toEqual(['m3', 'm4']);
      expect(second.note).toMatch(/^The label values changed since the previous page/);
      const names = await call('logs_list_labels', { limit: 1 }, svc);
      own.push({ aaa: 'x' }, [{ atMs: now - 1000, line: 'x' }]);
      const rest = await call('logs_list_labels', { limit: 1, cursor: names.nextCursor }, svc);
      expect([names.labels, rest.labels]).toEqual([['app'], ['zone']]);
    } finally {
      await own.close();
    }
  });
});
