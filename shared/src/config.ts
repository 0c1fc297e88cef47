import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { INTROSPECTION_AUTH_METHODS, namedRecord } from '@ravenhelm/auth';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RavenhelmError } from './errors.js';
import { describeZodError } from './invoke.js';
import { DEFAULT_ADMISSION } from './pipeline/admission.js';
import { parseHeaderList } from './telemetry/otlp.js';

const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
/** Environment values are strings: 'false' must mean false (z.coerce.boolean would say true). */
const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(s)) return true;
  if (['false', '0', 'no', 'off', ''].includes(s)) return false;
  return v;
}, z.boolean());
/** A list setting that an environment variable gives comma-separated (a YAML file may give a list). */
export function commaSeparated<T extends z.ZodType>(list: T) {
  return z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    list,
  );
}
const csv = commaSeparated(z.array(z.string()));
/**
 * Scopes, comma- or space-separated: OAuth writes a scope list with spaces (RFC 6749 3.3, where a scope
 * holds neither), so `mcp:x:read mcp:x:write` is two scopes, not one that matches nothing.
 */
const scopeList = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v),
  z.array(z.string().regex(/^[^\s,]+$/, 'a scope holds no spaces or commas')),
);

// --- audit shipping and traces (issue 15): one block -------------------------------------------------
/** An http(s) URL without credentials in it (put those in the headers setting, which is redacted). */
const shipUrl = z
  .string()
  .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
  .pipe(z.url())
  .refine((u) => {
    const url = new URL(u);
    return !url.username && !url.password;
  }, 'must not carry credentials: put them in the matching _HEADERS setting (redacted in --print-config)');
