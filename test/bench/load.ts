/**
 * A bounded load: autocannon in a separate process (so the server under test keeps its own cores'
 * worth of event loop) POSTs the same JSON-RPC body over `concurrency` keep-alive connections for
 * `maxSeconds` (the process is killed if it overruns by 30 s).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const AUTOCANNON = fileURLToPath(new URL('../node_modules/autocannon/autocannon.js', import.meta.url));

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  concurrency: number;
  maxSeconds: number;
}

export interface LoadResult {
  completed: number;
  failed: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
}

export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const args = [
    AUTOCANNON,
    '--json',
    '--connections',
    String(o.concurrency),
    '--duration',
    String(o.maxSeconds),
    '--timeout',
    '10',
    '--method',
    'POST',
    '--body',
    o.body,
    ...Object.entries(o.headers).flatMap(([k, v]) => ['--headers', `${k}=${v}`]),
    o.url,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { timeout: (o.maxSeconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => {
        if (err) return reject(err);
        const r = JSON.parse(stdout) as {
          requests: { total: number };
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
          seconds: r.duration,
          perSecond: r['2xx'] / r.duration,
          p50ms: r.latency.p50,
          p99ms: r.latency.p99,
        });
      },
    );
  });
}
