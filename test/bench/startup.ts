/**
 * Benchmark: cold start and memory per server, the bundled bin against the unbundled workspace build,
 * with a bare `node` HTTP server as the baseline, all in the same run.
 *   1. cold start: spawn -> first 200 from /healthz (auth mode none, loopback, no backend: /readyz
 *      would measure the backend), polled every 5 ms; median of BENCH_STARTUP_RUNS (default 5),
 *      variants interleaved so machine load hits them alike.
 *   2. idle RSS: VmRSS 1 s after ready (same runs, median, and the range: idle RSS of one build can sit in
 *      two modes about 3.5 MB of anonymous memory apart from run to run).
 *   3. RSS under load (bundle only): tools/list POSTed over BENCH_CONCURRENCY connections for
 *      BENCH_SECONDS; RSS after the first second and at the end of the load, and after 2 s idle.
 * BENCH_STARTUP_SERVERS=docker,gitlab limits the servers; BENCH_STARTUP_TRACE=1 prints RSS every second of the load.
 * Targets (issue 14): cold start under 300 ms, idle RSS under 80 MB per server.
 * Run: npm run bench -- startup   (or: node --conditions=@ravenhelm/source --import tsx test/bench/startup.ts)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../fixtures/redis.js';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { CONCURRENCY, runIfMain, SECONDS } from './common.js';
import { runLoad } from './load.js';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const ALL_SERVERS = ['docker', 'observability', 'gitlab', 'zitadel', 'traefik', 'secrets'];
/** BENCH_STARTUP_SERVERS=docker,gitlab measures those only. */
const SERVERS = process.env.BENCH_STARTUP_SERVERS?.split(',').filter((s) => ALL_SERVERS.includes(s)) ?? ALL_SERVERS;
const START_TIMEOUT_MS = 30_000;
const BASELINE = `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`;

type Variant = 'baseline' | 'bundle' | 'dist';

interface Sample {
  startMs: number;
  /** CPU time (user + system, all threads) the process had used when /healthz first answered. */
  cpuMs: number;
  rssMb: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** utime + stime from /proc/<pid>/stat, in ms (USER_HZ is 100 on Linux: 10 ms resolution). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MetaOutput {
  bytes: number;
  entryPoint?: string;
  imports: { path: string; kind: string }[];
}

/** What a bundle parses at start (its entry and the chunks it imports statically) and what it loads on first use. */
function bundleShape(server: string): string {
  const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'servers', server, 'bundle', 'meta.json'), 'utf8')) as {
    outputs: Record<string, MetaOutput>;
  };
  const code = Object.entries(meta.outputs).filter(([p]) => p.endsWith('.mjs'));
  const atStart = new Set(code.filter(([, o]) => o.entryPoint?.endsWith('/src/bin.ts')).map(([p]) => p));
  for (const path of atStart) {
    for (const i of meta.outputs[path]?.imports ?? [])
      if (i.kind === 'import-statement' && meta.outputs[i.path]) atStart.add(i.path);
  }
  const kib = (paths: string[]) => (paths.reduce((n, p) => n + (meta.outputs[p]?.bytes ?? 0), 0) / 1024).toFixed(0);
  const later = code.map(([p]) => p).filter((p) => !atStart.has(p));
  return `${kib([...atStart])} KiB in ${atStart.size} file(s) at start, ${kib(later)} KiB in ${later.length} chunk(s) on first use`;
}

function commandFor(variant: Variant, server: string, port: number): string[] {
  const http = ['--http', '--host', '127.0.0.1', '--port', String(port)];
  if (variant === 'baseline') return ['-e', BASELINE];
  if (variant === 'bundle')
    return [join(REPO_ROOT, 'servers', server, 'bundle', `ravenhelm-mcp-${server}.mjs`), ...http];
  return [join(REPO_ROOT, 'servers', server, 'dist', 'bin.js'), ...http];
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000).then(() => child.kill('SIGKILL'))]);
}

/** Spawns one variant, waits for /healthz, and returns the running child with its start time. */
async function start(
  variant: Variant,
  server: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; startMs: number; cpuMs: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, commandFor(variant, server, port), {
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  while (performance.now() - t0 < START_TIMEOUT_MS) {
    if (child.exitCode !== null) throw new Error(`${server} ${variant} exited with ${child.exitCode}: ${log}`);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    if (res?.status === 200)
      return { child, port, startMs: performance.now() - t0, cpuMs: cpuMsOf(child.pid as number) };
    await sleep(5);
  }
  await stop(child);
  throw new Error(`${server} ${variant}: no /healthz in ${START_TIMEOUT_MS} ms: ${log}`);
}

async function sample(variant: Variant, server: string, env: Record<string, string>): Promise<Sample> {
  const { child, startMs, cpuMs } = await start(variant, server, env);
  try {
    await sleep(1000);
    return { startMs, cpuMs, rssMb: rssMb(child.pid as number) };
  } finally {
    await stop(child);
  }
}

async function underLoad(server: string, env: Record<string, string>): Promise<string> {
  const { child, port } = await start('bundle', server, env);
  const pid = child.pid as number;
  try {
    const rss: number[] = [];
    const timer = setInterval(() => rss.push(rssMb(pid)), 1000);
    const result = await runLoad({
      url: `http://127.0.0.1:${port}/mcp`,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-11-25',
      },
      concurrency: CONCURRENCY,
      maxSeconds: SECONDS,
    });
    clearInterval(timer);
    const end = rssMb(pid);
    await sleep(2000);
    const idle = rssMb(pid);
    const first = rss[0] ?? end;
    if (process.env.BENCH_STARTUP_TRACE)
      console.log(`${server} RSS each second: ${rss.map((r) => r.toFixed(0)).join(' ')}`);
    return (
      `${server.padEnd(14)} ${result.perSecond.toFixed(0).padStart(7)}/s ${String(result.failed).padStart(6)} ` +
      `${first.toFixed(1).padStart(8)} ${end.toFixed(1).padStart(8)} ${Math.max(...rss, end)
        .toFixed(1)
        .padStart(8)} ` +
      `${idle.toFixed(1).padStart(8)}  x${(end / first).toFixed(2)}`
    );
  } finally {
    await stop(child);
  }
}