/** `name=value,...` (OTEL_EXPORTER_OTLP_HEADERS format) or a YAML mapping. */
const headerList = z.preprocess(
  (v, ctx) => {
    try {
      return parseHeaderList(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return {};
    }
  },
  z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name'), z.string()),
);
const ms = (min: number, max: number, dflt: number) => z.coerce.number().int().min(min).max(max).default(dflt);

export const AuditShipConfigSchema = z
  .object({
    /** Names this replica in shipped records (Loki label `instance`, OTLP service.instance.id); default: the host name. */
    instance: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - only')
      .optional(),
    /** Loki base URL (the push path /loki/api/v1/push is added). */
    lokiUrl: shipUrl.optional(),
    /** X-Scope-OrgID for a multi-tenant Loki. */
    lokiTenant: z.string().min(1).max(150).optional(),
    lokiHeaders: headerList.default({}),
    /** HIGH calls are refused while this sink is saturated or unreachable beyond highMaxLagMs. */
    lokiRequired: bool.default(false),
    /** OTLP/HTTP logs URL, full path (http://collector:4318/v1/logs). */
    otlpUrl: shipUrl.optional(),
    otlpHeaders: headerList.default({}),
    otlpRequired: bool.default(false),
    timeoutMs: ms(100, 60_000, 5000),
    maxBufferRecords: ms(1, 1_000_000, 10_000),
    maxBufferBytes: ms(4096, 1024 * 1024 * 1024, 32 * 1024 * 1024),
    batchRecords: ms(1, 10_000, 500),
    flushIntervalMs: ms(1, 60_000, 1000),
    maxBackoffMs: ms(1, 300_000, 30_000),
    /** A required sink failing for this long (0: any failure) refuses HIGH calls until a push succeeds. */
    highMaxLagMs: ms(0, 3_600_000, 30_000),
  })
  .prefault({});

export const TracesConfigSchema = z
  .object({
    /** OTLP/HTTP traces URL, full path; from OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces. */
    endpoint: shipUrl.optional(),
    /** Base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); /v1/traces is appended. */
    baseEndpoint: shipUrl.optional(),
    headers: headerList.default({}),
    baseHeaders: headerList.default({}),
    serviceName: z.string().min(1).max(200).optional(),
    timeoutMs: ms(100, 60_000, 5000),
    maxQueueSpans: ms(1, 100_000, 2048),
    batchSpans: ms(1, 10_000, 512),
    flushIntervalMs: ms(1, 60_000, 1000),
  })
  .prefault({});

const AUDIT_SHIP_ENV: Readonly<Record<string, string>> = {
  RAVENHELM_INSTANCE_ID: 'auditShip.instance',
  RAVENHELM_AUDIT_SHIP_LOKI_URL: 'auditShip.lokiUrl',
  RAVENHELM_AUDIT_SHIP_LOKI_TENANT: 'auditShip.lokiTenant',
  RAVENHELM_AUDIT_SHIP_LOKI_HEADERS: 'auditShip.lokiHeaders',
  RAVENHELM_AUDIT_SHIP_LOKI_REQUIRED: 'auditShip.lokiRequired',
  RAVENHELM_AUDIT_SHIP_OTLP_URL: 'auditShip.otlpUrl',
  RAVENHELM_AUDIT_SHIP_OTLP_HEADERS: 'auditShip.otlpHeaders',
  RAVENHELM_AUDIT_SHIP_OTLP_REQUIRED: 'auditShip.otlpRequired',
  RAVENHELM_AUDIT_SHIP_TIMEOUT_MS: 'auditShip.timeoutMs',
  RAVENHELM_AUDIT_SHIP_MAX_BUFFER_RECORDS: 'auditShip.maxBufferRecords',
  RAVENHELM_AUDIT_SHIP_MAX_BUFFER_BYTES: 'auditShip.maxBufferBytes',
  RAVENHELM_AUDIT_SHIP_BATCH_RECORDS: 'auditShip.batchRecords',
  RAVENHELM_AUDIT_SHIP_FLUSH_INTERVAL_MS: 'auditShip.flushIntervalMs',
  RAVENHELM_AUDIT_SHIP_MAX_BACKOFF_MS: 'auditShip.maxBackoffMs',
  RAVENHELM_AUDIT_SHIP_HIGH_MAX_LAG_MS: 'auditShip.highMaxLagMs',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'traces.endpoint',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'traces.baseEndpoint',
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'traces.headers',
  OTEL_EXPORTER_OTLP_HEADERS: 'traces.baseHeaders',
  OTEL_SERVICE_NAME: 'traces.serviceName',
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: 'traces.timeoutMs',
  OTEL_BSP_MAX_QUEUE_SIZE: 'traces.maxQueueSpans',
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'traces.batchSpans',
  OTEL_BSP_SCHEDULE_DELAY: 'traces.flushIntervalMs',
};
const AUDIT_SHIP_SECRET_PATHS = [
  'auditShip.lokiHeaders',
  'auditShip.otlpHeaders',
  'traces.headers',
  'traces.baseHeaders',
];
// --- end of the audit shipping and traces block ------------------------------------------------------

/** `redis.tls`: the files for Redis over TLS (also the secrets server's reveal Redis). */
export const RedisTlsConfigSchema = z
  .object({
    /** PEM CA bundle that signs the Redis server certificate; default: the system CA store. */
    caFile: z.string().min(1).optional(),
    /** PEM client certificate, for servers with `tls-auth-clients yes` (the redis-server default). */
    certFile: z.string().min(1).optional(),
    /** PEM private key of certFile (its content is a secret; the path is not). */
    keyFile: z.string().min(1).optional(),
    /** The name to verify the server certificate against (and send as SNI) when the URL names an IP. */
    serverName: z.string().min(1).max(253).optional(),
  })
  .refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), {
    message:
      'redis.tls.certFile (RAVENHELM_REDIS_TLS_CERT_FILE) and redis.tls.keyFile (RAVENHELM_REDIS_TLS_KEY_FILE) go together: set both, or neither',
  });

