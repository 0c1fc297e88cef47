import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Authenticator, Principal } from '@ravenhelm/auth';
import { APPROVER_SCOPE, EMPTY_POLICY, parsePolicy, Registry } from '@ravenhelm/registry';
import type { z } from 'zod';
import { auditSlot, DEFAULT_AUDIT_SLOTS, defaultAuditFile, type FullConfig, shutdownGraceMsOf } from './config.js';
import { RavenhelmError } from './errors.js';
import { lazyModern } from './http/era.js';
import { createHttpHandler, type PeerIdentity } from './http/handler.js';
import { MultiplexTransport } from './http/multiplex.js';
import type { Logger } from './logging.js';
import { createMcpServer, createToolCallHandler } from './mcp-server.js';
import { Metrics } from './metrics.js';
import { createWebhookNotifier } from './pipeline/approval-webhook.js';
import { type ApprovalStore, createApprovalStore } from './pipeline/approvals.js';
import { type AuditSink, createFileAuditSink } from './pipeline/audit.js';
import { openAdvice } from './pipeline/audit-file.js';
import { createAuditShipping } from './pipeline/audit-ship.js';
import { type ConfirmationStore, createConfirmationStore } from './pipeline/confirm.js';
import { Pipeline } from './pipeline/pipeline.js';
import { createRateLimiter, type RateLimiter } from './pipeline/rate-limit.js';
import { connectRedis } from './pipeline/redis.js';
import { createTaskStore, type TaskStore } from './pipeline/tasks.js';
import { dynamicToolsetsOf } from './pipeline/toolsets.js';
import { type ServerDefinition, specsOf } from './server-definition.js';
import { TaskRunner } from './tasks.js';
import { createTracer } from './telemetry/trace.js';

type AnyDefinition = ServerDefinition<object, z.ZodObject>;

/** Everything a running server owns; built once per process. */
export interface SuiteRuntime {
  definition: AnyDefinition;
  config: FullConfig<z.ZodObject>;
  logger: Logger;
  registry: Registry;
  pipeline: Pipeline<object>;
  metrics: Metrics;
  services: object;
  audit: AuditSink;
  localPrincipal: Principal;
  /** MCP Tasks: long-running tools run in the background, state in the shared store. */
  tasks: TaskRunner;
  ready(): Promise<{ ready: boolean; reason?: string }>;
  close(): Promise<void>;
}

export interface RuntimeOverrides {
  audit?: AuditSink;
  rateLimiter?: RateLimiter;
  confirmations?: ConfirmationStore;
  approvals?: ApprovalStore;
  tasks?: TaskStore;
  services?: object;
  metrics?: Metrics;
}

export function defaultScopes(server: string): string[] {
  return [`mcp:${server}:write`];
}

export function localPrincipalOf(server: string, config: FullConfig<z.ZodObject>): Principal {
  return {
    subject: config.local.subject,
    scopes: config.local.scopes ?? defaultScopes(server),
    roles: [],
    spiffeId: config.local.spiffeId,
    source: 'stdio',
  };
}

/**
 * Whether HIGH tools are served. Only OAuth over HTTP identifies callers (and HIGH then needs a
 * verified SPIFFE ID); over stdio and with auth.mode none every caller is the configured local
 * principal, whose spiffeId nobody verified, so HIGH stays off unless local.allowHigh says otherwise.
 */
export function highToolsDecision(config: FullConfig<z.ZodObject>): {
  enabled: boolean;
  warn: boolean;
  reason: string;
} {
  if (config.transport === 'http' && config.auth.mode === 'oauth') {
    return {
      enabled: true,
      warn: false,
      reason: 'HIGH tools on: callers present OAuth tokens and a verified SPIFFE ID',
    };
  }
  const where = config.transport === 'stdio' ? 'over stdio' : 'with auth.mode none';
  if (config.local.allowHigh) {
    return {
      enabled: true,
      warn: config.transport === 'http',
      reason: `HIGH tools on ${where} because local.allowHigh is set: every caller acts as the local principal${
        config.transport === 'http' ? ', including anything that can reach this port' : ''
      }`,
    };
  }
  return {
    enabled: false,
    warn: false,
    reason: `HIGH tools off ${where}: the caller is the configured local principal; set RAVENHELM_LOCAL_ALLOW_HIGH=true to turn them on`,
  };
}

