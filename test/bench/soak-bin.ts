/**
 * The long-run server: the same stack as stack-bin (configuration from the environment, OAuth, registry,
 * MEDIUM rate limit, file audit, metrics) assembled here instead of by runMain, so that it can report the
 * size of its state: every BENCH_STATS_MS it writes one JSON line to stdout with RSS, heap, verified
 * tokens cached and rate-limit windows held. Stops on SIGTERM.
 */
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

const timer = setInterval(
  () => {
    const m = process.memoryUsage();
    const line = {
      t: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      cachedTokens: auth?.cachedTokens ?? 0,
      rateLimitKeys: rateLimiter.memoryKeys ?? 0,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  },
  Number(process.env.BENCH_STATS_MS ?? 1000),
);

process.once('SIGTERM', async () => {
  clearInterval(timer);
  await handle.shutdown();
  await rt.close();
  process.exit(0);
});