export const KitConfigSchema = z.object({
  transport: z.enum(['stdio', 'http']).default('http'),
  logLevel: LogLevel.default('info'),
  http: z
    .object({
      host: z.string().default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8700),
      path: z.string().startsWith('/').default('/mcp'),
      /** The URL clients use to reach this server (behind Traefik: the public URL). The OAuth resource. */
      publicUrl: z.url().optional(),
      /** Host header values accepted besides the listen address and publicUrl's host. */
      allowedHosts: csv.default([]),
      /** Origin header values accepted; requests with any other Origin get 403. */
      allowedOrigins: csv.default([]),
      maxBodyBytes: z.coerce
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
      /** Proxies (IPs or IPv4 CIDRs) whose X-Forwarded-Tls-Client-Cert header is believed (Traefik passTLSClientCert). */
      trustedProxies: csv.default([]),
      /** The SPIFFE bundle that forwarded client certificates must chain to (when TLS terminates at the proxy). */
      forwardedBundleFile: z.string().optional(),
      /** The SPIFFE trust domain peer SVIDs must belong to. */
      trustDomain: z.string().default('ravenhelm.local'),
      /**
       * How long shutdown waits for running calls. Default: the call timeout plus a margin, so every call
       * it lets start can finish; calls still running after it are answered and audited as 'unknown'.
       */
      shutdownGraceMs: z.coerce.number().int().min(0).max(700_000).optional(),
      /** Direct mTLS: this server's X.509-SVID files as spiffe-helper writes them (reloaded on rotation). */
      tls: z.object({ certFile: z.string(), keyFile: z.string(), bundleFile: z.string() }).optional(),
      /**
       * The tools/call fast path (plain 2025-era calls run in-process without the SDK server's dispatch; the
       * same answers, docs/performance.md). false sends every call through the SDK server: the switch to
       * turn it off if a call ever behaves differently over HTTP than over stdio.
       */
      fastPath: bool.default(true),
      /**
       * Connections held open at once (TLS handshakes and idle keep-alive included); one more is dropped on
       * accept, before a byte is read or a handshake done, so slow or idle clients cannot take every file
       * descriptor. Keep it below the open-file limit (`ulimit -n`) less what the process needs besides.
       */
      maxConnections: z.coerce.number().int().min(1).max(1_000_000).default(1000),
      /**
       * How long a connection may take to send a request's headers (and, over TLS, its handshake), from
       * its first byte: a client trickling them (slowloris) is answered 408 and cut off after it.
       */
      headersTimeoutMs: z.coerce.number().int().min(100).max(300_000).default(10_000),
      /** How long a connection may take to send a whole request, body included (a trickled body: 408). Not the answer's time. */
      requestTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(30_000),
    })
    .prefault({})
    .refine((h) => h.requestTimeoutMs >= h.headersTimeoutMs, {
      message:
        'http.requestTimeoutMs (RAVENHELM_HTTP_REQUEST_TIMEOUT_MS) bounds the whole request, headers included: set it at least as long as http.headersTimeoutMs (RAVENHELM_HTTP_HEADERS_TIMEOUT_MS)',
    }),
  limits: z
    .object({
      maxOutputBytes: z.coerce
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(64 * 1024),
      callTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(30_000),
      /** Tool calls (tasks included) this process runs at once; more are refused with ERR_SERVER_BUSY. */
      maxCallsInFlight: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_ADMISSION.maxInFlight),
      /** Tool calls one caller may have running at once in this process; more get ERR_TOO_MANY_CALLS. */
      maxCallsInFlightPerCaller: z.coerce
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(DEFAULT_ADMISSION.maxInFlightPerCaller),
    })
    .prefault({}),
  policyFile: z.string().optional(),
  auth: z
    .object({
      /** 'oauth': bearer tokens are required. 'none': every HTTP caller is the configured local principal (loopback only). */
      mode: z.enum(['oauth', 'none']).default('oauth'),
      issuer: z.string().optional(),
      jwksUri: z.string().optional(),
      /**
       * How long a fetched key set, and a JWT verified with it, is trusted (the auth package's default: 600 s).
       * A withdrawn key stops being accepted within it; a JWKS outage longer than it refuses every JWT.
       */
      jwksCacheMaxAgeSeconds: z.coerce.number().int().min(1).max(86_400).optional(),
      audiences: csv.default([]),
      introspection: z
        .object({
          endpoint: z.string().optional(),
          /** With private_key_jwt it comes from the key file (the auth package checks the pair). */
          clientId: z.string().optional(),
          clientSecret: z.string().optional(),
          authMethod: z.enum(INTROSPECTION_AUTH_METHODS).optional(),
          /** private_key_jwt: the Zitadel application key file (path), or its JSON in `key` (a secret). */
          keyFile: z.string().optional(),
          key: z.string().optional(),
          /** New opaque tokens checked at the issuer at once per replica (the auth package's default: 16). */
          maxConcurrent: z.coerce.number().int().min(1).max(1024).optional(),
        })
        .optional(),
      /** The Zitadel project whose roles count (`urn:zitadel:iam:org:project:<id>:roles`); required with roleScopes. */
      projectId: z.string().min(1).optional(),
      roleScopes: namedRecord(z.string(), z.array(z.string()), 'role').default({}),
      /** Organisations whose role grants count; required with roleScopes. */
      allowedOrgIds: csv.optional(),
      spiffeBindings: namedRecord(z.string(), z.array(z.string()), 'client or subject').default({}),
    })
    // Refused at load (the authenticator checks again): a role of our name in another project must not grant scopes.
    .refine((a) => Object.keys(a.roleScopes).length === 0 || (a.projectId && (a.allowedOrgIds ?? []).length > 0), {
      message:
        "auth.roleScopes needs auth.projectId (RAVENHELM_AUTH_PROJECT_ID) and auth.allowedOrgIds (RAVENHELM_AUTH_ALLOWED_ORG_IDS): only that project's roles, granted by those organisations, become scopes",
    })
    .prefault({}),
  /** The principal over stdio (and over HTTP with auth.mode none). */
  local: z
    .object({
      subject: z.string().default('local'),
      scopes: scopeList.optional(),
      spiffeId: z.string().optional(),
      /** HIGH tools stay off over stdio unless the operator turns them on. */
      allowHigh: bool.default(false),
    })
    .prefault({}),
  audit: z
    .object({
      file: z.string().optional(),
      /** Repeated denials (same principal, tool and reason) within this window share one summary record. */
      denialWindowSeconds: z.coerce.number().int().min(1).max(3600).default(60),
      /**
       * /readyz answers 503 while the log's file system has fewer bytes free than this (a server started
       * on a full volume is unready from the start). 0 turns the check off (a failed write still does).
       */
      minFreeBytes: z.coerce
        .number()
        .int()
        .min(0)
        .default(1024 * 1024),
      /**
       * Outcome records the log could not take for lack of space (calls that ran) also go here at a stop,
       * and are appended to the log at the next start. Put it on another volume. Default: none (they go to
       * the server's log only).
       */
      fallbackFile: z.string().min(1).optional(),
      /**
       * Rotate the log once it holds this many bytes (the server renames it to `<file>.<UTC time>` and
       * continues the chain in a new file). 0 turns rotation off. Default 64 MiB: small enough to copy,
       * ship or verify one file at a time, large enough to rotate rarely (a rotation costs ~3 ms).
       */
      rotateBytes: z.coerce
        .number()
        .int()
        .refine((n) => n === 0 || (n >= 16_384 && n <= Number.MAX_SAFE_INTEGER), {
          message: `must be 0 (no rotation) or from 16384 bytes (16 KiB) up`,
        })
        .default(64 * 1024 * 1024),
      /**
       * Rotated files kept beside the log: each rotation removes the oldest so that at most this many
       * remain, a crash mid-rotation included. 0 (default): none is removed. Deleting audit records is the operator's decision, never a default:
       * set it where the records are shipped elsewhere (audit.ship) or the volume is bounded.
       */
      keepFiles: z.coerce
        .number()
        .int()
        .min(0, 'must be 0 (keep every file) or more')
        .max(100_000, 'must be at most 100000')
        .default(0),
    })
    .prefault({}),
  rateLimit: z
    .object({
      points: z.coerce.number().int().min(1).default(60),
      durationSeconds: z.coerce.number().int().min(1).default(60),
    })
    .prefault({}),
  redis: z
    .object({
      /** redis://, rediss://, or redis+sentinel://[user:password@]host1:26379,host2:26379/<masterName>[/<db>]. */
      url: z.string().optional(),
      /** The password the sentinels require, when they do (a redis+sentinel:// URL carries the master's). */
      sentinelPassword: z.string().min(1).optional(),
      /** TLS with a private CA and a client certificate (rediss:// only); the files are read again at each reconnect. */
      tls: RedisTlsConfigSchema.optional(),
    })
    .refine((r) => !Object.values(r.tls ?? {}).some(Boolean) || /^rediss(\+sentinel)?:\/\//i.test(r.url ?? ''), {
      message:
        'redis.tls.* (RAVENHELM_REDIS_TLS_*) is set but RAVENHELM_REDIS_URL is not a TLS URL: use rediss:// (or rediss+sentinel://)',
    })
    .prefault({}),
  /** Dynamic toolsets (docs/toolsets.md): 'all' (default), 'default' (the server's declared set) or a,b. */
  toolsets: z
    .object({
      start: z.string().trim().min(1).optional(),
      /** How long a principal's enabled toolsets last after its latest toolsets_enable. */
      ttlSeconds: z.coerce
        .number()
        .int()
        .min(60)
        .max(7 * 24 * 3600)
        .default(8 * 3600),
    })
    .prefault({}),
  confirm: z.object({ ttlSeconds: z.coerce.number().int().min(10).max(3600).default(120) }).prefault({}),
  auditShip: AuditShipConfigSchema,
  traces: TracesConfigSchema,
  approvals: z
    .object({
      /** POSTed an Alertmanager-style JSON message for every new pending approval request. */
      webhookUrl: z
        .string()
        .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
        .pipe(z.url())
        .optional(),
      webhookTimeoutMs: z.coerce.number().int().min(100).max(30_000).default(3000),
      /** The public OIDC client (authorization code + PKCE) the web console at /approvals/console logs in with. */
      consoleClientId: z
        .string()
        .regex(/^[A-Za-z0-9._:@-]{1,200}$/, 'must be an OAuth client id')
        .optional(),
    })
    .prefault({}),
});

