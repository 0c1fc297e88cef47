/** Private Prometheus and Alertmanager processes and a metrics target, all on loopback, for one test file. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { type Listening, listen } from '../simulators/http.js';

export async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** A URL where nothing listens: the backend is down. */
export async function deadUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export { type Listening, listen };

/** A server that accepts requests and never answers: a hung backend. */
export function silentServer(): Promise<Listening> {
  return listen(() => {
    /* never answers */
  });
}

export const ROUTES = 60;
export const CODES = ['200', '404', '500'] as const;
export const SENSORS = 40;
/** Series the exporter exposes (besides Prometheus's own per-target series). */
export const EXPORTED_SERIES = ROUTES * CODES.length + SENSORS;

/**
 * A scrape target with 220 series served by prom-client; every scrape recomputes the values from the
 * clock (collect callbacks), so each scrape sees new numbers.
 */
export async function startExporter(): Promise<Listening> {
  const born = Date.now();
  const seconds = () => (Date.now() - born) / 1000;
  const registry = new Registry();
  const served = new Map<string, number>();
  new Counter({
    name: 'demo_requests_total',
    help: 'Requests served, by route and status code.',
    labelNames: ['service', 'route', 'code'] as const,
    registers: [registry],
    collect() {
      const t = seconds();
      for (let r = 0; r < ROUTES; r++) {
        for (const code of CODES) {
          const rate = code === '500' ? (r === 7 ? 50 : 0.1) : r + 1;
          const key = `${r}/${code}`;
          const target = Math.floor(t * rate);
          // a counter only goes up: add what was served since the last scrape (zero keeps the series alive)
          this.inc({ service: 'checkout', route: `/r${r}`, code }, target - (served.get(key) ?? 0));
          served.set(key, target);
        }
      }
    },
  });
  new Gauge({
    name: 'demo_temperature_celsius',
    help: 'Sensor temperature.',
    labelNames: ['sensor'] as const,
    registers: [registry],
    collect() {
      const t = seconds();
      for (let s = 0; s < SENSORS; s++) this.set({ sensor: `s${s}` }, Number((20 + s + Math.sin(t + s)).toFixed(3)));
    },
  });
  return listen((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
    );
  });
}

export interface Proc {
  url: string;
  stop(): Promise<void>;
  /** Writes `files` into the engine's config directory and sends SIGHUP: Prometheus reloads its rule files. */
  reload(files: Record<string, string>): Promise<void>;
}

/**
 * Starts one engine on a free loopback port with its own config and data dir. "Ready" means the process
 * we started answers: a port someone else grabbed (another run, a systemd-started instance) is detected
 * by `isOurs` and the start retried on another port.
 */
async function startProcess(
  what: string,
  bin: string,
  args: (dir: string, port: number) => string[],
  config: (dir: string) => string,
  isOurs: (url: string, dir: string) => Promise<boolean>,
  files: Record<string, string> = {},
): Promise<Proc> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), `rh-obs-${what}-`));
    await writeFile(join(dir, 'config.yml'), config(dir));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    const port = await freePort();
    const child: ChildProcess = spawn(bin, args(dir, port), { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr?.on('data', (c: Buffer) => {
      log = (log + c.toString()).slice(-4000);
    });
    const url = `http://127.0.0.1:${port}`;
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitFor(
        `${what} to be ready`,
        async () => {
          if (child.exitCode !== null) throw new Error(`${what} exited: ${log}`);
          if ((await fetch(`${url}/-/ready`)).status !== 200) return false;
          if (!(await isOurs(url, dir))) throw new Error(`another ${what} answers on ${url}`);
          return true;
        },
        30_000,
      );
      const reload = async (changed: Record<string, string>) => {
        for (const [name, text] of Object.entries(changed)) await writeFile(join(dir, name), text);
        child.kill('SIGHUP');
      };
      return { url, stop, reload };
    } catch (err) {
      lastError = err;
      await stop();
    }
  }
  throw lastError;
}

/**
 * Starts Prometheus scraping `targets`; `opts.rules` is the text of a rules file it loads; `opts.remoteRead` a
 * remote-read URL it also reads recent data from (one that is down makes every query answer with a warning).
 */
