/**
 * A bounded load: autocannon in a separate process (so the server under test keeps its own core's worth
 * of event loop) POSTs JSON-RPC bodies over `concurrency` keep-alive connections for `maxSeconds` (the
 * process is killed if it overruns by 30 s). The same generator drives every server a benchmark compares.
 * `requests` cycles each connection through several requests (distinct principals or arguments); `tls`
 * presents a client certificate (mTLS).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./load-worker.mjs', import.meta.url));

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  concurrency: number;
  maxSeconds: number;
  /** Requests each connection cycles through instead of `body` alone (their headers add to `headers`). */
  requests?: { body: string; headers?: Record<string, string> }[];
  /** Client certificate, key and the CA that signed the server's certificate (files). */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export interface LoadResult {
  completed: number;
  failed: number;
  /** Answers with a status other than 2xx, by status (e.g. 429 from the rate limit). */
  non2xx: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const spec = {
    url: o.url,
    body: o.body,
    headers: o.headers,
    concurrency: o.concurrency,
    maxSeconds: o.maxSeconds,
    ...(o.requests ? { requests: o.requests } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
  };
  // The spec goes through a file: thousands of per-request tokens do not fit in one argv string.
  const dir = mkdtempSync(join(tmpdir(), 'rh-load-'));
  const specFile = join(dir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  return new Promise<LoadResult>((resolve, reject) => {
    execFile(
      process.execPath,
      [WORKER, specFile],
      {
        timeout: (o.maxSeconds + 30) * 1000,
        maxBuffer: 16 * 1024 * 1024,
        cwd: fileURLToPath(new URL('..', import.meta.url)),
      },
      (err, stdout) => {
        if (err) return reject(err);
        const r = JSON.parse(stdout) as {
          non2xx: number;
          errors: number;
          timeouts: number;
          duration: number;
          latency: { p50: number; p99: number };
          '2xx': number;
        };
        resolve({
          completed: r['2xx'],
          failed: r.non2xx + r.errors + r.timeouts,
          non2xx: r.non2xx,
          seconds: r.duration,
          perSecond: r['2xx'] / r.duration,
          p50ms: r.latency.p50,
          p99ms: r.latency.p99,
        });
      },
    );
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}