export type KitConfig = z.output<typeof KitConfigSchema>;

/** Shutdown grace beyond the call timeout: the audit writes and the answer after the handler. */
export const SHUTDOWN_MARGIN_MS = 5_000;

/** The shutdown grace in effect: configured, or the call timeout plus a margin. */
export function shutdownGraceMsOf(config: Pick<KitConfig, 'http' | 'limits'>): number {
  return config.http.shutdownGraceMs ?? config.limits.callTimeoutMs + SHUTDOWN_MARGIN_MS;
}

/** Environment variables every server understands, mapped to config paths. */
export const KIT_ENV: Readonly<Record<string, string>> = {
  RAVENHELM_TRANSPORT: 'transport',
  RAVENHELM_LOG_LEVEL: 'logLevel',
  RAVENHELM_HTTP_HOST: 'http.host',
  RAVENHELM_HTTP_PORT: 'http.port',
  RAVENHELM_PUBLIC_URL: 'http.publicUrl',
  RAVENHELM_ALLOWED_HOSTS: 'http.allowedHosts',
  RAVENHELM_ALLOWED_ORIGINS: 'http.allowedOrigins',
  RAVENHELM_TRUSTED_PROXIES: 'http.trustedProxies',
  RAVENHELM_TLS_CERT_FILE: 'http.tls.certFile',
  RAVENHELM_TLS_KEY_FILE: 'http.tls.keyFile',
  RAVENHELM_TLS_BUNDLE_FILE: 'http.tls.bundleFile',
  RAVENHELM_TRUST_DOMAIN: 'http.trustDomain',
  RAVENHELM_FORWARDED_BUNDLE_FILE: 'http.forwardedBundleFile',
  RAVENHELM_MAX_OUTPUT_BYTES: 'limits.maxOutputBytes',
  RAVENHELM_CALL_TIMEOUT_MS: 'limits.callTimeoutMs',
  RAVENHELM_MAX_CALLS_IN_FLIGHT: 'limits.maxCallsInFlight',
  RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: 'limits.maxCallsInFlightPerCaller',
  RAVENHELM_POLICY_FILE: 'policyFile',
  RAVENHELM_AUTH_MODE: 'auth.mode',
  RAVENHELM_AUTH_ISSUER: 'auth.issuer',
  RAVENHELM_AUTH_JWKS_URI: 'auth.jwksUri',
  RAVENHELM_AUTH_JWKS_CACHE_MAX_AGE_SECONDS: 'auth.jwksCacheMaxAgeSeconds',
  RAVENHELM_AUTH_AUDIENCES: 'auth.audiences',
  RAVENHELM_AUTH_PROJECT_ID: 'auth.projectId',
  RAVENHELM_AUTH_ALLOWED_ORG_IDS: 'auth.allowedOrgIds',
  RAVENHELM_INTROSPECTION_CLIENT_ID: 'auth.introspection.clientId',
  RAVENHELM_INTROSPECTION_CLIENT_SECRET: 'auth.introspection.clientSecret',
  RAVENHELM_INTROSPECTION_AUTH_METHOD: 'auth.introspection.authMethod',
  RAVENHELM_INTROSPECTION_KEY_FILE: 'auth.introspection.keyFile',
  RAVENHELM_INTROSPECTION_KEY: 'auth.introspection.key',
  RAVENHELM_LOCAL_SUBJECT: 'local.subject',
  RAVENHELM_LOCAL_SCOPES: 'local.scopes',
  RAVENHELM_LOCAL_SPIFFE_ID: 'local.spiffeId',
  RAVENHELM_LOCAL_ALLOW_HIGH: 'local.allowHigh',
  RAVENHELM_AUDIT_FILE: 'audit.file',
  RAVENHELM_AUDIT_DENIAL_WINDOW_SECONDS: 'audit.denialWindowSeconds',
  RAVENHELM_AUDIT_MIN_FREE_BYTES: 'audit.minFreeBytes',
  RAVENHELM_AUDIT_FALLBACK_FILE: 'audit.fallbackFile',
  RAVENHELM_AUDIT_ROTATE_BYTES: 'audit.rotateBytes',
  RAVENHELM_AUDIT_KEEP_FILES: 'audit.keepFiles',
  RAVENHELM_SHUTDOWN_GRACE_MS: 'http.shutdownGraceMs',
  RAVENHELM_HTTP_FAST_PATH: 'http.fastPath',
  RAVENHELM_HTTP_MAX_CONNECTIONS: 'http.maxConnections',
  RAVENHELM_HTTP_HEADERS_TIMEOUT_MS: 'http.headersTimeoutMs',
  RAVENHELM_HTTP_REQUEST_TIMEOUT_MS: 'http.requestTimeoutMs',
  RAVENHELM_RATE_LIMIT_POINTS: 'rateLimit.points',
  RAVENHELM_RATE_LIMIT_WINDOW_SECONDS: 'rateLimit.durationSeconds',
  RAVENHELM_REDIS_URL: 'redis.url',
  RAVENHELM_REDIS_SENTINEL_PASSWORD: 'redis.sentinelPassword',
  RAVENHELM_REDIS_TLS_CA_FILE: 'redis.tls.caFile',
  RAVENHELM_REDIS_TLS_CERT_FILE: 'redis.tls.certFile',
  RAVENHELM_REDIS_TLS_KEY_FILE: 'redis.tls.keyFile',
  RAVENHELM_REDIS_TLS_SERVER_NAME: 'redis.tls.serverName',
  RAVENHELM_TOOLSETS: 'toolsets.start',
  RAVENHELM_TOOLSETS_TTL_SECONDS: 'toolsets.ttlSeconds',
  RAVENHELM_APPROVALS_WEBHOOK_URL: 'approvals.webhookUrl',
  RAVENHELM_APPROVALS_WEBHOOK_TIMEOUT_MS: 'approvals.webhookTimeoutMs',
  RAVENHELM_APPROVALS_CONSOLE_CLIENT_ID: 'approvals.consoleClientId',
  ...AUDIT_SHIP_ENV,
};

