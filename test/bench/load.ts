/**
 * A bounded load generator: `concurrency` keep-alive connections POST the same JSON-RPC body until
 * `requests` are done or `maxSeconds` pass. Runs in a worker thread so the server's event loop is not shared.
 */
import http from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  concurrency: number;
  requests: number;
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

async function generate(o: LoadOptions): Promise<LoadResult> {
  const url = new URL(o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency });
  const latencies: number[] = [];
  let issued = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + o.maxSeconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        {
          agent,
          hostname: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { ...o.headers, 'content-length': Buffer.byteLength(o.body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200 || !text.includes('"result"') || text.includes('"isError":true')) failed++;
            latencies.push(performance.now() - t0);
            resolve();
          });
        },
      );
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(o.body);
    });
  const workers = Array.from({ length: o.concurrency }, async () => {
    while (issued < o.requests && performance.now() < deadline) {
      issued++;
      await one();
    }
  });
  await Promise.all(workers);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  return {
    completed: latencies.length,
    failed,
    seconds,
    perSecond: latencies.length / seconds,
    p50ms: pct(0.5),
    p99ms: pct(0.99),
  };
}

/** Runs the load in a worker thread and resolves with its result. */
export function runLoad(o: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: o, execArgv: [...process.execArgv] });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

if (!isMainThread && workerData) {
  generate(workerData as LoadOptions).then((r) => parentPort?.postMessage(r));
}
