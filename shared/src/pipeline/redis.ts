import type { ConnectionOptions } from 'node:tls';
import type { Redis } from 'ioredis';
import { RavenhelmError, ToolError } from '../errors.js';
import { describeTlsFailure, hasRedisTls, type RedisTlsFiles, redisTlsSource, type TlsAttempt } from './redis-tls.js';
import { describeRedisUrl, describeSentinels, parseSentinelUrl, type SentinelUrl } from './redis-url.js';

export type { RedisTlsFiles } from './redis-tls.js';
export { describeRedisUrl, parseSentinelUrl, SENTINEL_URL_FORM, type SentinelUrl } from './redis-url.js';

/**
 * The Redis client the stateful stages accept: an ioredis client. The caller owns it (connects it,
 * and quits it after closing every stage that uses it).
 */
export type RedisLike = Redis;

export interface ConnectRedisOptions {
  /** Time allowed for one TCP/TLS connect attempt. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Connect attempts at startup before giving up. Default 3. */
  connectAttempts?: number;
  /** Time allowed for one command; a hung Redis fails the command instead of the request. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Shown in `CLIENT LIST` on the Redis side. */
  connectionName?: string;
  /** With a `redis+sentinel://` URL: the password the sentinels require (`requirepass` in sentinel.conf). */
  sentinelPassword?: string;
  /**
   * With a `rediss://` (or `rediss+sentinel://`) URL: the CA to trust, the client certificate and key, the
   * name to verify. Read at startup (a bad file fails it) and again before every reconnect (rotation).
   */
  tls?: RedisTlsFiles;
}

/**
 * Connects an ioredis client and waits until it is ready. Startup is bounded (`connectAttempts` x
 * `connectTimeoutMs` plus short back-offs); once it has been ready the client reconnects forever with a
 * capped back-off, and while it is disconnected commands fail at once (no offline queue), so the rate
 * limiter falls back to its in-memory limits and the confirmation store refuses instead of hanging.
 *
 * The client only ever works against a primary. With a `redis+sentinel://` URL it asks the sentinels for
 * the master, follows their `+switch-master` announcements, and checks the role of what it reached. With
 * any URL, a write refused with `READONLY` (the primary was demoted: a failover, a manual `REPLICAOF`, a
 * Service now pointing at a replica) fails at once and makes the client reconnect, and a server that answers
 * as a replica is not taken as ready: it is dropped and retried until a primary answers there.
 *
 * Over TLS (`tls`) hostname verification stays on; a failed handshake says what to fix (the CA, the
 * name, the client certificate, or the scheme that does not match the port).
 *
 * Errors name the hosts and ports, never a password or key.
 */
