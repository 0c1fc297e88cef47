/**
 * Fifth attack round on the observability server, from outside: through the real SDK `Client` (stdio, output
 * validation on) against the real Prometheus and the vendor simulators. Values at the edges of float64
 * (Prometheus serves any finite float, up to 1.797e308, and NaN / ±Inf / -0 as text).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startPrometheus } from '../observability/fixture.js';
import { connectObservabilityStdio } from '../observability/stdio-client.js';
import { GrafanaSimulator } from '../simulators/grafana.js';

const GRAFANA_TOKEN = 'glsa_attack5_token';
const grafana = new GrafanaSimulator(GRAFANA_TOKEN);

let prom: Proc;
let client: Client;
let state: string;

beforeAll(async () => {
  [prom] = await Promise.all([startPrometheus([]), grafana.start()]);
  state = await mkdtemp(join(tmpdir(), 'obs-attack5-'));
  client = await connectObservabilityStdio('attack5-observability', {
    PROMETHEUS_URL: prom.url,
    GRAFANA_URL: grafana.url,
    GRAFANA_TOKEN,
    RAVENHELM_AUDIT_FILE: join(state, 'audit.jsonl'),
  });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await Promise.all([prom?.stop(), grafana.close()]);
  if (state) await rm(state, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: checked field by field
async function callOk(name: string, args: Record<string, unknown>): Promise<any> {
  const res = await client.callTool({ name, arguments: args });
  const text = (res.content as { type: string; text?: string }[]).map((c) => c.text ?? '').join('');
  expect(res.isError, text).toBeFalsy();
  return res.structuredContent;
}

describe('float64 edges in Prometheus values', () => {
  it('metrics_query_range summarizes series of values near Number.MAX_VALUE (their sum overflows) with finite stats', async () => {
    const r = await callOk('metrics_query_range', {
      query: 'vector(1.7e308) or label_replace(vector(-1.7e308), "sign", "neg", "", "")',
      start: 'now-5m',
      end: 'now',
      step: '1m',
    });
    const [pos, neg] = [...r.series].sort((a, b) => b.stats.max - a.stats.max);
    expect(pos.stats).toMatchObject({ min: 1.7e308, max: 1.7e308, avg: 1.7e308, last: 1.7e308, samples: 6 });
    expect(neg.stats).toMatchObject({ min: -1.7e308, avg: -1.7e308, samples: 6 });
    expect(pos.downsampled.every(([, v]: [number, number]) => v === 1.7e308)).toBe(true);
  });

  it('a series mixing ±1.7e308 averages to a finite value; NaN, ±Inf and -0 are counted or kept as text', async () => {
    // one series alternating between the two extremes over time
    const r = await callOk('metrics_query_range', {
      query: '(vector(1.7e308) and on() (vector(time()) % 120 < 60)) or vector(-1.7e308)',
      start: 'now-10m',
      end: 'now',
      step: '30s',
    });
    for (const s of r.series) expect(Number.isFinite(s.stats.avg)).toBe(true);
    const edges = await callOk('metrics_query_range', {
      query:
        'label_replace(vector(0/0), "v", "nan", "", "") or label_replace(vector(1/0), "v", "inf", "", "") or label_replace(vector(-0), "v", "negzero", "", "")',
      start: 'now-2m',
      end: 'now',
      step: '1m',
      mode: 'raw',
    });
    const byV = Object.fromEntries(edges.raw.map((s: { labels: { v: string }; v: string[] }) => [s.labels.v, s.v]));
    expect(byV).toMatchObject({
      nan: ['NaN', 'NaN', 'NaN'],
      inf: ['+Inf', '+Inf', '+Inf'],
      negzero: ['-0', '-0', '-0'],
    });
  });
});

describe('Grafana dashboards shaped against the reader', () => {
  it('a v2 layout naming an element "constructor" or "toString" (absent from elements) lists no phantom panel', async () => {
    const panel = (title: string) => ({
      kind: 'Panel',
      spec: { id: 1, title, vizConfig: { group: 'timeseries' }, data: { kind: 'QueryGroup', spec: { queries: [] } } },
    });
    const item = (name: string) => ({ kind: 'GridLayoutItem', spec: { element: { kind: 'ElementReference', name } } });
    grafana.addV2('proto-layout', {
      title: 'Proto layout',
      elements: { real: panel('Real') },
      layout: {
        kind: 'RowsLayout',
        spec: {
          rows: [
            {
              kind: 'RowsLayoutRow',
              spec: {
                title: 'Row',
                layout: {
                  kind: 'GridLayout',
                  spec: { items: [item('constructor'), item('real'), item('toString'), item('__proto__')] },
                },
              },
            },
          ],
        },
      },
    });
    const r = await callOk('dashboards_get', { uid: 'proto-layout' });
    expect(r.panels.map((p: { title: string; row: string | null }) => [p.title, p.row])).toEqual([['Real', 'Row']]);
    expect(r.total).toBe(1);
  });
});