export async function main(): Promise<void> {
  const missing = SERVERS.filter((s) => !existsSync(commandFor('bundle', s, 0)[0] as string));
  if (missing.length > 0) throw new Error(`no bundle for ${missing.join(', ')}: run \`npm run bundle\` first`);
  const state = mkdtempSync(join(tmpdir(), 'rh-bench-startup-'));
  try {
    // Zitadel refuses to start without a URL and a key file; nothing is called before /healthz.
    const keyFile = join(state, 'zitadel-key.json');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    writeFileSync(keyFile, JSON.stringify({ type: 'serviceaccount', keyId: 'k1', userId: 'u1', key }));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: state,
      RAVENHELM_AUTH_MODE: 'none',
      RAVENHELM_LOG_LEVEL: 'warn',
      RAVENHELM_AUDIT_FILE: join(state, 'audit.jsonl'),
      ZITADEL_URL: `http://127.0.0.1:${await freePort()}`,
      ZITADEL_KEY_FILE: keyFile,
    };
    console.log(
      `startup: ${RUNS} runs per variant, medians; node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ` +
        `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    );
    console.log(
      `${'server'.padEnd(14)} ${'variant'.padEnd(9)} ${'start ms'.padStart(9)} ${'CPU ms'.padStart(7)} ${'RSS MB'.padStart(8)} ${'RSS range'.padStart(11)}  ` +
        `${'start/base'.padStart(10)} ${'CPU/base'.padStart(9)} ${'RSS/base'.padStart(9)}  ${'bundle/dist start, CPU, RSS'}`,
    );
    const targets: string[] = [];
    for (const server of SERVERS) {
      const runs: Record<Variant, Sample[]> = { baseline: [], bundle: [], dist: [] };
      for (let i = 0; i < RUNS; i++) {
        for (const v of ['baseline', 'bundle', 'dist'] as const) runs[v].push(await sample(v, server, env));
      }
      const med = (v: Variant) => ({
        startMs: median(runs[v].map((s) => s.startMs)),
        cpuMs: median(runs[v].map((s) => s.cpuMs)),
        rssMb: median(runs[v].map((s) => s.rssMb)),
        rssRange: `${Math.min(...runs[v].map((s) => s.rssMb)).toFixed(1)}-${Math.max(...runs[v].map((s) => s.rssMb)).toFixed(1)}`,
      });
      const base = med('baseline');
      const bundle = med('bundle');
      const dist = med('dist');
      for (const [v, m] of [
        ['baseline', base],
        ['bundle', bundle],
        ['dist', dist],
      ] as const) {
        const x = (a: number, b: number) => `x${(a / b).toFixed(2)}`;
        const vsDist =
          v === 'bundle' ? `${x(m.startMs, dist.startMs)}, ${x(m.cpuMs, dist.cpuMs)}, ${x(m.rssMb, dist.rssMb)}` : '';
        console.log(
          `${server.padEnd(14)} ${v.padEnd(9)} ${m.startMs.toFixed(0).padStart(9)} ${m.cpuMs.toFixed(0).padStart(7)} ` +
            `${m.rssMb.toFixed(1).padStart(8)} ${m.rssRange.padStart(11)}  ${x(m.startMs, base.startMs).padStart(10)} ` +
            `${x(m.cpuMs, base.cpuMs).padStart(9)} ${x(m.rssMb, base.rssMb).padStart(9)}  ${vsDist}`,
        );
      }
      console.log(`${server.padEnd(14)} bundle: ${bundleShape(server)}`);
      if (bundle.startMs >= 300) targets.push(`${server}: bundle cold start ${bundle.startMs.toFixed(0)} ms >= 300 ms`);
      if (bundle.rssMb >= 80) targets.push(`${server}: bundle idle RSS ${bundle.rssMb.toFixed(1)} MB >= 80 MB`);
    }
    console.log(
      targets.length ? `targets missed:\n  ${targets.join('\n  ')}` : 'targets met: start < 300 ms, RSS < 80 MB',
    );

    console.log(
      `\nRSS under load (bundle, tools/list, ${CONCURRENCY} connections, ${SECONDS} s):\n` +
        `${'server'.padEnd(14)} ${'calls'.padStart(9)} ${'failed'.padStart(6)} ${'1 s MB'.padStart(8)} ` +
        `${'end MB'.padStart(8)} ${'max MB'.padStart(8)} ${'idle MB'.padStart(8)}  end/1s`,
    );
    for (const server of SERVERS) console.log(await underLoad(server, env));
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
}

runIfMain(import.meta, main);