export async function connectRedis(url: string, opts: ConnectRedisOptions = {}): Promise<Redis> {
  const where = describeRedisUrl(url);
  const sentinel = parseSentinelUrl(url);
  if (!sentinel && !/^rediss?:\/\//i.test(url)) {
    throw new RavenhelmError(
      'ERR_BACKEND_UNAVAILABLE',
      `Redis URL must start with redis:// or rediss:// (or redis+sentinel://, rediss+sentinel://) (got ${where})`,
    );
  }
  const tlsFiles = hasRedisTls(opts.tls) ? opts.tls : undefined;
  if (tlsFiles && !(sentinel ? sentinel.tls : /^rediss:/i.test(url))) {
    throw new RavenhelmError(
      'ERR_BAD_REQUEST',
      `Redis TLS files are set (RAVENHELM_REDIS_TLS_*) but RAVENHELM_REDIS_URL ${where} is not a TLS URL: use rediss:// (or rediss+sentinel://)`,
    );
  }
  // Read now: a missing or broken file fails startup, naming it.
  const tlsNow = tlsFiles ? redisTlsSource(tlsFiles) : undefined;
  /** What the latest connect attempt got to (its TLS handshake done or not), for the startup error. */
  const attempt: TlsAttempt = { secure: false };
  const attempts = Math.max(1, opts.connectAttempts ?? 3);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
  const commandTimeoutMs = opts.commandTimeoutMs ?? 1000;
  let everReady = false;
  // Through Sentinel a retry first asks a sentinel where the master is: cheap, and after a failover the
  // answer changes within seconds, so the wait between retries stays short (measured: the last refused
  // call came 1.3 s after the sentinels named the new primary with a 2 s cap).
  const maxBackoffMs = sentinel ? 500 : 2000;
  const backoff = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), maxBackoffMs);
  // Loaded here, not at module load: a server without a Redis URL never pays for ioredis (~130 ms).
  const RedisClient = await loadIoredis();
  let lastError: Error | undefined;
  /** What the sentinels said in the current connect round (no master by that name, unreachable). */
  const sentinelErrors: string[] = [];
  const common = {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Never replay, after a reconnect, commands sent before the connection dropped: their callers were
    // already answered (timed out, refused), so a replayed SET or compare-and-set would change state that
    // nobody is told about (a ghost confirmation token, approval decision or task).
    autoResendUnfulfilledCommands: false,
    // A demoted primary: fail this command (1, never 2: 2 would resend it) and reconnect, to wherever the
    // sentinels or the Service now point.
    reconnectOnError: (err: Error) => (/^READONLY\b/.test(err.message) ? (1 as const) : false),
    connectionName: opts.connectionName,
    retryStrategy: (times: number) => {
      if (!everReady && times >= attempts) return null;
      return backoff(times);
    },
  };
  const client = sentinel
    ? new RedisClient({
        ...common,
        sentinels: sentinel.sentinels,
        name: sentinel.name,
        db: sentinel.db,
        ...(sentinel.username ? { username: sentinel.username } : {}),
        ...(sentinel.password ? { password: sentinel.password } : {}),
        ...(opts.sentinelPassword ? { sentinelPassword: opts.sentinelPassword } : {}),
        // With TLS files the connector puts them in (read again per connect); here only what is no secret.
        ...(sentinel.tls ? { tls: tlsMarker(tlsFiles), sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
        ...(tlsNow ? { Connector: await sentinelTlsConnector(tlsNow, attempt) } : {}),
        sentinelCommandTimeout: commandTimeoutMs,
        // A connect round asks every sentinel once; at startup `attempts` rounds, then forever.
        sentinelRetryStrategy: (times: number) => {
          if (!everReady && times >= attempts) return null;
          sentinelErrors.length = 0;
          return backoff(times);
        },
        // Subscribes to +switch-master on the sentinels: a graceful failover moves the client at once,
        // not at its first refused write.
        failoverDetector: true,
      })
    : new RedisClient(url, {
        ...common,
        ...(tlsFiles ? { tls: tlsMarker(tlsFiles) } : {}),
        Connector: await primaryOnlyConnector(where, (e) => (lastError = e), tlsNow, attempt),
      });
  // ioredis gives its own Sentinel connector the client to announce failover events on; ours too.
  const connector = (client as unknown as { connector?: { emitter?: unknown } }).connector;
  if (sentinel && tlsNow && connector) connector.emitter = client;
  // Without a listener ioredis prints every reconnect error to the console.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  client.on('sentinelError', (err: Error) => {
    if (sentinelErrors.length < 50) sentinelErrors.push(err.message);
  });
  try {
    // connect() itself rejects on the first failed attempt while ioredis keeps retrying in the background,
    // so wait for the outcome of all attempts: 'ready', or 'end' once retryStrategy gives up.
    // A server that accepts but never answers the handshake is only caught by an overall deadline; with
    // sentinels, one round may wait on each sentinel and then on the master.
    const perAttemptMs = (sentinel ? sentinel.sentinels.length + 1 : 1) * connectTimeoutMs + 1000;
    const deadlineMs = attempts * perAttemptMs;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        client.off('end', onEnd);
        reject(new Error(`no ready answer within ${deadlineMs} ms`));
      }, deadlineMs);
      const onReady = () => {
        clearTimeout(timer);
        client.off('end', onEnd);
        resolve();
      };
      const onEnd = () => {
        clearTimeout(timer);
        client.off('ready', onReady);
        reject(lastError ?? new Error('connection closed'));
      };
      client.once('ready', onReady);
      client.once('end', onEnd);
      client.connect().catch((err: Error) => {
        lastError = err;
      });
    });
    everReady = true;
    if (sentinel) restartAfterAbortedReconnect(client, backoff);
    return client;
  } catch (err) {
    client.disconnect();
    if (sentinel) {
      // Over TLS, what failed last (a sentinel or the master it named) and why, in TLS terms.
      const tlsHint =
        attempt.err && attempt.where ? describeTlsFailure(attempt.err, attempt.where, tlsFiles, attempt) : undefined;
      throw sentinelStartupError(sentinel, attempts, sentinelErrors, err, tlsHint);
    }
    throw new RavenhelmError(
      'ERR_BACKEND_UNAVAILABLE',
      `cannot connect to Redis at ${where} after ${attempts} attempt(s): ${describeTlsFailure(err, where, tlsFiles, attempt) ?? describeCause(err)}`,
      { redis: where },
      { cause: err },
    );
  }
}