/** Refuses to start when a tool's policy options are invalid (each tool validates its own). */
function checkToolOptions(definition: AnyDefinition, registry: Registry): void {
  for (const tool of definition.tools) {
    const options = registry.get(definition.name, tool.name)?.options ?? {};
    if (!tool.checkOptions || Object.keys(options).length === 0) continue;
    try {
      tool.checkOptions(options);
    } catch (err) {
      throw new Error(`policy servers.${definition.name}.tools.${tool.name}.options: ${(err as Error).message}`);
    }
  }
}

/** Builds the registry, stores, services and pipeline for one server. */
export async function createRuntime(
  definition: AnyDefinition,
  config: FullConfig<z.ZodObject>,
  logger: Logger,
  overrides: RuntimeOverrides = {},
): Promise<SuiteRuntime> {
  const policy = config.policyFile
    ? parsePolicy(readFileSync(config.policyFile, 'utf8'), config.policyFile)
    : EMPTY_POLICY;
  const registry = new Registry(specsOf(definition), policy);
  checkToolOptions(definition, registry);
  const metrics = overrides.metrics ?? new Metrics(definition.name, { processMetrics: true });
  const redis =
    config.redis.url && !(overrides.rateLimiter && overrides.confirmations && overrides.approvals)
      ? await connectRedis(config.redis.url, {
          ...(config.redis.sentinelPassword ? { sentinelPassword: config.redis.sentinelPassword } : {}),
          ...(config.redis.tls ? { tls: config.redis.tls } : {}),
        })
      : undefined;
  if (redis) {
    // What operators alert on (RavenhelmRedisDown): confirmations, approvals, tasks, toolsets and shared
    // rate limits depend on it. A frozen Redis keeps its connection; its stalls show as refusals instead.
    const up = metrics.redisUp.labels({ server: definition.name });
    up.set(redis.status === 'ready' ? 1 : 0);
    redis.on('ready', () => up.set(1));
    for (const lost of ['close', 'reconnecting', 'end']) redis.on(lost, () => up.set(0));
  }
  const defaultPath = defaultAuditFile(definition.name);
  let auditPath = config.audit.file ?? defaultPath;
  // Each copy of the server gets a log of its own at the default location, and over stdio wherever the log
  // is (every client, every session starts its own copy from the same mcp.json entry). A path an HTTP
  // server was given stays its alone: two replicas on one log are a deployment mistake, refused.
  const auditSlots =
    resolvePath(auditPath) === resolvePath(defaultPath) || config.transport === 'stdio' ? DEFAULT_AUDIT_SLOTS : 1;
  let audit = overrides.audit;
  // Shipping follows the log the runtime opens (an overridden sink is the caller's to ship).
  const shipping = audit
    ? undefined
    : createAuditShipping(config.auditShip, { server: definition.name, metrics, logger });
  const fallbackPath = config.audit.fallbackFile ? resolvePath(config.audit.fallbackFile) : undefined;
  if (!audit) {
    if (fallbackPath === resolvePath(auditPath)) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        'audit.fallbackFile (RAVENHELM_AUDIT_FALLBACK_FILE) names the audit log itself: set it to a file on another volume',
      );
    }
    try {
      mkdirSync(dirname(auditPath), { recursive: true, mode: 0o700 });
      const inUse: string[] = [];
      const firstPath = auditPath;
      for (let slot = 1; !audit; slot++) {
        auditPath = auditSlot(firstPath, slot);
        audit = await openSink().catch((err: unknown) => {
          const holder = liveHolderOf(err);
          if (slot >= auditSlots || holder === undefined) throw err;
          inUse.push(`${auditPath} (${holder})`);
          return undefined;
        });
      }
      if (inUse.length > 0) {
        logger.info(
          { auditFile: auditPath, inUse },
          'other copies of this server (other stdio clients) write that audit log: this copy writes its own',
        );
      }
    } catch (err) {
      await shipping?.close(0);
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) throw err; // only file-system errors (EACCES, ENOTDIR...)
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        `cannot open the audit log ${auditPath} (${code}); ${openAdvice(err, 'set RAVENHELM_AUDIT_FILE (audit.file) to a writable path')}`,
      );
    }
    if (shipping) audit = shipping.guard(audit);
  }

  function openSink(): Promise<AuditSink> {
    return createFileAuditSink({
      path: auditPath,
      server: definition.name,
      minFreeBytes: config.audit.minFreeBytes,
      rotateBytes: config.audit.rotateBytes,
      keepFiles: config.audit.keepFiles,
      onLockTakenOver: (what) => logger.warn({ auditFile: auditPath }, `audit log lock: ${what}`),
      onLockUnavailable: (why) => logger.warn({ auditFile: auditPath }, why),
      onCapacity: (warning) =>
        logger.warn({ auditFile: auditPath, needed: warning.needed, fileSystemBytes: warning.total }, warning.message),
      onRotate: (report) => {
        metrics.auditRotations.inc({ server: definition.name, outcome: report.kind });
        if (report.kind === 'failed') logger.error({ auditFile: auditPath }, report.reason);
        else if (report.kind === 'resumed') {
          logger.warn(
            { auditFile: auditPath, continuesFrom: report.from },
            'audit log was empty after a rotation cut short: wrote the rotation marker continuing the chain from the rotated file',
          );
        } else {
          logger.info(
            { auditFile: auditPath, rotatedTo: report.rotatedTo, removed: report.removed, ms: report.ms },
            'audit log rotated: the chain continues in a new file',
          );
          if (report.notRemoved.length > 0) {
            logger.warn(
              { auditFile: auditPath, notRemoved: report.notRemoved },
              'rotated audit files past audit.keepFiles could not be removed: the next rotation tries again',
            );
          }
        }
      },
      ...(fallbackPath ? { fallbackPath } : {}),
      onFallback: (replay) => {
        const where = { auditFile: auditPath, fallbackFile: fallbackPath };
        if (replay.kind === 'not-replayed') logger.error(where, replay.reason);
        else if (replay.kind === 'already-replayed') {
          logger.warn(
            { ...where, records: replay.records },
            'the fallback file was already appended to the audit log (a start cut short): removed it',
          );
        } else {
          logger.warn(
            { ...where, records: replay.records, ...(replay.torn ? { tornLine: replay.torn } : {}) },
            'appended the outcome records of the fallback file (kept at a stop while the log was full) to the audit log, and removed the file',
          );
        }
      },
      ...(shipping ? { onCommit: shipping.accept } : {}),
      onUnwritten: (records, reason) =>
        logger.error(
          { auditFile: auditPath, records },
          `audit outcome records could not be written to the log (${reason}); they are in this log line instead`,
        ),
      onTornTail: (torn) =>
        logger.warn(
          { auditFile: auditPath, quarantine: torn.quarantine, bytes: torn.bytes },
          'audit log ended with a torn record (cut by a crash, never acknowledged): moved it aside and continued the chain',
        ),
    });
  }
  const rateLimiter =
    overrides.rateLimiter ??
    createRateLimiter({
      points: config.rateLimit.points,
      durationSeconds: config.rateLimit.durationSeconds,
      keyPrefix: `ravenhelm:rl:${definition.name}`,
      logger,
      ...(redis ? { redis } : {}),
    });
  const confirmations =
    overrides.confirmations ??
    createConfirmationStore({ keyPrefix: `ravenhelm:cfm:${definition.name}`, ...(redis ? { redis } : {}) });
  const approvals =
    overrides.approvals ??
    createApprovalStore({
      server: definition.name,
      keyPrefix: `ravenhelm:apr:${definition.name}`,
      ...(redis ? { redis } : {}),
    });
  const taskStore =
    overrides.tasks ??
    createTaskStore({
      keyPrefix: `ravenhelm:task:${definition.name}`,
      // Every call ends by its timeout; a task still working later lost its replica.
      limits: { runDeadlineMs: config.limits.callTimeoutMs + 10_000 },
      ...(redis ? { redis } : {}),
    });
  const notifier = config.approvals.webhookUrl
    ? createWebhookNotifier({
        url: config.approvals.webhookUrl,
        timeoutMs: config.approvals.webhookTimeoutMs,
        logger,
        ...(config.http.publicUrl ? { baseUrl: config.http.publicUrl } : {}),
      })
    : undefined;
  const services =
    overrides.services ??
    (await definition.createServices(config.backend, {
      logger,
      ...(redis ? { redis } : {}),
      metrics: metrics.backends,
    }));
  if (shutdownGraceMsOf(config) < config.limits.callTimeoutMs) {
    logger.warn(
      { shutdownGraceMs: shutdownGraceMsOf(config), callTimeoutMs: config.limits.callTimeoutMs },
      'shutdown grace is shorter than the call timeout: calls still running when it ends are answered and audited with outcome unknown',
    );
  }
  const localPrincipal = localPrincipalOf(definition.name, config);
  const tracer = createTracer(config, { server: definition.name, metrics, logger });
  const highTools = highToolsDecision(config);
  (highTools.warn ? logger.warn.bind(logger) : logger.info.bind(logger))(
    { highTools: highTools.enabled ? 'on' : 'off', transport: config.transport, authMode: config.auth.mode },
    highTools.reason,
  );
  const toolsets = dynamicToolsetsOf({
    server: definition.name,
    start: config.toolsets.start,
    policyInitial: registry.policy.servers[definition.name]?.toolsets.initial,
    available: [...new Set(registry.enabled(definition.name).map((t) => t.toolset))],
    defaultToolsets: definition.defaultToolsets,
    descriptions: definition.toolsetDescriptions,
    ttlSeconds: config.toolsets.ttlSeconds,
    redis,
  });
  const pipeline = new Pipeline<object>({
    server: definition.name,
    tools: definition.tools,
    services,
    registry,
    audit,
    rateLimiter,
    confirmations,
    metrics,
    logger,
    maxOutputBytes: config.limits.maxOutputBytes,
    callTimeoutMs: config.limits.callTimeoutMs,
    confirmTtlSeconds: config.confirm.ttlSeconds,
    highToolsEnabled: highTools.enabled,
    denialWindowMs: config.audit.denialWindowSeconds * 1000,
    approvals,
    ...(notifier ? { onApprovalRequested: notifier.notify } : {}),
    tracer,
    ...(toolsets ? { toolsets } : {}),
    admission: {
      maxInFlight: config.limits.maxCallsInFlight,
      maxInFlightPerCaller: config.limits.maxCallsInFlightPerCaller,
    },
  });
  const tasks = new TaskRunner({
    store: taskStore,
    pipeline: pipeline as Pipeline<object>,
    logger,
    maxResultBytes: config.limits.maxOutputBytes + 16_384,
  });
  const needsAudit = registry
    .enabled(definition.name)
    .some((t) => (!t.annotations.readOnlyHint || t.tier === 'HIGH') && (t.tier !== 'HIGH' || highTools.enabled));
  if (needsAudit) {
    const auditHealth = await audit.health?.();
    if (auditHealth && !auditHealth.ok) {
      logger.error(
        { auditFile: auditPath, reason: auditHealth.reason },
        'audit log is not ready to take records: /readyz answers 503 until it is',
      );
    }
  }
  let lastReady: { at: number; value: { ready: boolean; reason?: string } } | undefined;
  return {
    definition,
    config,
    logger,
    registry,
    pipeline,
    metrics,
    services,
    audit,
    localPrincipal,
    tasks,
    async ready() {
      // Cached briefly: a burst of probes must not become a burst of backend calls.
      if (lastReady && Date.now() - lastReady.at < 1000) return lastReady.value;
      let value: { ready: boolean; reason?: string };
      try {
        // A server that cannot write its audit log refuses every call with side effects: not ready. One
        // whose tools are all reads writes no attempt records (only best-effort denial summaries): it stays.
        const auditHealth = (needsAudit && (await audit.health?.())) || { ok: true };
        if (auditHealth.ok) await definition.ready?.(services, AbortSignal.timeout(3000));
        value = auditHealth.ok
          ? { ready: true }
          : { ready: false, reason: auditHealth.reason ?? 'the audit log cannot be written' };
      } catch (err) {
        value = {
          ready: false,
          reason: err instanceof RavenhelmError ? err.message : `backend not ready: ${(err as Error).message}`,
        };
      }
      lastReady = { at: Date.now(), value };
      return value;
    },
    async close() {
      // Tasks still running here end and store their outcome first (the call timeout bounds them).
      await tasks.drain(config.limits.callTimeoutMs + 5000);
      await definition.close?.(services);
      await rateLimiter.close();
      await confirmations.close();
      await notifier?.close();
      await approvals.close();
      await pipeline.close();
      await taskStore.close();
      await audit.close();
      await shipping?.close(config.auditShip.timeoutMs);
      await tracer?.close();
      if (redis) {
        // While Redis is down quit() fails at once and ioredis keeps reconnecting, which kept the process
        // alive after SIGTERM; disconnect() stops the reconnect loop.
        await redis.quit().catch(() => undefined);
        redis.disconnect();
      }
    },
  };
}

