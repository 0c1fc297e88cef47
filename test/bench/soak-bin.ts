/**
 * The long-run server: the same stack as stack-bin (configuration from the environment, OAuth, registry,
 * MEDIUM rate limit, file audit, metrics) assembled here instead of by runMain, so that it can report the
 * size of its state: every BENCH_STATS_MS it writes one JSON line to stdout with RSS, heap, live heap
 * (after a full GC, every fifth line), verified
 * tokens cached and rate-limit windows held. Stops on SIGTERM.
 */

import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { OAuthAuthenticator } from '@ravenhelm/auth';
import {
  createLogger,
  createRateLimiter,
  createRuntime,
  loadConfig,
  oauthAuthenticatorFactory,
  startHttp,
} from '@ravenhelm/kit';
import { stackServer } from './stack-server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const config = loadConfig({ backendSchema: stackServer.backendConfig, overrides: { transport: 'http' } });
const logger = createLogger({ name: stackServer.name, level: 'warn' });
const rateLimiter = createRateLimiter({
  points: config.rateLimit.points,
  durationSeconds: config.rateLimit.durationSeconds,
  keyPrefix: `ravenhelm:rl:${stackServer.name}`,
  logger,
});
const rt = await createRuntime(stackServer as never, config as never, logger, { rateLimiter });
const factory = oauthAuthenticatorFactory(config as never);
let auth: OAuthAuthenticator | undefined;
const handle = await startHttp(rt, {
  authenticator: async (url) => {
    auth = (await factory(url)) as OAuthAuthenticator;
    return auth;
  },
  authorizationServers: config.auth.issuer ? [config.auth.issuer] : [],
});

// Every fifth line follows a full GC: `liveHeap` is what the heap holds, not garbage not yet collected.
let tick = 0;
let liveHeap = 0;
const timer = setInterval(
  () => {
    if (tick++ % 5 === 0) {
      gc();
      liveHeap = process.memoryUsage().heapUsed;
    }
    const m = process.memoryUsage();
    const line = {
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      liveHeap,
      cachedTokens: auth?.cachedTokens ?? 0,
      rateLimitKeys: rateLimiter.memoryKeys ?? 0,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  },
  Number(process.env.BENCH_STATS_MS ?? 1000),
);

// SIGUSR2: a heap snapshot into BENCH_SNAPSHOT_DIR (to find what grows).
process.on('SIGUSR2', () => {
  gc();
  const dir = process.env.BENCH_SNAPSHOT_DIR;
  if (dir) writeHeapSnapshot(`${dir}/soak-${Date.now()}.heapsnapshot`);
});

process.once('SIGTERM', async () => {
  clearInterval(timer);
  await handle.shutdown();
  await rt.close();
  process.exit(0);
});