/**
 * ioredis ends a Sentinel client for good when a `+switch-master` announcement (its failover detector)
 * arrives while a reconnect is still asking the sentinels: the detector closes the connector, the connect
 * rejects with "Connection is closed." and the status goes from `connecting` straight to `end`, so every
 * later command fails (seen once in six SIGKILL failover runs here; test/kit/redis-sentinel.test.ts provokes
 * it). A long-lived server must not lose Redis to that: start over. Only then: an owner's quit() or
 * disconnect() ends a ready or reconnecting client, without a connect error.
 */
function restartAfterAbortedReconnect(client: Redis, backoff: (times: number) => number): void {
  let connectFailed = false;
  let restarts = 0;
  client.on('error', () => {
    if (client.status === 'connecting') connectFailed = true;
  });
  client.on('reconnecting', () => {
    connectFailed = false;
  });
  client.on('ready', () => {
    connectFailed = false;
    restarts = 0;
  });
  client.on('end', () => {
    if (!connectFailed) return;
    connectFailed = false;
    setTimeout(() => {
      if (client.status === 'end') client.connect().catch(() => undefined);
    }, backoff(++restarts)).unref();
  });
}

/**
 * ioredis's client class. Node hands its CommonJS exports over as named exports; the servers' esbuild
 * bundles (code splitting, `import()` of a CommonJS chunk) only as `default` (its module.exports), where a
 * destructured `Redis` was undefined ("RedisClient is not a constructor" at startup of every bundled bin).
 */
async function loadIoredis(): Promise<typeof Redis> {
  const mod = (await import('ioredis')) as unknown as { Redis?: typeof Redis; default?: { Redis?: typeof Redis } };
  const RedisClient = mod.Redis ?? mod.default?.Redis;
  if (typeof RedisClient !== 'function') throw new Error('ioredis did not load: no Redis client class');
  return RedisClient;
}

/** Why no master could be reached through the sentinels, in the words an operator acts on. */
function sentinelStartupError(
  s: SentinelUrl,
  attempts: number,
  said: string[],
  err: unknown,
  tlsHint: string | undefined,
): RavenhelmError {
  const where = describeSentinels(s);
  const hosts = s.sentinels.map(({ host, port }) => `${host}:${port}`).join(',');
  // A sentinel that knows no master by that name answers "ERR No such master with that name" (Redis 7), or
  // null to GET-MASTER-ADDR-BY-NAME (ioredis: "connected to sentinel h:p successfully, but got an invalid reply").
  const noMaster =
    said.length > 0 &&
    said.every((m) => /No such master with that name|successfully, but got an invalid reply/.test(m));
  const reachedNone = said.length > 0 && said.every((m) => /^failed to connect to sentinel/.test(m));
  const message = noMaster
    ? `the sentinels at ${hosts} know no master named ${JSON.stringify(s.name)} (asked ${attempts} time(s)); check the master name in RAVENHELM_REDIS_URL against \`sentinel monitor <name>\` in sentinel.conf (Bitnami: mymaster)`
    : reachedNone
      ? `no sentinel at ${hosts} answered (${attempts} round(s)): ${tlsHint ?? `${describeCause(new Error(said[said.length - 1]))}; check the hosts, ports (26379 by default) and RAVENHELM_REDIS_SENTINEL_PASSWORD`}`
      : `cannot connect to Redis master ${JSON.stringify(s.name)} through the sentinels at ${hosts} after ${attempts} attempt(s): ${tlsHint ?? describeCause(err)}`;
  return new RavenhelmError('ERR_BACKEND_UNAVAILABLE', message, { redis: where }, { cause: err });
}