/** Config paths whose values are secrets: redacted in --print-config and never logged. */
export const KIT_SECRET_PATHS = [
  'auth.introspection.clientSecret',
  'auth.introspection.key',
  'redis.url',
  'redis.sentinelPassword',
  'approvals.webhookUrl',
  ...AUDIT_SHIP_SECRET_PATHS,
];

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] as string] = value;
}

function getPath(source: Record<string, unknown>, path: string): unknown {
  return path
    .split('.')
    .reduce<unknown>(
      (node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined),
      source,
    );
}

export interface LoadConfigOptions<C extends z.ZodObject> {
  backendSchema: C;
  backendEnv?: Readonly<Record<string, string>>;
  env?: NodeJS.ProcessEnv;
  /** Path of a YAML file; RAVENHELM_CONFIG when not given. */
  file?: string | undefined;
  /** Highest precedence: values from command-line flags, as config paths. */
  overrides?: Record<string, unknown>;
  /** Lowest precedence: per-server defaults (e.g. `http.port`), as config paths. */
  defaults?: Record<string, unknown>;
}

/**
 * Where a server keeps its audit log unless `audit.file` says otherwise: a per-user state directory
 * (XDG state home), one file per server, so a GUI client starting the server from `/` can write it and
 * two servers never share a file.
 */
