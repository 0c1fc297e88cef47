/**
 * Paging a range whose times are relative ("now-2m", end omitted): every page reads the first page's window.
 * The end used to be read again on each call, so page 2 ranked the series over a window that had moved: its
 * values differed, the page said the list "changed", and series could repeat or be passed over. The cursor now
 * carries the instant the first page read "now" at, bound to the tool and its arguments. Against the real
 * Prometheus scraping a live exporter (values move every second), and the Loki simulator, through the real SDK
 * client over stdio (output validation on).
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LokiSimulator } from '../simulators/loki.js';
import { type Listening, type Proc, SENSORS, startExporter, startPrometheus, waitFor } from './fixture.js';
import { connectObservabilityStdio } from './stdio-client.js';

let exporter: Listening;
let prom: Proc;
const loki = new LokiSimulator();
let client: Client;

// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
type Answer = Record<string, any>;

async function callOk(name: string, args: Record<string, unknown>): Promise<Answer> {
  const res = await client.callTool({ name, arguments: args });
  if (res.isError) throw new Error(`${name}: ${JSON.stringify(res.content)}`);
  return res.structuredContent as Answer;
}

async function callRefused(name: string, args: Record<string, unknown>): Promise<string> {
  const res = await client.callTool({ name, arguments: args });
  expect(res.isError).toBe(true);
  return (res.content as { text: string }[]).map((c) => c.text).join('\n');
}

/** Waits until Prometheus holds a sample newer than `afterSeconds` (the window of a fresh call moved past it). */
async function newerSample(afterSeconds: number): Promise<void> {
  await waitFor('a newer sample', async () => {
    const r = await callOk('metrics_query', { query: 'timestamp(demo_temperature_celsius{sensor="s0"})' });
    return Number(r.samples[0]?.value) > afterSeconds + 2;
  });
}

const sensors = (r: Answer): string[] =>
  (r.series ?? r.raw).map((s: { labels: { sensor: string } }) => s.labels.sensor);

beforeAll(async () => {
  exporter = await startExporter();
  prom = await startPrometheus([exporter.url]);
  await loki.start();
  const now = Date.now();
  for (let p = 0; p < 12; p++) {
    loki.push(
      { env: 'prod', pod: `pod-${String(p).padStart(2, '0')}` },
      Array.from({ length: 30 }, (_, i) => ({ atMs: now - 100_000 + i * 3000, line: `n=${i}` })),
    );
  }
  client = await connectObservabilityStdio('range-window', { PROMETHEUS_URL: prom.url, LOKI_URL: loki.url });
  await waitFor('8 s of sensor samples', async () => {
    const r = await callOk('metrics_query', { query: 'count_over_time(demo_temperature_celsius{sensor="s0"}[1m])' });
    return r.total === 1 && Number(r.samples[0].value) >= 8;
  });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await prom?.stop();
  await exporter?.close();
  await loki.close();
});

