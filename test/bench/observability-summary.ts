/**
 * Output size of metrics_query_range: the raw Prometheus answer against the tool's summary, over a real
 * Prometheus scraping a prom-client target with 220 series every second.
 *
 *   node --conditions=@ravenhelm/source --import tsx test/bench/observability-summary.ts
 */
import { ROUTES, startExporter, startPrometheus, waitFor } from '../observability/fixture.js';
import { call, makeServices } from '../observability/harness.js';

const HISTORY_SECONDS = 25;

interface Case {
  label: string;
  query: string;
  rangeSeconds: number;
  step: string;
  stepSeconds: number;
}

const CASES: Case[] = [
  {
    label: 'counter, 180 series, 10ms step',
    query: 'demo_requests_total',
    rangeSeconds: 15,
    step: '10ms',
    stepSeconds: 0.01,
  },
  {
    label: 'every job="demo" series (220 + 5 scrape series), 50ms step',
    query: '{job="demo"}',
    rangeSeconds: 20,
    step: '50ms',
    stepSeconds: 0.05,
  },
  {
    label: 'rate by route (60 series), 20ms step',
    query: 'sum by (route) (rate(demo_requests_total[5s]))',
    rangeSeconds: 15,
    step: '20ms',
    stepSeconds: 0.02,
  },
  {
    label: 'gauge, 40 series, 1s step',
    query: 'demo_temperature_celsius',
    rangeSeconds: 20,
    step: '1s',
    stepSeconds: 1,
  },
];

const exporter = await startExporter();
const prom = await startPrometheus([exporter.url]);
try {
  const services = makeServices({ prometheus: { url: prom.url } });
  console.error(`waiting ${HISTORY_SECONDS}s of scrapes...`);
  await waitFor(
    `${HISTORY_SECONDS} scrapes`,
    async () => {
      const res = await fetch(
        `${prom.url}/api/v1/query?query=${encodeURIComponent(`count(count_over_time(demo_requests_total[1m]) >= ${HISTORY_SECONDS})`)}`,
      );
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      return Number(body.data.result[0]?.value[1]) === ROUTES * 3;
    },
    HISTORY_SECONDS * 1000 + 30_000,
  );

  const rows: string[][] = [];
  for (const c of CASES) {
    const end = Math.floor(Date.now() / 1000) - 1;
    const start = end - c.rangeSeconds;
    const t0 = performance.now();
    const raw = await fetch(
      `${prom.url}/api/v1/query_range?${new URLSearchParams({ query: c.query, start: String(start), end: String(end), step: String(c.stepSeconds) })}`,
    );
    const rawText = await raw.text();
    const rawMs = performance.now() - t0;
    const parsed = JSON.parse(rawText) as { data: { result: { values: unknown[] }[] } };
    const series = parsed.data.result.length;
    const points = Math.max(...parsed.data.result.map((s) => s.values.length));
    const args = {
      query: c.query,
      start: String(start),
      end: String(end),
      step: c.step,
      maxPointsPerSeries: 11_000,
    };
    const t1 = performance.now();
    const summary = await call('metrics_query_range', args, services);
    const summaryMs = performance.now() - t1;
    const wide = await call('metrics_query_range', { ...args, topK: 100 }, services);
    const rawMode = await call('metrics_query_range', { ...args, mode: 'raw', topK: 100 }, services);
    const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
    const rawBytes = Buffer.byteLength(rawText);
    rows.push([
      c.label,
      String(series),
      String(points),
      rawBytes.toLocaleString('en'),
      `${bytes(summary).toLocaleString('en')} (${summary.returned} series)`,
      `${bytes(wide).toLocaleString('en')} (${wide.returned} series)`,
      `${bytes(rawMode).toLocaleString('en')} (${rawMode.returned} series, truncated=${rawMode.truncated})`,
      `${Math.round(rawBytes / bytes(summary))}x`,
      `${rawMs.toFixed(0)} / ${summaryMs.toFixed(0)}`,
    ]);
  }
  const header = [
    'query',
    'series',
    'points/series',
    'raw Prometheus bytes',
    'summary (topK 10)',
    'summary (topK 100)',
    'raw mode (64 KiB budget)',
    'raw/summary',
    'ms raw / tool',
  ];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} finally {
  await prom.stop();
  await exporter.close();
}