/** Over HTTP with auth.mode 'none', every caller is the local principal; only allowed on loopback. */
export function localAuthenticator(principal: Principal): Authenticator {
  return {
    async authenticate() {
      return principal;
    },
  };
}

export interface HttpServerHandle {
  server: HttpServer;
  /** The MCP endpoint URL. */
  url: string;
  port: number;
  /** Stops accepting, waits for in-flight calls (up to the grace period), then closes. */
  shutdown(): Promise<void>;
}

export interface StartHttpOptions {
  /** The authenticator, or a factory given the resource URL (known once the port is bound). */
  authenticator: Authenticator | ((resourceUrl: string) => Authenticator | Promise<Authenticator>);
  authorizationServers: string[];
  /** Builds the TLS server options and peer identity (from @ravenhelm/auth) when TLS is configured. */
  tls?: { options: import('node:tls').TlsOptions; peer: (req: IncomingMessage) => Promise<PeerIdentity> };
  peer?: (req: IncomingMessage) => Promise<PeerIdentity>;
  /**
   * Given the listener once it is made and before it listens (the SPIFFE wiring's onServer: rotations, and the
   * bundle each handshake was verified against): no connection is accepted that what it installs does not see.
   * Handed over after startHttp returned, connections accepted while it resolved the authenticator (an issuer's
   * discovery, seconds) missed it.
   */
  onServer?: (server: HttpServer) => void;
  /**
   * false sends every 2025-era tools/call through the SDK server (the fast path's reference in the
   * equivalence tests). Default: the config's `http.fastPath` (true).
   */
  toolCallFastPath?: boolean;
}

