/**
 * Every observability backend behind a fault-injecting proxy: real Prometheus and Alertmanager, the Loki,
 * Tempo and Grafana simulators. Each fault (hang, stall after headers, trickle, reset mid-body, endless
 * body) must end by the call's deadline in a tool error that names the backend and says what to do,
 * read no more than the body cap, and leave no slot or socket behind.
 */
import { type ObservabilityServices, observabilityServer } from '@ravenhelm/mcp-observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultMode, type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { collectingGarbage, type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { GrafanaSimulator } from '../simulators/grafana.js';
import { LokiSimulator } from '../simulators/loki.js';
import { TempoSimulator } from '../simulators/tempo.js';
import {
  type Listening,
  listen,
  type Proc,
  postAlerts,
  startAlertmanager,
  startExporter,
  startPrometheus,
  waitFor,
} from './fixture.js';

const TIMEOUT_MS = 1500;
const SLACK_MS = 1000;
const CAP = 256 * 1024;
const GRAFANA_TOKEN = 'glsa_fault_token_never_shown';

let exporter: Listening;
let prometheus: Proc;
let alertmanager: Proc;
const loki = new LokiSimulator();
const tempo = new TempoSimulator();
const grafana = new GrafanaSimulator(GRAFANA_TOKEN);
const proxies: Record<string, FaultProxy> = {};
let server: ServedOverHttp<ObservabilityServices>;

/** One cheap call per backend, and what its error must name. */
const BACKENDS = {
  prometheus: { name: 'Prometheus', tool: 'metrics_query', args: { query: 'up' } },
  alertmanager: { name: 'Alertmanager', tool: 'alerts_list', args: {} },
  loki: { name: 'Loki', tool: 'logs_search', args: { query: '{service_name="checkout"}', limit: 5 } },
  tempo: { name: 'Tempo', tool: 'traces_search', args: { query: '{ status = error }' } },
  grafana: { name: 'Grafana', tool: 'dashboards_search', args: { query: 'checkout' } },
} as const;
type Family = keyof typeof BACKENDS;
const FAMILIES = Object.keys(BACKENDS) as Family[];

const endless = (contentType: string): FaultMode => ({
  kind: 'endless',
  headers: { 'content-type': contentType },
  head: '{"status":"success","data":{"resultType":"vector","result":[',
  chunk: '{"metric":{"__name__":"up","job":"flood"},"value":[1700000000,"1"]},',
});

const MODES: Record<string, FaultMode> = {
  hang: { kind: 'hang' },
  'stall-after-headers': { kind: 'stall-after-headers' },
  'stall-mid-body': { kind: 'stall-after-headers', bodyBytes: 5 },
  'trickle-headers': { kind: 'trickle', bytes: 1, everyMs: 100 },
  'trickle-body': { kind: 'trickle', bytes: 1, everyMs: 100, bodyOnly: true },
  'reset-mid-body': { kind: 'reset-mid-body', bodyBytes: 1 },
  endless: endless('application/json'),
};

