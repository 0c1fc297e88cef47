import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { LokiSimulator } from '../simulators/loki.js';
import {
  type Listening,
  listen,
  type Proc,
  postAlerts,
  startAlertmanager,
  startPrometheus,
  waitFor,
} from './fixture.js';
import { call, makeServices } from './harness.js';

/**
 * `__proto__` is a valid label name (Prometheus [a-zA-Z_][a-zA-Z0-9_]*) and Alertmanager 0.25 stores, filters
 * and returns alerts and silences that carry it. JSON.parse keeps it as an own key; a zod record or an
 * `obj[k] = v` would drop it without a word. Objects below come from JSON text so the key is an own key.
 */
const labels = (json: string) => JSON.parse(json) as Record<string, string>;

let am: Proc;
let prom: Proc;
let exporter: Listening;
let services: ReturnType<typeof makeServices>;

beforeAll(async () => {
  // a target whose metric is named __proto__ (a valid metric name: [a-zA-Z_:][a-zA-Z0-9_:]*)
  exporter = await listen((_req, res) => {
    res
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      .end('# HELP __proto__ Named like the prototype.\n# TYPE __proto__ gauge\n__proto__ 1\n');
  });
  [am, prom] = await Promise.all([startAlertmanager(), startPrometheus([exporter.url])]);
  services = makeServices({ alertmanager: { url: am.url }, prometheus: { url: prom.url } });
  await postAlerts(am.url, [
    {
      labels: labels('{"alertname":"ProtoLabel","__proto__":"x","constructor":"c","severity":"critical"}'),
      annotations: labels('{"__proto__":"proto annotation","summary":"s"}'),
    },
    { labels: { alertname: 'Odd', severity: 'constructor' } },
    { labels: { alertname: 'Odder', severity: '__proto__' } },
    { labels: { alertname: 'OddToo', severity: 'toString' } },
    ...Array.from({ length: 6 }, (_, i) => ({ labels: { alertname: 'Info', severity: 'info', instance: `i${i}` } })),
  ]);
  await waitFor('every alert to be active', async () => {
    const res = await fetch(`${am.url}/api/v2/alerts?active=true`);
    return ((await res.json()) as unknown[]).length === 10;
  });
});

afterAll(async () => {
  await Promise.all([am?.stop(), prom?.stop(), exporter?.close()]);
});