/**
 * ioredis's own connector for one host, except that a server answering as a replica is not ready: the
 * client drops it and retries (at startup within the attempts, later forever), so it never settles on a
 * read-only server behind a plain URL and `ravenhelm_redis_up` says 0 while only a replica answers.
 */
async function primaryOnlyConnector(
  where: string,
  onReplica: (err: Error) => void,
  tls: (() => ConnectionOptions) | undefined,
  attempt: TlsAttempt,
) {
  // Not exported by ioredis's index; the file is part of its published build (no `exports` map). These
  // subclasses rely on its internals (options, connect, check; the Sentinel one on private methods), so
  // shared/package.json pins ioredis exactly: a new version is taken on purpose, with test/kit/redis*.test.ts.
  type Standalone = typeof import('ioredis/built/connectors/StandaloneConnector.js').default;
  const mod = (await import('ioredis/built/connectors/StandaloneConnector.js')) as unknown as {
    default: Standalone | { default: Standalone };
  };
  // Node hands a CommonJS module over as `default` (its `exports.default` one level down); bundlers unwrap it.
  const Standalone = 'default' in mod.default ? mod.default.default : mod.default;
  return class PrimaryOnlyConnector extends Standalone {
    private readonly base: ConstructorParameters<typeof Standalone>[0];
    constructor(options: unknown) {
      super(options as ConstructorParameters<typeof Standalone>[0]);
      this.base = this.options;
    }
    override async connect(emit: Parameters<InstanceType<Standalone>['connect']>[0]) {
      // The TLS files as they are now: a rotated certificate is used from this connect on.
      if (tls) this.options = { ...this.base, tls: tls() };
      return watchHandshake(await super.connect(emit), attempt);
    }
    override check(info: { role?: string }): boolean {
      if (!info.role || info.role === 'master') return true;
      onReplica(new Error(`Redis at ${where} answers as a read-only ${info.role}, not a primary`));
      return false;
    }
  };
}

/**
 * The client's own `tls` option with TLS files: what ioredis needs to know it speaks TLS, and the name to
 * verify; the certificates and key only ever reach the connector (not the client's options, which
 * anything holding the client can read).
 */
function tlsMarker(files: RedisTlsFiles | undefined): ConnectionOptions {
  return files?.serverName ? { servername: files.serverName } : {};
}

/** Notes in `attempt` whether this connection's TLS handshake completed (a refusal after it means the client cert). */
function watchHandshake<S extends { once(event: string, fn: () => void): unknown }>(stream: S, attempt: TlsAttempt): S {
  attempt.secure = false;
  stream.once('secureConnect', () => {
    attempt.secure = true;
  });
  return stream;
}

/**
 * ioredis's Sentinel connector, with the TLS files read again before each connect (to the sentinels, the
 * failover detector's subscriptions and the master): a rotated certificate is used from the next one on.
 * It notes in `attempt` which sentinel or master it tried last and how that failed: ioredis itself only
 * says "Connection is closed." for a sentinel, whatever the TLS error was.
 */
