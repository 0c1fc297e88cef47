/**
 * The full security stack as a separate server process, for the throughput and soak benchmarks: the real
 * bin path (`runMain`) with OAuth (a JWT from the dev issuer on loopback, verified once then cached),
 * registry, the MEDIUM-tier rate limit, the audit log in a file, metrics, optionally direct mTLS with
 * SVIDs from the dev CA. Optionally profiled (the V8 profiler, as `node --cpu-prof`), summarized by self time.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DevCA, DevIssuer } from '@ravenhelm/auth';
import { freePort } from '../fixtures/redis.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

export interface Stack {
  url: string;
  token: string;
  /** Mints another token for this server (a distinct principal per agent name), with mcp:bench:write. */
  mint(agent: string): Promise<string>;
  /** A token with mcp:bench:read only: bench_write refuses it (insufficient scope). */
  readOnlyToken(agent: string): Promise<string>;
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** The server process. */
  child: ChildProcess;
  /** What the server wrote to stderr (its log). */
  stderr(): string;
  auditFile: string;
  /** Stops the server (the CPU profile, if any, is written then) and the issuer. */
  close(): Promise<void>;
  /** Removes the server's files (audit log, keys, profile). */
  remove(): void;
  profileDir?: string;
}

export const STACK_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};

export async function startStack(opts: {
  mtls?: boolean;
  profile?: boolean;
  /** soak-bin (state sizes on stdout every `statsMs`) instead of the runMain bin. */
  soak?: { statsMs: number; onStats: (line: Record<string, number>) => void };
  env?: Record<string, string>;
  /** Run the built packages (dist, as deployed: default) rather than the TypeScript sources through tsx. */
  dist?: boolean;
}): Promise<Stack> {
  const base = join(REPO_ROOT, '.ravenhelm/bench');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'stack-'));
  const issuer = await DevIssuer.open({ stateDir: join(dir, 'issuer') });
  const { issuer: issuerUrl } = await issuer.listen({ port: 0 });
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    RAVENHELM_LOG_LEVEL: 'info',
    RAVENHELM_HTTP_HOST: '127.0.0.1',
    RAVENHELM_HTTP_PORT: String(port),
    RAVENHELM_AUTH_MODE: 'oauth',
    RAVENHELM_AUTH_ISSUER: issuerUrl,
    RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
    // MEDIUM calls are rate limited on every call; the limit is set above what the load can reach so
    // that every call is served (the bench measures the limiter's cost, not its refusals).
    RAVENHELM_RATE_LIMIT_POINTS: String(1_000_000_000),
    RAVENHELM_RATE_LIMIT_WINDOW_SECONDS: '60',
    // Likewise the bounds on calls running at once, so BENCH_CONCURRENCY above 32 is measured, not refused.
    RAVENHELM_MAX_CALLS_IN_FLIGHT: '100000',
    RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '100000',
    ...(opts.soak ? { BENCH_STATS_MS: String(opts.soak.statsMs) } : {}),
    ...opts.env,
  };
  let tls: Stack['tls'];
  if (opts.mtls) {
    const ca = await DevCA.open(join(dir, 'pki'));
    const server = await ca.issueServerSvid('bench');
    const agent = await ca.issueAgentSvid('bench-agent');
    env.RAVENHELM_TLS_CERT_FILE = server.certFile;
    env.RAVENHELM_TLS_KEY_FILE = server.keyFile;
    env.RAVENHELM_TLS_BUNDLE_FILE = server.bundleFile;
    tls = { certFile: agent.certFile, keyFile: agent.keyFile, caFile: agent.bundleFile };
  }
  const url = `${opts.mtls ? 'https' : 'http'}://127.0.0.1:${port}/mcp`;
  env.RAVENHELM_PUBLIC_URL = url;
  const profileDir = opts.profile ? join(dir, 'profile') : undefined;
  if (profileDir) {
    mkdirSync(profileDir);
    env.BENCH_CPU_PROFILE_DIR = profileDir;
  }
  let spawned: Awaited<ReturnType<typeof spawnBin>>;
  try {
    spawned = await spawnBin(
      env,
      port,
      opts.dist ?? true,
      opts.soak ? 'test/bench/soak-bin.ts' : 'test/bench/stack-bin.ts',
    );
  } catch (err) {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const { child, stderr } = spawned;
  if (opts.soak) {
    const { onStats } = opts.soak;
    let buffered = '';
    child.stdout?.on('data', (c: Buffer) => {
      buffered += c.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('{')) onStats(JSON.parse(l) as Record<string, number>);
    });
  } else child.stdout?.resume();
  const mint = (agent: string) => issuer.mint({ agent, scopes: ['mcp:bench:write'], audience: url, ttlSeconds: 3600 });
  const token = await mint('bench-agent');
  const readOnlyToken = (agent: string) =>
    issuer.mint({ agent, scopes: ['mcp:bench:read'], audience: url, ttlSeconds: 3600 });
  return {
    url,
    token,
    mint,
    readOnlyToken,
    ...(tls ? { tls } : {}),
    child,
    stderr,
    auditFile: env.RAVENHELM_AUDIT_FILE as string,
    ...(profileDir ? { profileDir } : {}),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await issuer.close();
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Starts the bench server. With `dist`, workspace packages resolve to their built JavaScript (tsx only loads
 * the bin file itself): running the kit from source through tsx adds esbuild's `__name` wrapper to every
 * closure, a cost production does not pay. Ready when the port accepts connections.
 */
async function spawnBin(
  env: Record<string, string>,
  port: number,
  dist: boolean,
  bin: string,
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const args = [...(dist ? [] : ['--conditions=@ravenhelm/source']), '--import', 'tsx', join(REPO_ROOT, bin), '--http'];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-20_000);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bench server exited with ${child.exitCode}: ${log}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (up) return { child, stderr: () => log };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bench server did not listen within 60 s: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Top functions by self time in the CPU profile(s) written to `dir`, and self time per package. */
export function summarizeProfile(dir: string, top = 15): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
      nodes: ProfileNode[];
      samples: number[];
      timeDeltas: number[];
    };
    const selfUs = new Map<number, number>();
    for (const [i, id] of p.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
    for (const n of p.nodes) {
      const us = selfUs.get(n.id) ?? 0;
      if (us === 0) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const where = shortUrl(url);
      const key = `${functionName || '(anonymous)'} ${where}${url ? `:${lineNumber + 1}` : ''}`;
      byFn.set(key, (byFn.get(key) ?? 0) + us);
      const area = areaOf(functionName, url);
      byArea.set(area, (byArea.get(area) ?? 0) + us);
      total += us;
    }
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [`self time by area (${(total / 1e6).toFixed(1)} s sampled):`];
  for (const [k, us] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, 12)) lines.push(`  ${pct(us)}  ${k}`);
  lines.push(`top ${top} functions by self time:`);
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  return lines;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const root = url.indexOf(REPO_ROOT);
  return root >= 0 ? url.slice(root + REPO_ROOT.length) : url.replace(/^file:\/\//, '');
}

function areaOf(fn: string, url: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm: ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const rel = shortUrl(url).split('/');
  return `ours: ${rel.slice(0, rel[0] === 'shared' || rel[0] === 'auth' ? 3 : 2).join('/')}`;
}