export async function startHttp(rt: SuiteRuntime, opts: StartHttpOptions): Promise<HttpServerHandle> {
  const { config, definition } = rt;
  const transport = new MultiplexTransport({ deadlineMs: config.limits.callTimeoutMs + 15_000 });
  const mcp = createMcpServer({
    name: definition.name,
    version: definition.version,
    description: definition.description,
    pipeline: rt.pipeline,
    tasks: rt.tasks,
  });
  // The HTTP fast path runs the same tools/call handler the server above runs.
  const callTool =
    (opts.toolCallFastPath ?? config.http.fastPath)
      ? createToolCallHandler({ pipeline: rt.pipeline, tasks: rt.tasks })
      : undefined;
  if (!callTool) rt.logger.info('tools/call fast path off (http.fastPath): every call goes through the SDK server');
  await mcp.connect(transport);
  // The 2026-07-28 server is imported and connected on the first request that speaks it.
  const modern = lazyModern(async () => {
    const m = await import('./http/modern.js');
    const transport = await m.connectModernServer(
      {
        name: definition.name,
        version: definition.version,
        description: definition.description,
        pipeline: rt.pipeline,
      },
      config.limits.callTimeoutMs + 15_000,
    );
    return { transport, classifyEra: m.classifyEra };
  });
  let draining = false;
  // shown as 0 from the start: an alert on its rate then has a series to watch
  rt.metrics.httpConnectionsDropped.inc({ server: definition.name }, 0);
  const server = createListener(config.http, opts.tls?.options, rt.logger, () =>
    rt.metrics.httpConnectionsDropped.inc({ server: definition.name }),
  );
  opts.onServer?.(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.http.port, config.http.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = opts.tls ? 'https' : 'http';
  const hostForUrl = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const resourceUrl = config.http.publicUrl ?? `${scheme}://${hostForUrl}:${port}${config.http.path}`;
  const allowedHosts = new Set(
    [
      `${hostForUrl}:${port}`,
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      new URL(resourceUrl).host,
      ...config.http.allowedHosts,
    ].map((h) => h.toLowerCase()),
  );
  const authenticator =
    typeof opts.authenticator === 'function' ? await opts.authenticator(resourceUrl) : opts.authenticator;
  const allowedOrigins = new Set(
    [new URL(resourceUrl).origin, ...config.http.allowedOrigins].map((o) => o.toLowerCase()),
  );
  // In-flight HTTP requests, so shutdown waits for responses to be written, not just for handlers.
  let active = 0;
  let onIdle: (() => void) | undefined;
  const handler = createHttpHandler({
    server: definition.name,
    path: config.http.path,
    resourceUrl,
    authorizationServers: opts.authorizationServers,
    scopesSupported: ['read', 'write', 'admin'].map((l) => `mcp:${definition.name}:${l}`),
    allowedHosts,
    allowedOrigins,
    maxBodyBytes: config.http.maxBodyBytes,
    authenticator,
    pipeline: rt.pipeline,
    transport,
    callTool,
    modern,
    metrics: rt.metrics,
    logger: rt.logger,
    ...(opts.tls ? { peer: opts.tls.peer } : opts.peer ? { peer: opts.peer } : {}),
    ready: async () => {
      const state = await rt.ready();
      return state.ready ? authenticatorReadiness(authenticator) : state;
    },
    isDraining: () => draining,
    console:
      config.approvals.consoleClientId && opts.authorizationServers[0]
        ? {
            clientId: config.approvals.consoleClientId,
            issuer: opts.authorizationServers[0],
            scope: `openid ${APPROVER_SCOPE}`,
          }
        : undefined,
  });
  server.on('request', (req, res) => {
    active++;
    res.once('close', () => {
      active--;
      if (active === 0) onIdle?.();
    });
    handler(req, res);
  });
  const idle = () => (active === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onIdle = resolve)));
  const url = new URL(config.http.path, `${scheme}://${hostForUrl}:${port}`).toString();
  rt.logger.info({ url, resource: resourceUrl, tools: rt.registry.enabled(definition.name).length }, 'listening');
  let shutdownPromise: Promise<void> | undefined;
  return {
    server,
    url,
    port,
    shutdown() {
      shutdownPromise ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const graceMs = shutdownGraceMsOf(config);
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<'grace'>((resolve) => {
          timer = setTimeout(() => resolve('grace'), graceMs);
        });
        const drained = await Promise.race([Promise.all([idle(), rt.pipeline.idle()]), grace]);
        clearTimeout(timer);
        if (drained === 'grace' && rt.pipeline.inFlight > 0) {
          // Answer the calls still running (ERR_OUTCOME_UNKNOWN, audited 'unknown') rather than cut them off.
          rt.logger.warn(
            { inFlight: rt.pipeline.inFlight, graceMs },
            'shutdown grace over: outcome of running calls unknown',
          );
          await rt.pipeline.abandonInFlight();
          await Promise.race([idle(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
        }
        server.closeAllConnections();
        await closed;
        await Promise.all([mcp.close(), modern.close()]);
        await authenticator.close?.();
      })();
      return shutdownPromise;
    },
  };
}