describe('labels named like Object.prototype members', () => {
  it('alerts_list keeps a __proto__ label and annotation as Alertmanager returns them', async () => {
    const r = await call('alerts_list', { matchers: ['__proto__="x"'] }, services);
    expect(r.total).toBe(1);
    const [alert] = r.alerts;
    expect(Object.hasOwn(alert.labels, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(alert.labels, '__proto__')?.value).toBe('x');
    expect(alert.labels.constructor).toBe('c');
    expect(Object.hasOwn(alert.annotations, '__proto__')).toBe(true);
    expect(JSON.stringify(alert.annotations)).toBe('{"__proto__":"proto annotation","summary":"s"}');
    expect(alert.cut).toBeUndefined();
  });

  it('ranks a severity named like a prototype member as unknown (after info), not by a NaN comparison', async () => {
    const r = await call('alerts_list', {}, services);
    const names = r.alerts.map((a: { name: string }) => a.name);
    expect(names[0]).toBe('ProtoLabel');
    expect(names.slice(1, 7)).toEqual(Array(6).fill('Info'));
    expect(names.slice(7).sort()).toEqual(['Odd', 'OddToo', 'Odder']);
  });

  it('alerts_list_silences finds a silence on __proto__ from an alert label set that holds it', async () => {
    const res = await fetch(`${am.url}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: [{ name: '__proto__', value: 'x', isRegex: false, isEqual: true }],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: 'test',
        comment: 'proto',
      }),
    });
    expect(res.status).toBe(200);
    const id = ((await res.json()) as { silenceID: string }).silenceID;
    try {
      // Alertmanager itself mutes the alert: the label is real to it
      await waitFor('Alertmanager to silence ProtoLabel', async () => {
        const r = await call('alerts_list', { matchers: ['alertname="ProtoLabel"'] }, services);
        return r.alerts[0]?.silencedBy.includes(id) === true;
      });
      const found = await call(
        'alerts_list_silences',
        { labels: labels('{"alertname":"ProtoLabel","__proto__":"x"}') },
        services,
      );
      expect(found.silences.map((s: { id: string }) => s.id)).toEqual([id]);
      expect(found.silences[0].matchers).toEqual(['__proto__="x"']);
      const other = await call(
        'alerts_list_silences',
        { labels: labels('{"alertname":"ProtoLabel","__proto__":"y"}') },
        services,
      );
      expect(other.silences).toEqual([]);
    } finally {
      await fetch(`${am.url}/api/v2/silence/${id}`, { method: 'DELETE' });
    }
  });

  it('metrics_query and metrics_query_range keep a __proto__ label Prometheus puts on a series', async () => {
    // label_replace accepts any valid label name as its destination (promql/functions.go funcLabelReplace)
    const query = 'label_replace(vector(1), "__proto__", "x", "", "")';
    const instant = await call('metrics_query', { query }, services);
    expect(JSON.stringify(instant.samples[0].labels)).toBe('{"__proto__":"x"}');
    const range = await call('metrics_query_range', { query, start: 'now-5m', end: 'now', step: '1m' }, services);
    const labelsOf = JSON.stringify(range);
    expect(labelsOf).toContain('"labels":{"__proto__":"x"}');
  });

  it('metrics_get_metadata finds a metric named __proto__', async () => {
    await waitFor('Prometheus to scrape __proto__', async () => {
      const res = await fetch(`${prom.url}/api/v1/metadata?metric=__proto__`);
      return (await res.text()).includes('Named like the prototype');
    });
    const one = await call('metrics_get_metadata', { metric: '__proto__' }, services);
    expect(one.metrics).toEqual([{ metric: '__proto__', type: 'gauge', help: 'Named like the prototype.', unit: '' }]);
    const all = await call('metrics_get_metadata', { filter: 'proto' }, services);
    expect(all.metrics.map((m: { metric: string }) => m.metric)).toEqual(['__proto__']);
  });
});

describe('a __proto__ stream label from Loki', () => {
  it('logs_search keeps it in the stream labels', async () => {
    const loki = await new LokiSimulator().start();
    try {
      loki.push(labels('{"service_name":"proto","__proto__":"x"}'), ['level=error msg="proto"']);
      const svc = makeServices({ loki: { url: loki.url } });
      const r = await call('logs_search', { query: '{service_name="proto"}' }, svc);
      expect(r.streams.map((l: object) => JSON.stringify(l))).toEqual(['{"service_name":"proto","__proto__":"x"}']);
    } finally {
      await loki.close();
    }
  });
});

describe('a __proto__ label through the real SDK Client (stdio)', () => {
  it('reaches the tool in `labels` and comes back in structuredContent', async () => {
    const state = await mkdtemp(join(tmpdir(), 'obs-proto-'));
    const entry = tsEntry('servers/observability/src/bin.ts', ['--stdio']);
    const client = new Client({ name: 'proto-labels', version: '0' });
    const res = await fetch(`${am.url}/api/v2/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: [{ name: '__proto__', value: 'x', isRegex: false, isEqual: true }],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        createdBy: 'test',
        comment: 'proto over stdio',
      }),
    });
    const id = ((await res.json()) as { silenceID: string }).silenceID;
    try {
      await client.connect(
        new StdioClientTransport({
          command: entry.command,
          args: entry.args,
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '/tmp',
            ALERTMANAGER_URL: am.url,
            PROMETHEUS_URL: prom.url,
            RAVENHELM_AUDIT_FILE: join(state, 'audit.jsonl'),
          },
          stderr: 'ignore',
        }),
      );
      const listed = await client.callTool({ name: 'alerts_list', arguments: { matchers: ['__proto__="x"'] } });
      const alert = (listed.structuredContent as { alerts: { labels: object }[] }).alerts[0];
      expect(alert && Object.getOwnPropertyDescriptor(alert.labels, '__proto__')?.value).toBe('x');
      const found = await client.callTool({
        name: 'alerts_list_silences',
        arguments: { labels: labels('{"alertname":"ProtoLabel","__proto__":"x"}') },
      });
      expect(found.isError).toBeFalsy();
      expect((found.structuredContent as { silences: { id: string }[] }).silences.map((s) => s.id)).toEqual([id]);
    } finally {
      await client.close();
      await fetch(`${am.url}/api/v2/silence/${id}`, { method: 'DELETE' });
      await rm(state, { recursive: true, force: true });
    }
  }, 60_000);
});