async function sentinelTlsConnector(tls: () => ConnectionOptions, attempt: TlsAttempt) {
  type SentinelConnector = typeof import('ioredis/built/connectors/SentinelConnector/index.js').default;
  const mod = (await import('ioredis/built/connectors/SentinelConnector/index.js')) as unknown as {
    default: SentinelConnector | { default: SentinelConnector };
  };
  const Sentinel = 'default' in mod.default ? mod.default.default : mod.default;
  type Endpoint = { host?: string; port?: number | string };
  type SentinelClient = { on(event: string, fn: (err: Error) => void): unknown };
  const trying = (e: Endpoint) => {
    attempt.where = `rediss://${e.host ?? 'localhost'}:${e.port ?? 26379}`;
    attempt.secure = false;
    attempt.err = undefined;
  };
  const failed = (err: Error) => {
    attempt.err ??= err;
  };
  return class SentinelTlsConnector extends Sentinel {
    private readonly base: ConstructorParameters<SentinelConnector>[0];
    constructor(options: unknown) {
      super(options as ConstructorParameters<SentinelConnector>[0]);
      this.base = this.options;
      // Private in ioredis's typings, plain methods at runtime: wrapped per instance, behaviour unchanged.
      const self = this as unknown as {
        connectToSentinel(endpoint: Endpoint, options?: unknown): SentinelClient;
        resolve(endpoint: Endpoint): Promise<Endpoint | null>;
      };
      const toSentinel = self.connectToSentinel.bind(this);
      self.connectToSentinel = (endpoint, options) => {
        // One connect() may ask the sentinels round after round (sentinelRetryStrategy): read the files
        // before each sentinel, so a fixed certificate is taken in the middle of such a wait too.
        this.refresh();
        const client = toSentinel(endpoint, options);
        trying(endpoint);
        client.on('connect', () => {
          attempt.secure = true;
        });
        client.on('error', failed);
        return client;
      };
      const resolve = self.resolve.bind(this);
      self.resolve = async (endpoint) => {
        const master = await resolve(endpoint);
        if (master) trying(master);
        return master;
      };
    }
    private refresh(): void {
      const now = tls();
      this.options = { ...this.base, tls: now, sentinelTLS: now };
    }
    override async connect(emit: Parameters<InstanceType<SentinelConnector>['connect']>[0]) {
      this.refresh();
      const stream = await super.connect(emit);
      stream.once('error', failed);
      return watchHandshake(stream, attempt);
    }
  };
}