describe('a relative range pages over the first page window', () => {
  it('metrics_query_range (summary by last, and raw): page 2 seconds later has the same window, no change, no repeat or skip', async () => {
    for (const mode of ['summary', 'raw'] as const) {
      const args = { query: 'demo_temperature_celsius', start: 'now-1m', step: '1s', sortBy: 'last', topK: 10, mode };
      const first = await callOk('metrics_query_range', args);
      expect(first.total).toBe(SENSORS);
      expect(first.nextCursor).toBeDefined();
      await newerSample(first.end);
      const second = await callOk('metrics_query_range', { ...args, cursor: first.nextCursor });
      expect([second.start, second.end, second.step]).toEqual([first.start, first.end, first.step]);
      expect(second.cut ?? []).toEqual([]);
      // the two pages are the first 20 of the whole listing over that window, each once
      const whole = await callOk('metrics_query_range', {
        ...args,
        start: String(first.start),
        end: String(first.end),
        topK: 20,
      });
      expect([...sensors(first), ...sensors(second)]).toEqual(sensors(whole));
      // and the page after that still reads the same window
      const third = await callOk('metrics_query_range', { ...args, cursor: second.nextCursor });
      expect([third.start, third.end]).toEqual([first.start, first.end]);
    }
  });

  it('metrics_query with the time omitted: page 2 is evaluated at page 1 time', async () => {
    const first = await callOk('metrics_query', { query: 'demo_temperature_celsius', sort: 'desc', limit: 10 });
    await newerSample(first.time);
    const second = await callOk('metrics_query', {
      query: 'demo_temperature_celsius',
      sort: 'desc',
      limit: 10,
      cursor: first.nextCursor,
    });
    expect(second.time).toBe(first.time);
    expect(second.note).toBeUndefined();
    const whole = await callOk('metrics_query', {
      query: 'demo_temperature_celsius',
      sort: 'desc',
      limit: 20,
      time: String(first.time),
    });
    const names = (r: Answer) => r.samples.map((s: { labels: { sensor: string } }) => s.labels.sensor);
    expect([...names(first), ...names(second)]).toEqual(names(whole));
  });

  it('logs_query_metric: page 2 reads the first page window', async () => {
    const args = { query: 'sum by (pod) (count_over_time({env="prod"} [10s]))', start: 'now-2m', step: '10s', topK: 4 };
    const first = await callOk('logs_query_metric', args);
    expect(first.nextCursor).toBeDefined();
    await new Promise((r) => setTimeout(r, 1100));
    const second = await callOk('logs_query_metric', { ...args, cursor: first.nextCursor });
    expect([second.start, second.end, second.step]).toEqual([first.start, first.end, first.step]);
  });

  it('logs_list_labels and logs_list_label_values: page 2 asks Loki for the first page window', async () => {
    const windowOf = (path: string) => {
      const r = [...loki.control.requests].reverse().find((q) => q.url.pathname.startsWith(path));
      return [r?.url.searchParams.get('start'), r?.url.searchParams.get('end')];
    };
    const first = await callOk('logs_list_label_values', { label: 'pod', start: 'now-10m', limit: 5 });
    expect(first.nextCursor).toBeDefined();
    const asked = windowOf('/loki/api/v1/label/pod/values');
    await new Promise((r) => setTimeout(r, 1100));
    await callOk('logs_list_label_values', { label: 'pod', start: 'now-10m', limit: 5, cursor: first.nextCursor });
    expect(windowOf('/loki/api/v1/label/pod/values')).toEqual(asked);
    const names = await callOk('logs_list_labels', { limit: 1 });
    expect(names.nextCursor).toBeDefined();
    const namesAsked = windowOf('/loki/api/v1/labels');
    await new Promise((r) => setTimeout(r, 1100));
    await callOk('logs_list_labels', { limit: 1, cursor: names.nextCursor });
    expect(windowOf('/loki/api/v1/labels')).toEqual(namesAsked);
  });

  it('refuses a cursor whose carried window was altered, and one of other arguments', async () => {
    const args = { query: 'demo_temperature_celsius', start: 'now-1m', step: '1s', topK: 5 };
    const first = await callOk('metrics_query_range', args);
    const raw = Buffer.from(first.nextCursor, 'base64url');
    // the carried instant: 6 bytes after the version, digests and its length byte; an hour earlier
    const at = raw.readUIntBE(18, 6);
    raw.writeUIntBE(at - 3_600_000, 18, 6);
    const altered = await callRefused('metrics_query_range', { ...args, cursor: raw.toString('base64url') });
    expect(altered).toMatch(/cursor belongs to another listing of metrics_query_range .*or was altered/);
    const other = await callRefused('metrics_query_range', { ...args, start: 'now-2m', cursor: first.nextCursor });
    expect(other).toMatch(/another listing of metrics_query_range/);
    // an absolute range carries nothing: its cursor has no room for a window to alter
    const fixed = await callOk('metrics_query_range', {
      ...args,
      start: String(first.start),
      end: String(first.end),
    });
    expect(Buffer.from(fixed.nextCursor, 'base64url')[0]! & 0x7f).toBe(1);
  });
});