beforeAll(async () => {
  exporter = await startExporter();
  [prometheus, alertmanager] = await Promise.all([
    startPrometheus([exporter.url]),
    startAlertmanager(),
    loki.start(),
    tempo.start(),
    grafana.start(),
  ]);
  loki.push({ service_name: 'checkout' }, ['level=error msg="payment declined"']);
  // answers longer than the few bytes a mid-body fault lets through
  await postAlerts(alertmanager.url, [{ labels: { alertname: 'HighErrorRate', service: 'checkout' } }]);
  grafana.add({ uid: 'checkout', title: 'Checkout', tags: [], folderUid: 'f', folderTitle: 'Shop', panels: [] });
  const targets: Record<Family, string> = {
    prometheus: prometheus.url,
    alertmanager: alertmanager.url,
    loki: loki.url,
    tempo: tempo.url,
    grafana: grafana.url,
  };
  const env: Record<string, string> = { RAVENHELM_TOOLSETS: 'all', GRAFANA_TOKEN };
  for (const f of FAMILIES) {
    const u = new URL(targets[f]);
    const proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
    proxies[f] = proxy;
    const P = f.toUpperCase();
    env[`${P}_URL`] = proxy.url as string;
    env[`${P}_TIMEOUT_MS`] = String(TIMEOUT_MS);
    env[`${P}_MAX_RESPONSE_BYTES`] = String(CAP);
  }
  server = await serveOverHttp<ObservabilityServices>(observabilityServer, env, ['mcp:observability:admin']);
  await waitFor('every backend to answer through its proxy', async () => {
    for (const f of FAMILIES) {
      const r = await server.call(BACKENDS[f].tool, BACKENDS[f].args);
      if (r.isError) return false;
    }
    return true;
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await Promise.all([prometheus?.stop(), alertmanager?.stop(), loki.close(), tempo.close(), grafana.close()]);
  await exporter?.close();
});

function limiter() {
  return server.services.prometheus.http.limiter;
}

describe.each(FAMILIES)('%s behind a faulty connection', (family) => {
  const { name, tool, args } = BACKENDS[family];
  it.each(Object.keys(MODES))(
    '%s: a tool error by the deadline, naming the backend',
    async (mode) => {
      const proxy = proxies[family] as FaultProxy;
      proxy.mode = MODES[mode] as FaultMode;
      const before = proxy.endlessBytes;
      let a: Awaited<ReturnType<typeof server.call>>;
      try {
        // garbage is collected during the call: a collected fetch once lost its abort and hung for good
        a = await collectingGarbage(() => server.call(tool, args));
      } finally {
        proxy.mode = { kind: 'pass' };
      }
      console.log(`${family} ${mode}: ${a.ms} ms: ${a.text.slice(0, 400)}`);
      expect(a.isError, a.text).toBe(true);
      expect(a.text).toContain(name);
      expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(a.text).not.toContain(GRAFANA_TOKEN);
      if (mode === 'endless') {
        expect(a.text).toMatch(/ERR_OUTPUT_TOO_LARGE/);
        // the proxy may have written the cap plus what socket buffers hold, not more
        expect(proxy.endlessBytes - before).toBeLessThan(CAP + 8 * 1024 * 1024);
      } else if (mode === 'reset-mid-body') {
        expect(a.text).toMatch(/ERR_BACKEND_UNAVAILABLE: the connection to \w+ broke while its answer was read/);
        expect(a.text).toMatch(/retry/);
      } else if (mode === 'hang' || mode === 'trickle-headers') {
        expect(a.text).toMatch(/ERR_BACKEND_TIMEOUT: \w+ did not answer within 1500 ms/);
      } else {
        // the headers came, the body did not finish: said so, with what to do
        expect(a.text).toMatch(
          /ERR_BACKEND_TIMEOUT: \w+ did not finish answering within 1500 ms .* bytes of its HTTP 200 answer/,
        );
        expect(a.text).toMatch(/retry/);
      }
      // the faulted connection is closed by the client, and the backend works again
      await proxy.drained(3000);
      const ok = await server.call(tool, args);
      expect(ok.isError, ok.text).toBe(false);
      expect({ active: limiter().active, waiting: limiter().waiting }).toEqual({ active: 0, waiting: 0 });
    },
    30_000,
  );
});

describe('no leak after many faults', () => {
  it('50 faulted Prometheus calls (10 at a time) leave no slot, no in-flight call and no open socket', async () => {
    const proxy = proxies.prometheus as FaultProxy;
    const modes = Object.values(MODES);
    const maxMs: number[] = [];
    for (let round = 0; round < 5; round++) {
      proxy.mode = modes[round % modes.length] as FaultMode;
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => server.call('metrics_query', { query: 'up' })),
      );
      for (const a of answers) expect(a.isError, a.text).toBe(true);
      maxMs.push(Math.max(...answers.map((a) => a.ms)));
    }
    proxy.mode = { kind: 'pass' };
    console.log(`50 faulted calls: slowest per round ${maxMs.join(', ')} ms`);
    for (const ms of maxMs) expect(ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(server.rt.pipeline.inFlight).toBe(0);
    expect({ active: limiter().active, waiting: limiter().waiting }).toEqual({ active: 0, waiting: 0 });
    // every faulted connection was closed by the client: none is left open at the proxy
    await proxy.drained(5000);
    const after = await Promise.all(Array.from({ length: 8 }, () => server.call('metrics_query', { query: 'up' })));
    for (const a of after) expect(a.isError, a.text).toBe(false);
  }, 60_000);
});

/**
 * A backend that answers, but not what its API documents: an echoed credential in an error of any status,
 * a malformed payload, a Thanos partial response. One programmable backend stands in for all five.
 */
describe('answers a backend gets wrong', () => {
  const TOKEN = 'SuperSecretPromToken123';
  const LOKI_PASSWORD = 'LokiPw!"\\x';
  let answer: (auth: string) => { status: number; body: unknown } = () => ({ status: 200, body: {} });
  let backend: Listening;
  let wrong: ServedOverHttp<ObservabilityServices>;

  beforeAll(async () => {
    backend = await listen((req, res) => {
      const { status, body } = answer(req.headers.authorization ?? '');
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const env: Record<string, string> = { RAVENHELM_TOOLSETS: 'all' };
    for (const f of FAMILIES) {
      env[`${f.toUpperCase()}_URL`] = backend.url;
      env[`${f.toUpperCase()}_TOKEN`] = `${TOKEN}-${f}`;
    }
    delete env.LOKI_TOKEN;
    Object.assign(env, { LOKI_USERNAME: 'loki-user', LOKI_PASSWORD });
    wrong = await serveOverHttp<ObservabilityServices>(observabilityServer, env, ['mcp:observability:admin']);
  }, 60_000);

  afterAll(async () => {
    await wrong?.close();
    await backend?.close();
  });

  async function answered(family: Family, tool: string, args: Record<string, unknown>, body: unknown) {
    answer = () => ({ status: 200, body });
    const a = await wrong.call(tool, args);
    console.log(`${family} ${tool}: ${a.text.slice(0, 300)}`);
    return a;
  }

  const ERROR_BODIES: Record<Family, (auth: string) => unknown> = {
    prometheus: (auth) => ({ status: 'error', errorType: 'bad_data', error: `bad request, headers: ${auth}` }),
    alertmanager: (auth) => ({ message: `headers: ${auth}` }),
    loki: (auth) => `parse error at line 1, col 1: headers: ${auth}`,
    tempo: (auth) => ({ error: `headers: ${auth}` }),
    grafana: (auth) => ({ message: `headers: ${auth}` }),
  };

  it.each(
    FAMILIES.flatMap((f) => [200, 202, 500].map((status) => [f, status] as const)).filter(
      ([f, status]) => status !== 200 || f === 'prometheus',
    ),
  )('%s: an error answer (HTTP %i) that echoes our credentials loses them', async (family, status) => {
    const { name, tool, args } = BACKENDS[family];
    let echoed = '';
    answer = (auth) => {
      echoed = auth;
      return { status, body: ERROR_BODIES[family](auth) };
    };
    const a = await wrong.call(tool, args);
    console.log(`${family} HTTP ${status}: ${a.text.slice(0, 300)}`);
    expect(a.isError, a.text).toBe(true);
    expect(a.text).toContain(name);
    expect(a.text).toContain('[redacted]');
    const secrets = [TOKEN, 'LokiPw', echoed.replace(/^(Bearer|Basic) /, '')];
    for (const secret of secrets) expect(a.text).not.toContain(secret);
    expect(JSON.stringify(a.structured ?? {})).not.toContain(TOKEN);
  });

  const vector = (result: unknown) => ({ status: 'success', data: { resultType: 'vector', result } });
  const alert = {
    labels: { alertname: 'HighErrorRate' },
    annotations: {},
    startsAt: '2026-01-31T12:00:00Z',
    endsAt: '2026-01-31T13:00:00Z',
    fingerprint: 'abc',
    receivers: [{ name: 'team' }],
    status: { state: 'active', silencedBy: [], inhibitedBy: [] },
  };
  const MALFORMED: [string, Family, string, Record<string, unknown>, unknown, string][] = [
    [
      'Prometheus data: null',
      'prometheus',
      'metrics_query',
      { query: 'up' },
      { status: 'success', data: null },
      'data',
    ],
    ['Prometheus result not a list', 'prometheus', 'metrics_query', { query: 'up' }, vector('x'), 'data.result'],
    [
      'Prometheus matrix values a string',
      'prometheus',
      'metrics_query_range',
      { query: 'up' },
      { status: 'success', data: { resultType: 'matrix', result: [{ metric: {}, values: 'abc' }] } },
      'data.result[0].values',
    ],
    [
      'Loki timestamp not a number',
      'loki',
      'logs_search',
      { query: '{a="b"}' },
      {
        status: 'success',
        data: { resultType: 'streams', result: [{ stream: { a: 'b' }, values: [['notanumber', 'x']] }] },
      },
      'data.result[0].values',
    ],
    [
      'Tempo trace without traceID',
      'tempo',
      'traces_search',
      { query: '{ }' },
      { traces: [{ rootServiceName: 'x' }] },
      'traces[0].traceID',
    ],
    [
      'Alertmanager alert without status',
      'alertmanager',
      'alerts_list',
      {},
      [{ ...alert, status: undefined }],
      '[0].status',
    ],
    ['Grafana hit without uid', 'grafana', 'dashboards_search', {}, [{ title: 'x' }], '[0].uid'],
  ];

  it.each(MALFORMED)(
    '%s: ERR_BACKEND_ERROR naming the backend and the field',
    async (_, family, tool, args, body, field) => {
      const a = await answered(family, tool, args, body);
      expect(a.isError, a.text).toBe(true);
      expect(a.text.startsWith(`ERR_BACKEND_ERROR: ${BACKENDS[family].name} answered`), a.text).toBe(true);
      expect(a.text).toContain(`: ${field}: `);
    },
  );

  it('reads answers with fields it does not know (vendors add fields)', async () => {
    const extra = { newVendorField: { nested: [1, 2] } };
    const prom = await answered(
      'prometheus',
      'metrics_query',
      { query: 'up' },
      {
        status: 'success',
        ...extra,
        data: {
          resultType: 'vector',
          ...extra,
          result: [{ metric: { job: 'a' }, value: [1700000000, '1'], ...extra }],
        },
      },
    );
    expect(prom.isError, prom.text).toBe(false);
    expect(prom.structured?.samples).toEqual([{ labels: { job: 'a' }, value: '1' }]);
    const am = await answered('alertmanager', 'alerts_list', {}, [
      { ...alert, ...extra, status: { ...alert.status, ...extra } },
    ]);
    expect(am.isError, am.text).toBe(false);
    const tempo = await answered(
      'tempo',
      'traces_search',
      { query: '{ }' },
      { traces: [{ traceID: 'ab12', ...extra }], ...extra },
    );
    expect(tempo.isError, tempo.text).toBe(false);
  });

  it('reports Prometheus warnings (a partial response) and infos (PromQL hints) on instant and range queries, bounded and counted', async () => {
    const warnings = [
      'partial response: store gateway eu-west-1 unavailable, 2 of 3 stores answered',
      `long ${'w'.repeat(2000)}`,
      ...Array.from({ length: 5 }, (_, i) => `store ${i} unavailable`),
    ];
    const instant = await answered(
      'prometheus',
      'metrics_query',
      { query: 'up' },
      {
        ...vector([{ metric: { job: 'api' }, value: [1700000000, '1'] }]),
        warnings,
        infos: ['PromQL info: metric might not be a counter'],
      },
    );
    expect(instant.isError, instant.text).toBe(false);
    const got: string[] = instant.structured?.warnings;
    expect(got).toHaveLength(5);
    expect(got[0]).toBe(warnings[0]);
    expect(got[1]?.length).toBeLessThanOrEqual(201);
    expect(got[4]).toBe('(3 more warnings not shown; 7 in all)');
    expect(instant.text).toContain('store gateway eu-west-1 unavailable');
    // PromQL hints (Prometheus 2.50+) come back as infos, apart from the warnings
    expect(instant.structured?.infos).toEqual(['PromQL info: metric might not be a counter']);
    const range = await answered(
      'prometheus',
      'metrics_query_range',
      { query: 'up' },
      {
        status: 'success',
        warnings: [warnings[0]],
        infos: ['PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket'],
        data: { resultType: 'matrix', result: [{ metric: { job: 'api' }, values: [[1700000000, '1']] }] },
      },
    );
    expect(range.isError, range.text).toBe(false);
    expect(range.structured?.warnings).toEqual([warnings[0]]);
    expect(range.structured?.infos).toEqual([
      'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket',
    ]);
    // no warnings: no field
    const clean = await answered('prometheus', 'metrics_query', { query: 'up' }, vector([]));
    expect(clean.structured).not.toHaveProperty('warnings');
    expect(clean.structured).not.toHaveProperty('infos');
  });
});