/** How often a warning about connections dropped over http.maxConnections may be logged. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * The HTTP(S) listener, bounded against slow and idle clients. Node's own defaults leave a connection
 * 60 s to send its headers, 300 s for the whole request and 120 s for a TLS handshake, check those
 * deadlines only every 30 s, and accept connections without limit: a few thousand sockets trickling a
 * byte at a time held the process's file descriptors for minutes. Here:
 * - headers (and the TLS handshake) within http.headersTimeoutMs, the whole request within
 *   http.requestTimeoutMs (408, then the connection is closed), checked at least every second;
 * - at most http.maxConnections sockets: one more is dropped on accept by Node (`maxConnections`),
 *   before a byte is parsed or a handshake started, the cheapest refusal there is; each drop is counted
 *   (ravenhelm_http_connections_dropped_total), the warning is logged at most every 10 s;
 * - idle keep-alive connections close after 65 s, longer than the usual load balancer idle timeout (60 s),
 *   so the balancer, not this server, closes them and never sends a request on a socket being closed.
 * The answer to a request is not bounded here: the call timeout and the transport deadline bound it.
 */
function createListener(
  http: FullConfig<z.ZodObject>['http'],
  tls: import('node:tls').TlsOptions | undefined,
  logger: Logger,
  onDrop: () => void,
): HttpServer {
  const checking = {
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(http.headersTimeoutMs / 4))),
  };
  const server = tls
    ? createHttpsServer({ ...tls, ...checking, handshakeTimeout: http.headersTimeoutMs })
    : createHttpServer(checking);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = http.headersTimeoutMs;
  server.requestTimeout = http.requestTimeoutMs;
  server.maxConnections = http.maxConnections;
  let dropped = 0;
  let lastLog = 0;
  server.on('drop', () => {
    onDrop();
    dropped++;
    const now = Date.now();
    if (now - lastLog < DROP_LOG_INTERVAL_MS) return;
    lastLog = now;
    logger.warn(
      { dropped, maxConnections: http.maxConnections },
      'connections over http.maxConnections dropped on accept: raise RAVENHELM_HTTP_MAX_CONNECTIONS (within the open-file limit) if these are real clients',
    );
    dropped = 0;
  });
  return server;
}

