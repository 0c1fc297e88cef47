/**
 * Benchmark: cost as the work grows, on the real engines. Three tables; each row says how the cost grows
 * (flat, linear, worse) and the bound that keeps it so.
 *   1. Docker health report and container list with 10, 100 and 500 containers (busybox `sleep`,
 *      `--network none`, created over the Engine API 16 at a time, removed afterwards): time, bytes read
 *      from the engine, answer bytes, RSS growth.
 *   2. Docker logs of a container with 1 MB, 100 MB and 1 GB of output (json-file driver; sizes from
 *      BENCH_LOG_SIZES, e.g. "1M,100M,1G", the default): tail, grep over the largest tail, tail before
 *      `until`: time, bytes read from the engine, RSS growth.
 *   3. metrics_query_range over 10, 100 and 1,000 series scraped by a private Prometheus from a loopback
 *      exporter: time and RSS growth, the raw Prometheus answer beside ours.
 * The tools run in this process through invokeTool with their real backends; the Docker backend talks to
 * the engine through a counting proxy on a Unix socket, so "engine bytes" is what crossed the socket.
 * RSS growth = peak RSS sampled every 5 ms during the call minus RSS before it (after a GC).
 * Run: npm run bench -- growth
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Gauge, Registry } from 'prom-client';
import { ensureImage, TEST_IMAGE } from '../docker/fixture.js';
import { call as dockerCall, makeServices as dockerServices, tool } from '../docker/harness.js';
import { listen, startPrometheus, waitFor } from '../observability/fixture.js';
import { call as obsCall, makeServices as obsServices } from '../observability/harness.js';
import { runIfMain } from './common.js';

const ENGINE = '/var/run/docker.sock';
const COUNTS = (process.env.BENCH_CONTAINERS ?? '10,100,500').split(',').map(Number);
const LOG_SIZES = (process.env.BENCH_LOG_SIZES ?? '1M,100M,1G').split(',');
const SERIES = (process.env.BENCH_SERIES ?? '10,100,1000').split(',').map(Number);
const RUN = `growth-${process.pid}-${randomBytes(3).toString('hex')}`;
const LABEL = 'ravenhelm.bench.run';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Time, RSS growth and the result of one call. */
async function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; rssMb: number; value: T }> {
  gc();
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    peak = Math.max(peak, process.memoryUsage.rss());
    return { ms, rssMb: (peak - before) / 2 ** 20, value };
  } finally {
    clearInterval(timer);
  }
}