function describeCause(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  // ioredis's words for "disconnected, commands are not queued": say what it means for the caller.
  if (/^Stream isn't writeable/.test(msg)) return 'not connected (the client is reconnecting)';
  if (/^READONLY\b/.test(msg)) return `${msg} (the primary was demoted; the client is reconnecting to the new one)`;
  // ioredis messages carry host:port at most; strip anything that looks like URL credentials anyway.
  return msg.replace(/\/\/[^@/\s]*@/g, '//');
}

/** `redis://host:port/db` (or the sentinel form) of a connected client, from its options: never its password. */
export function describeRedisClient(redis: RedisLike): string {
  const o =
    (
      redis as {
        options?: {
          host?: string;
          port?: number;
          db?: number;
          tls?: unknown;
          sentinels?: { host?: string; port?: number }[] | null;
          name?: string | null;
        };
      }
    ).options ?? {};
  if (o.sentinels?.length && o.name) {
    const sentinels = o.sentinels.map((x) => ({ host: x.host ?? 'localhost', port: x.port ?? 26379 }));
    return describeSentinels({ tls: Boolean(o.tls), sentinels, name: o.name, db: o.db ?? 0 });
  }
  const db = o.db ? `/${o.db}` : '';
  return `${o.tls ? 'rediss' : 'redis'}://${o.host ?? 'localhost'}:${o.port ?? 6379}${db}`;
}

/** How long a spent single-use value waits for a replica's acknowledgement (below the command timeout). */
export const REPLICA_ACK_MS = 500;
/** How long a primary that had replicas may go without one before it counts as a lone primary. */
export const REPLICA_GRACE_MS = 10_000;

/** Per client, for the connection it has now: whether its primary has replicas to wait for. */
const replicaWatch = new WeakMap<RedisLike, { expected?: boolean; failingSince?: number }>();

/** How many replicas the primary on this connection has connected now (`ROLE`). */
async function replicasNow(redis: RedisLike): Promise<number> {
  const role = (await redis.call('ROLE')) as [string, number, unknown[]?];
  return Array.isArray(role[2]) ? role[2].length : 0;
}

/**
 * After a write that a failover must not undo (a single-use token spent), on a client that reaches Redis
 * through Sentinel: waits (WAIT 1) until a replica has it, and throws when none acknowledges within
 * REPLICA_ACK_MS. Replication is asynchronous: a write only the old primary took (in the moment between a
 * replica's promotion and our client's switch, or just before a crash) is lost with it, and a spent token
 * would come back on the new primary and run a second time. Throwing makes the caller fail closed: the
 * token is then spent where it counts, or still there for one retry.
 *
 * A primary with no replica (`ROLE`; a new primary whose old one died) has nothing a promotion could lose:
 * no wait. A primary that had replicas on this connection and lost them is the old primary of a failover
 * under way: refused, until the client follows the switch or, after REPLICA_GRACE_MS, the primary counts as
 * a lone one. WAIT blocks the connection it runs on (every command behind it waits), so once one WAIT went
 * unanswered the next ones are only tried when `ROLE` shows a replica again. Without Sentinel there is no
 * replica to wait for: returns at once.
 */
export async function onReplica(redis: RedisLike): Promise<void> {
  if (!(redis as { options?: { sentinels?: unknown[] | null } }).options?.sentinels?.length) return;
  let watch = replicaWatch.get(redis);
  if (!watch) {
    const fresh: { expected?: boolean; failingSince?: number } = {};
    redis.on('ready', () => {
      fresh.expected = undefined;
      fresh.failingSince = undefined;
    });
    replicaWatch.set(redis, fresh);
    watch = fresh;
  }
  if (!watch.expected || watch.failingSince !== undefined) {
    if ((await replicasNow(redis)) === 0) {
      const lone = !watch.expected || Date.now() - (watch.failingSince ?? 0) >= REPLICA_GRACE_MS;
      if (lone) {
        watch.expected = false;
        watch.failingSince = undefined;
        return;
      }
      throw new Error('the primary lost its replicas (a failover under way?): the write may not survive it');
    }
    watch.expected = true;
  }
  const acked = await redis.wait(1, REPLICA_ACK_MS);
  if (acked >= 1) {
    watch.failingSince = undefined;
    return;
  }
  watch.failingSince ??= Date.now();
  throw new Error(
    `no replica acknowledged the write within ${REPLICA_ACK_MS} ms (a failover under way, or the replicas are gone)`,
  );
}

/**
 * Runs one store operation against Redis; a failure of Redis itself (timeout, connection down, refused
 * command) becomes ERR_BACKEND_UNAVAILABLE that names the store, the Redis host:port (never the password)
 * and what the caller should do (`next`). Errors the store raised on purpose pass through unchanged.
 */
export async function inRedis<T>(redis: RedisLike, store: string, next: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof RavenhelmError) throw err;
    const where = describeRedisClient(redis);
    throw new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the ${store} (Redis at ${where}) did not answer: ${describeCause(err)}; ${next}`,
      { store, redis: where },
      { cause: err },
    );
  }
}

/**
 * Undoing, in the background, a write that timed out but may still run once Redis answers (it waits in
 * the connection's queue; commands on one connection run in order, so `undo` runs after it). Retried with
 * a back-off (250 ms doubling to 5 s) until `undo` resolves, `attempts` are spent, or `stopped()`.
 * Returns at once; `onGiveUp` is told when every attempt failed.
 */
export function undoLater(
  undo: () => Promise<unknown>,
  opts: { attempts: number; stopped?: () => boolean; onGiveUp?: () => void },
): void {
  let attempt = 0;
  const tryOnce = () => {
    if (opts.stopped?.()) return;
    undo().then(
      () => undefined,
      () => {
        if (++attempt < opts.attempts) setTimeout(tryOnce, Math.min(250 * 2 ** attempt, 5000)).unref();
        else opts.onGiveUp?.();
      },
    );
  };
  tryOnce();
}