export function startPrometheus(targets: string[], opts: { rules?: string; remoteRead?: string } = {}): Promise<Proc> {
  const hosts = targets.map((t) => new URL(t).host);
  const ruleFiles = opts.rules === undefined ? '' : 'rule_files: [rules.yml]\n';
  const remoteRead =
    opts.remoteRead === undefined
      ? ''
      : `remote_read:\n  - url: ${JSON.stringify(opts.remoteRead)}\n    read_recent: true\n    remote_timeout: 2s\n`;
  const config = () => `global:
  scrape_interval: 1s
  evaluation_interval: 1s
${ruleFiles}scrape_configs:
  - job_name: demo
    scrape_interval: 1s
    static_configs:
      - targets: ${JSON.stringify(hosts)}
  - job_name: missing
    scrape_interval: 1s
    static_configs:
      - targets: ["127.0.0.1:1"]
${remoteRead}`;
  return startProcess(
    'prometheus',
    '/usr/bin/prometheus',
    (dir, port) => [
      `--config.file=${join(dir, 'config.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    config,
    async (url, dir) => {
      const res = await fetch(`${url}/api/v1/status/flags`);
      const body = (await res.json()) as { data?: Record<string, string> };
      return body.data?.['storage.tsdb.path'] === join(dir, 'data');
    },
    opts.rules === undefined ? {} : { 'rules.yml': opts.rules },
  );
}

/** Terms of demo:long_sum's query (~1,900 characters): over the tool's 1,000-character cut. */
export const LONG_QUERY_TERMS = 150;
/** Longer than the 300 characters an annotation value keeps. */
export const LONG_DESCRIPTION = `Route /r7 answers 500s. ${'Check the checkout deploys and the database pool. '.repeat(8)}`;

/**
 * Rules on the exporter's series: one alert firing (route /r7 serves 50 errors/s), one pending on ~13
 * sensors (for: 1h), one inactive, one that fails every evaluation (many-to-many matching: health err), a
 * recording rule, a rule with a long query, and `bulkGroups` groups of two recording rules each for paging.
 */
export function demoRules(bulkGroups = 0): string {
  const long = Array.from({ length: LONG_QUERY_TERMS }, (_, i) => `vector(${i})`).join(' + ');
  const bulk = Array.from({ length: bulkGroups }, (_, i) => {
    const n = String(i).padStart(2, '0');
    return `  - name: bulk-${n}
    interval: 1s
    rules:
      - record: bulk:${n}:a
        expr: vector(1)
      - record: bulk:${n}:b
        expr: vector(2)
`;
  }).join('');
  return `groups:
  - name: checkout-alerts
    interval: 1s
    rules:
      - alert: HighErrorRoute
        expr: rate(demo_requests_total{code="500"}[10s]) > 10
        for: 0s
        labels: {severity: critical, team: checkout}
        annotations:
          summary: "{{ $labels.route }} serves {{ $value }} errors/s"
          description: ${JSON.stringify(LONG_DESCRIPTION)}
      - alert: TemperatureHigh
        expr: demo_temperature_celsius > 45
        for: 1h
        labels: {severity: warning}
      - alert: TemperatureAbsurd
        expr: demo_temperature_celsius > 1000
        for: 5m
        labels: {severity: info}
      - alert: CheckoutJoinBroken
        expr: demo_requests_total * on (service) demo_requests_total > 0
        labels: {severity: warning}
  - name: checkout-recording
    interval: 1s
    rules:
      - record: service:demo_requests:rate10s
        expr: sum by (service) (rate(demo_requests_total[10s]))
      - record: demo:long_sum
        expr: ${long}
${bulk}`;
}

/**
 * Starts Alertmanager routing every alert to one receiver, grouped by `opts.groupBy` (alertname, service);
 * `opts.routes` sends alerts matching a matcher to their own receiver first.
 */
export function startAlertmanager(
  opts: { groupBy?: string[]; routes?: { receiver: string; matcher: string }[] } = {},
): Promise<Proc> {
  const routes = opts.routes ?? [];
  const children = routes.length
    ? `  routes:\n${routes.map((r) => `    - receiver: ${r.receiver}\n      matchers: [${JSON.stringify(r.matcher)}]\n`).join('')}`
    : '';
  // The last receiver is never routed to: its name marks this instance's config.
  const config = (dir: string) => `route:
  receiver: blackhole
  group_by: ${JSON.stringify(opts.groupBy ?? ['alertname', 'service'])}
  group_wait: 1s
  group_interval: 1s
${children}receivers:
  - name: blackhole
${routes.map((r) => `  - name: ${r.receiver}\n`).join('')}  - name: ${marker(dir)}
`;
  return startProcess(
    'alertmanager',
    '/usr/bin/prometheus-alertmanager',
    (dir, port) => [
      `--config.file=${join(dir, 'config.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    config,
    async (url, dir) => {
      const res = await fetch(`${url}/api/v2/status`);
      const body = (await res.json()) as { config?: { original?: string } };
      return body.config?.original?.includes(marker(dir)) === true;
    },
  );
}

function marker(dir: string): string {
  return `fixture-${dir.replace(/[^A-Za-z0-9]/g, '').slice(-12)}`;
}

/** Posts alerts to Alertmanager's v2 API, firing from now for an hour. */
export async function postAlerts(
  amUrl: string,
  alerts: { labels: Record<string, string>; annotations?: Record<string, string>; generatorURL?: string }[],
): Promise<void> {
  const now = Date.now();
  const body = alerts.map((a) => ({
    labels: a.labels,
    annotations: a.annotations ?? {},
    ...(a.generatorURL ? { generatorURL: a.generatorURL } : {}),
    startsAt: new Date(now - 60_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
  }));
  const res = await fetch(`${amUrl}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`posting alerts: HTTP ${res.status} ${await res.text()}`);
}