/** A Unix-socket proxy in front of the engine counting the bytes the engine sends. */
async function countingProxy(): Promise<{ path: string; bytes: () => number; reset: () => void; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'rh-growth-'));
  const path = join(dir, 'docker.sock');
  let bytes = 0;
  const server: Server = createServer((client) => {
    const engine = connect(ENGINE);
    engine.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    client.pipe(engine);
    engine.pipe(client);
    client.on('error', () => engine.destroy());
    engine.on('error', () => client.destroy());
    client.on('close', () => engine.destroy());
    engine.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    path,
    bytes: () => bytes,
    reset: () => {
      bytes = 0;
    },
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One Engine API call over the socket (the bench's own setup, not measured). */
function engine(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: ENGINE,
        path,
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`engine ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

async function runContainer(name: string, cmd: string[]): Promise<string> {
  const created = await engine('POST', `/containers/create?name=${name}`, {
    Image: TEST_IMAGE,
    Cmd: cmd,
    Labels: { [LABEL]: RUN, 'ravenhelm.test': '1' },
    HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'json-file', Config: {} } },
  });
  if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.json)}`);
  const id = (created.json as { Id: string }).Id;
  const started = await engine('POST', `/containers/${id}/start`);
  if (started.status !== 204) throw new Error(`start ${name}: ${started.status}`);
  return id;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function cleanup(): Promise<void> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${LABEL}=${RUN}`] }));
  const listed = (await engine('GET', `/containers/json?all=1&filters=${filters}`)).json as { Id: string }[];
  await mapLimit(listed, 16, async (c) => {
    await engine('DELETE', `/containers/${c.Id}?force=1&v=1`);
  });
}

const kb = (n: number) =>
  n < 1024 ? `${n} B` : `${(n / 1024).toLocaleString('en', { maximumFractionDigits: 0 })} KiB`;
const mb = (n: number) =>
  n < 2 ** 20 ? kb(n) : `${(n / 2 ** 20).toLocaleString('en', { maximumFractionDigits: 1 })} MiB`;
const table = (header: string[], rows: string[][]) => {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
};

/** "flat", "sublinear", "linear" or "worse" from cost at the smallest and largest size against the size ratio. */
function growth(small: number, large: number, sizeRatio: number): string {
  const ratio = large / Math.max(small, 1e-9);
  if (ratio < 3) return `flat (x${ratio.toFixed(1)} for x${sizeRatio})`;
  if (ratio < sizeRatio / 3) return `sublinear (x${ratio.toFixed(1)} for x${sizeRatio})`;
  if (ratio <= sizeRatio * 1.5) return `linear (x${ratio.toFixed(1)} for x${sizeRatio})`;
  return `worse (x${ratio.toFixed(1)} for x${sizeRatio})`;
}

async function containersTable(proxy: Awaited<ReturnType<typeof countingProxy>>): Promise<void> {
  const services = dockerServices({ socketPath: proxy.path, timeoutMs: 30_000 });
  const rows: string[][] = [];
  const costs: Record<string, { ms: number; bytes: number; rss: number }[]> = {
    health_get_report: [],
    containers_list: [],
  };
  let made = 0;
  for (const n of COUNTS) {
    const t0 = Date.now();
    const names = Array.from({ length: n - made }, (_, i) => `rh-${RUN}-c${made + i}`);
    await mapLimit(names, 16, async (name) => {
      await runContainer(name, ['sleep', '3600']);
    });
    made = n;
    console.error(`  ${n} containers running (${((Date.now() - t0) / 1000).toFixed(0)} s to add)`);
    for (const [name, args] of [
      ['health_get_report', { labels: [`${LABEL}=${RUN}`], limit: 50 }],
      ['containers_list', { labels: [`${LABEL}=${RUN}`], limit: 50 }],
    ] as const) {
      await dockerCall(tool(name), args, services); // warm-up
      proxy.reset();
      const m = await measure(() => dockerCall(tool(name), args, services));
      const bytes = proxy.bytes();
      costs[name]?.push({ ms: m.ms, bytes, rss: m.rssMb });
      rows.push([
        name,
        String(n),
        `${m.ms.toFixed(0)} ms`,
        kb(bytes),
        kb(Buffer.byteLength(JSON.stringify(m.value))),
        `${m.rssMb.toFixed(1)} MiB`,
      ]);
    }
  }
  console.log(`\n### Docker: health report and container list (engine ${ENGINE}, label-filtered to this run)`);
  table(['tool', 'containers', 'time', 'engine bytes', 'answer bytes', 'RSS growth'], rows);
  const sizeRatio = (COUNTS[COUNTS.length - 1] ?? 1) / (COUNTS[0] ?? 1);
  for (const [name, c] of Object.entries(costs)) {
    const a = c[0];
    const b = c[c.length - 1];
    if (!a || !b) continue;
    console.log(
      `${name}: time ${growth(a.ms, b.ms, sizeRatio)}, engine bytes ${growth(a.bytes, b.bytes, sizeRatio)}; bound: ${
        name === 'health_get_report'
          ? 'one list call + at most 500 inspects (8 at a time), answer paged (limit 50) and byte-capped'
          : 'one list call, answer paged (limit 50) and byte-capped'
      }`,
    );
  }
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 2 ** 20, G: 2 ** 30 }[(m[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
}

async function logsTable(proxy: Awaited<ReturnType<typeof countingProxy>>): Promise<void> {
  const services = dockerServices({ socketPath: proxy.path, timeoutMs: 60_000 });
  const rows: string[][] = [];
  const byCase = new Map<string, { ms: number; bytes: number; rss: number; size: number }[]>();
  for (const label of LOG_SIZES) {
    const size = parseSize(label);
    const t0 = Date.now();
    // 200-byte lines; "needle" on one line in 100,000 so grep has something to find.
    const script = `i=0; line=$(head -c 190 /dev/zero | tr '\\0' x); yes "$line" | awk 'NR % 100000 == 0 { print "needle " NR; next } { print }' | head -c ${size}`;
    const id = await runContainer(`rh-${RUN}-log-${label}`, ['sh', '-c', script]);
    const waited = await engine('POST', `/containers/${id}/wait`);
    if (waited.status !== 200) throw new Error(`wait: ${waited.status}`);
    console.error(`  ${label} of log written in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const cases: [string, Record<string, unknown>][] = [
      ['tail 200', { container: id, tail: 200 }],
      ['grep over tail 50,000', { container: id, tail: 50_000, grep: 'needle' }],
      ['tail 200 before until', { container: id, tail: 200, until: new Date(Date.now() + 60_000).toISOString() }],
    ];
    for (const [name, args] of cases) {
      proxy.reset();
      let m: { ms: number; rssMb: number; value: unknown };
      try {
        m = await measure(() => dockerCall(tool('logs_get'), args, services, { timeoutMs: 120_000 }));
      } catch (err) {
        rows.push([name, label, 'failed', kb(proxy.bytes()), '-', (err as Error).message.slice(0, 120)]);
        continue;
      }
      const bytes = proxy.bytes();
      const list = byCase.get(name) ?? [];
      list.push({ ms: m.ms, bytes, rss: m.rssMb, size });
      byCase.set(name, list);
      rows.push([name, label, `${m.ms.toFixed(0)} ms`, mb(bytes), `${m.rssMb.toFixed(1)} MiB`, '']);
    }
    await engine('DELETE', `/containers/${id}?force=1&v=1`);
  }
  console.log('\n### Docker: logs_get on a container with growing output (json-file, 200-byte lines)');
  table(['case', 'log size', 'time', 'engine bytes', 'RSS growth', 'note'], rows);
  const bounds: Record<string, string> = {
    'tail 200': 'the engine seeks from the end of the file: reads tail lines only',
    'grep over tail 50,000': 'grep filters the newest `tail` lines (at most 50,000), not the whole log',
    'tail 200 before until':
      'the engine applies tail before until: the newest lines are read in doubling windows until `tail` lines before `until` are found, at most 262,144 lines or 64 MiB per window (then the answer says how far back it looked)',
  };
  // Compared between the two largest logs: below `tail` lines every case reads the whole (small) log.
  for (const [name, c] of byCase) {
    const a = c[c.length - 2];
    const b = c[c.length - 1];
    if (!a || !b) continue;
    const sizeRatio = Math.round(b.size / a.size);
    console.log(
      `${name}: time ${growth(a.ms, b.ms, sizeRatio)}, engine bytes ${growth(a.bytes, b.bytes, sizeRatio)}, RSS growth ${b.rss.toFixed(1)} MiB at ${mb(b.size)}; bound: ${bounds[name]}`,
    );
  }
}

async function seriesTable(): Promise<void> {
  const registry = new Registry();
  const born = Date.now();
  const sets = SERIES;
  new Gauge({
    name: 'growth_value',
    help: 'Synthetic series for the growth bench.',
    labelNames: ['set', 'i'] as const,
    registers: [registry],
    collect() {
      const t = (Date.now() - born) / 1000;
      for (const n of sets) for (let i = 0; i < n; i++) this.set({ set: String(n), i: String(i) }, Math.sin(t + i) * i);
    },
  });
  const exporter = await listen((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  const prom = await startPrometheus([exporter.url]);
  const HISTORY = 20;
  try {
    const services = obsServices({ prometheus: { url: prom.url } });
    console.error(`  waiting ${HISTORY} s of scrapes...`);
    const biggest = sets[sets.length - 1] ?? 1;
    await waitFor(
      `${HISTORY} scrapes`,
      async () => {
        const q = `count(count_over_time(growth_value{set="${biggest}"}[1m]) >= ${HISTORY})`;
        const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
        return Number(body.data.result[0]?.value[1]) === biggest;
      },
      HISTORY * 1000 + 60_000,
    );
    const rows: string[][] = [];
    const costs: { ms: number; rss: number; raw: number; ours: number }[] = [];
    for (const n of sets) {
      const end = Math.floor(Date.now() / 1000) - 1;
      const start = end - 15;
      const query = `growth_value{set="${n}"}`;
      const params = new URLSearchParams({ query, start: String(start), end: String(end), step: '0.1' });
      const args = { query, start: String(start), end: String(end), step: '100ms', maxPointsPerSeries: 11_000 };
      await obsCall('metrics_query_range', args, services); // warm-up (Prometheus's too)
      const raw = await measure(async () => (await fetch(`${prom.url}/api/v1/query_range?${params}`)).text());
      const ours = await measure(() => obsCall('metrics_query_range', args, services));
      const oursBytes = Buffer.byteLength(JSON.stringify(ours.value));
      const rawBytes = Buffer.byteLength(raw.value);
      costs.push({ ms: ours.ms, rss: ours.rssMb, raw: rawBytes, ours: oursBytes });
      rows.push([
        String(n),
        `${raw.ms.toFixed(0)} ms`,
        kb(rawBytes),
        `${ours.ms.toFixed(0)} ms`,
        kb(oursBytes),
        `${ours.rssMb.toFixed(1)} MiB`,
      ]);
    }
    console.log('\n### Observability: metrics_query_range, 15 s at a 100 ms step (151 points per series)');
    table(['series', 'Prometheus time', 'raw answer', 'tool time', 'tool answer', 'tool RSS growth'], rows);
    const a = costs[0];
    const b = costs[costs.length - 1];
    if (a && b) {
      const sizeRatio = (sets[sets.length - 1] ?? 1) / (sets[0] ?? 1);
      console.log(
        `metrics_query_range: time ${growth(a.ms, b.ms, sizeRatio)}, answer ${growth(a.ours, b.ours, sizeRatio)} (raw ${growth(a.raw, b.raw, sizeRatio)}), RSS growth ${b.rss.toFixed(1)} MiB; bound: time and RSS linear in the Prometheus answer, which is read only up to 16 MiB (backend.prometheus.maxResponseBytes; beyond it the call is refused and names the setting) and at most maxPointsPerSeries per series; the answer keeps the top 10 series, downsampled`,
      );
    }
  } finally {
    await prom.stop();
    await exporter.close();
  }
}

export async function main(): Promise<void> {
  const only = process.env.BENCH_GROWTH_ONLY; // containers | logs | series
  console.log(`cost as the work grows (Node ${process.version}); run label ${LABEL}=${RUN}`);
  if (!only || only === 'series') await seriesTable();
  if (only === 'series') return;
  await ensureImage();
  const proxy = await countingProxy();
  const onSignal = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (!only || only === 'logs') await logsTable(proxy);
    if (!only || only === 'containers') await containersTable(proxy);
  } finally {
    await cleanup();
    proxy.close();
  }
}

runIfMain(import.meta, main);