/**
 * Not ready while the authenticator cannot check tokens (no signing keys, discovery failing): every call
 * would be refused with 503, so traffic is better sent to a replica that can. Why this is right even when
 * every replica fails alike (the issuer is down, or a bad RAVENHELM_AUTH_ISSUER rolled out everywhere):
 * - a rollout with a wrong issuer never becomes ready, so the old replicas keep serving (the main win);
 * - a replica whose own egress, DNS or CA bundle is broken leaves the Service while the others serve;
 * - with the issuer down everywhere, callers get 503 from the proxy instead of from us: the same answer
 *   (nothing could be authorized anyway), and replicas rejoin within a probe period once keys load.
 * Readiness only: liveness (/healthz) stays 200, since restarting cannot fix the issuer. A warm key cache
 * (fresh within jwksCacheMaxAgeSeconds) stays ready through a short issuer outage, as tokens still verify.
 * The authenticator bounds the cost: fresh keys mean no fetch, and a failure is not refetched for 5 s. With
 * introspection, readiness also proves the client credentials (one probe of a random non-JWT string: a refusal
 * of the client is not an inactive token), at most once per 10 min while accepted and once per 5 s while refused.
 */
async function authenticatorReadiness(authenticator: Authenticator): Promise<{ ready: boolean; reason?: string }> {
  if (authenticator.readiness) return authenticator.readiness();
  if (authenticator.ready && !(await authenticator.ready())) {
    return { ready: false, reason: 'the authenticator cannot check tokens' };
  }
  return { ready: true };
}

/** Who holds an audit log's lock, when opening it failed only because another live writer has it. */
function liveHolderOf(err: unknown): string | undefined {
  if (!(err instanceof RavenhelmError) || err.code !== 'ERR_AUDIT_UNAVAILABLE') return undefined;
  const holder = err.details.holder as { pid?: number; hostname?: string } | undefined;
  return holder ? `pid ${holder.pid} on ${holder.hostname}` : undefined;
}