export function defaultAuditFile(server: string, env: NodeJS.ProcessEnv = process.env): string {
  const stateHome = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(stateHome, 'ravenhelm', server, 'audit.jsonl');
}

/**
 * How many copies of one server may share the default audit location: several stdio clients (Claude and
 * Cursor, two editor windows) each start their own copy from the same mcp.json entry, and every copy needs
 * a log of its own (one writer per file). Copy n > 1 writes `audit-<n>.jsonl` beside `audit.jsonl` (over
 * stdio, `<name>-<n><ext>` beside a configured log).
 */
export const DEFAULT_AUDIT_SLOTS = 8;

/** The audit log of copy `n` (1-based) of a server: `audit.jsonl`, then `audit-2.jsonl`... */
export function auditSlot(file: string, n: number): string {
  const ext = extname(file);
  return n <= 1 ? file : join(dirname(file), `${basename(file, ext)}-${n}${ext}`);
}

export type FullConfig<C extends z.ZodObject> = KitConfig & { backend: z.output<C> };

/** Loads config: defaults <- YAML file <- environment <- flags, then validates everything with zod. */
export function loadConfig<C extends z.ZodObject>(opts: LoadConfigOptions<C>): FullConfig<C> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.RAVENHELM_CONFIG;
  const raw: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(opts.defaults ?? {})) setPath(raw, path, value);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const parsed = parseYaml(text) ?? {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new RavenhelmError('ERR_BAD_REQUEST', `config file ${file} must be a YAML mapping`);
    }
    for (const [key, value] of Object.entries(parsed)) {
      const current = raw[key];
      raw[key] =
        current && typeof current === 'object' && value && typeof value === 'object' && !Array.isArray(value)
          ? { ...current, ...value }
          : value;
    }
  }
  // Which variable set each path, so an error names what the operator typed, not only the config key.
  const setBy = new Map<string, string>();
  for (const [name, path] of Object.entries(KIT_ENV)) {
    if (env[name] !== undefined && env[name] !== '') {
      setPath(raw, path, env[name]);
      setBy.set(path, name);
    }
  }
  for (const [name, path] of Object.entries(opts.backendEnv ?? {})) {
    if (env[name] !== undefined && env[name] !== '') {
      setPath(raw, `backend.${path}`, env[name]);
      setBy.set(`backend.${path}`, name);
    }
  }
  for (const [path, value] of Object.entries(opts.overrides ?? {})) {
    setPath(raw, path, value);
    setBy.set(path, 'a command-line flag');
  }
  const schema = KitConfigSchema.extend({ backend: opts.backendSchema.prefault({} as z.input<C>) });
  const result = schema.safeParse(raw);
  if (!result.success) {
    const named = result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      for (let n = path.length; n > 0; n--) {
        const by = setBy.get(path.slice(0, n).join('.'));
        if (by !== undefined) return { ...issue, message: `${issue.message} (from ${by})` };
      }
      return issue;
    });
    throw new RavenhelmError('ERR_BAD_REQUEST', `invalid configuration: ${describeZodError(new z.ZodError(named))}`);
  }
  const config = result.data as FullConfig<C>;
  config.http.shutdownGraceMs = shutdownGraceMsOf(config);
  return config;
}

/**
 * The Redis URL an operator needs to see (which host, port and database) with its credentials and any
 * query (where a client may take a password) replaced: redis://[redacted]@cache:6379/0.
 */
function redisUrlShown(text: string): string {
  try {
    const u = new URL(text);
    const credentials = u.username !== '' || u.password !== '' ? '[redacted]@' : '';
    return `${u.protocol}//${credentials}${u.host}${u.pathname === '/' ? '' : u.pathname}${u.search ? '?[redacted]' : ''}`;
  } catch {
    return '[redacted]';
  }
}

/** A copy of the config with every secret path replaced, safe to print. */
export function redactConfig(config: object, backendSecretPaths: readonly string[] = []): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  for (const path of [...KIT_SECRET_PATHS, ...backendSecretPaths.map((p) => `backend.${p}`)]) {
    const value = getPath(copy, path);
    if (value === undefined) continue;
    // A header map keeps its names (what is set is worth seeing), never its values.
    const isMap = value !== null && typeof value === 'object' && !Array.isArray(value);
    if (path === 'redis.url' && typeof value === 'string') {
      setPath(copy, path, redisUrlShown(value));
      continue;
    }
    setPath(copy, path, isMap ? Object.fromEntries(Object.keys(value).map((k) => [k, '[redacted]'])) : '[redacted]');
  }
  return copy;
}
