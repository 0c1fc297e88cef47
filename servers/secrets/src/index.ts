import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import {
  type AnyTool,
  connectRedis,
  createConfirmationStore,
  defineServer,
  RedisTlsConfigSchema,
  specsOf,
} from '@ravenhelm/kit';
import { z } from 'zod';
import { SecretsBackend } from './backend.js';
import { StrengthPolicy } from './checks.js';
import { auditTools } from './tools/audit.js';
import type { SecretsServices } from './tools/define.js';
import { secretTools } from './tools/secrets.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Every tool of the Secrets server, in the order tools/list shows them. */
export const tools: readonly AnyTool<SecretsServices>[] = [...secretTools, ...auditTools];

/** `a,b` or `a:b` from the environment, a list from YAML. */
const PathList = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(/[,:]/)
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().min(1)).max(32),
);

export const SecretsBackendConfig = z.object({
  region: z.string().min(1).optional().describe("AWS region; the SDK's own chain when unset (AWS_REGION, profile)"),
  endpoint: z
    .url()
    .optional()
    .or(z.literal('').transform(() => undefined))
    .describe('Endpoint override, e.g. LocalStack http://localhost:4566 (AWS_ENDPOINT_URL)'),
  timeoutMs: z.coerce
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(5000)
    .describe('Per-call timeout for Secrets Manager'),
  maxAttempts: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(2)
    .describe('SDK attempts per call (retries on throttling)'),
  fingerprintKey: z
    .string()
    .min(16)
    .optional()
    .describe(
      'Key for value fingerprints and secrets_put request tokens; random per process when unset (fingerprints then compare within one run, and identical puts through two replicas may write two versions)',
    ),
  revealRedisUrl: z
    .string()
    .optional()
    .describe(
      'Redis for reveal tokens, so replicas share them (RAVENHELM_REDIS_URL, as the kit); in-process when unset',
    ),
  revealRedisSentinelPassword: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Password of the sentinels, with a redis+sentinel:// URL (RAVENHELM_REDIS_SENTINEL_PASSWORD, as the kit)',
    ),
  revealRedisTls: RedisTlsConfigSchema.optional().describe(
    'TLS files for that Redis with a rediss:// URL (RAVENHELM_REDIS_TLS_*, as the kit; checked at connect)',
  ),
  revealTtlSeconds: z.coerce.number().int().min(10).max(900).default(120).describe('Lifetime of a reveal token'),
  strength: StrengthPolicy.prefault({}).describe('What store_audit and files_audit call weak or stale'),
  files: z
    .object({
      roots: PathList.default([]).describe('Directories files_audit may scan (SECRETS_FILE_ROOTS, comma-separated)'),
      maxFiles: z.coerce.number().int().min(1).max(10_000).default(500),
      maxFileBytes: z.coerce
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(256 * 1024),
      maxDepth: z.coerce.number().int().min(0).max(32).default(8),
    })
    .prefault({}),
});

export const secretsServer = defineServer({
  name: 'secrets',
  version,
  defaultPort: 8706,
  description:
    'AWS Secrets Manager (or LocalStack): list, masked get, put, rotate, delete; audits of the store and of .env files',
  tools,
  /** What on-call asks first; the rest is one toolsets_enable away (RAVENHELM_TOOLSETS=default). */
  defaultToolsets: ['store', 'secrets'],
  backendConfig: SecretsBackendConfig,
  backendEnv: {
    AWS_REGION: 'region',
    AWS_ENDPOINT_URL: 'endpoint',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: 'endpoint',
    SECRETS_FILE_ROOTS: 'files.roots',
    SECRETS_FINGERPRINT_KEY: 'fingerprintKey',
    SECRETS_TIMEOUT_MS: 'timeoutMs',
    RAVENHELM_REDIS_URL: 'revealRedisUrl',
    RAVENHELM_REDIS_SENTINEL_PASSWORD: 'revealRedisSentinelPassword',
    RAVENHELM_REDIS_TLS_CA_FILE: 'revealRedisTls.caFile',
    RAVENHELM_REDIS_TLS_CERT_FILE: 'revealRedisTls.certFile',
    RAVENHELM_REDIS_TLS_KEY_FILE: 'revealRedisTls.keyFile',
    RAVENHELM_REDIS_TLS_SERVER_NAME: 'revealRedisTls.serverName',
    SECRETS_MAX_ATTEMPTS: 'maxAttempts',
    SECRETS_FILE_MAX_FILES: 'files.maxFiles',
    SECRETS_FILE_MAX_BYTES: 'files.maxFileBytes',
  },
  secretPaths: ['fingerprintKey', 'revealRedisUrl', 'revealRedisSentinelPassword'],
  createServices: async (config, { metrics }): Promise<SecretsServices> => {
    const redis = config.revealRedisUrl
      ? await connectRedis(config.revealRedisUrl, {
          ...(config.revealRedisSentinelPassword ? { sentinelPassword: config.revealRedisSentinelPassword } : {}),
          ...(config.revealRedisTls ? { tls: config.revealRedisTls } : {}),
        })
      : undefined;
    const fingerprintKey = config.fingerprintKey ? Buffer.from(config.fingerprintKey, 'utf8') : randomBytes(32);
    return {
      sm: new SecretsBackend({
        region: config.region,
        endpoint: config.endpoint,
        timeoutMs: config.timeoutMs,
        maxAttempts: config.maxAttempts,
        metrics,
        // shared by replicas when configured: identical puts through two replicas write one version
        requestTokenKey: fingerprintKey,
      }),
      fingerprintKey,
      strength: config.strength,
      files: config.files,
      reveals: createConfirmationStore({ keyPrefix: 'ravenhelm:reveal:secrets', ...(redis ? { redis } : {}) }),
      revealTtlSeconds: config.revealTtlSeconds,
      ...(redis ? { redis } : {}),
    };
  },
  ready: async ({ sm }, signal) => {
    await sm.list({ maxResults: 1 }, signal);
  },
  close: async ({ sm, reveals, redis }) => {
    sm.destroy();
    await reveals.close();
    await redis?.quit().catch(() => undefined);
  },
});

/** The registry's view of this server's tools: read by the registry CLI, docs and snapshots. */
export const toolSpecs = specsOf(secretsServer);

export { SecretsBackend, type SecretsBackendOptions } from './backend.js';
export { checkSecret, checkValue, looksSecret, maskValue, WEAK_DEFAULTS } from './checks.js';
export { fileKind, literalValue, parseEntries } from './files.js';
export { RevealPolicy, spiffeMatch } from './reveal.js';
export type { SecretsServices } from './tools/define.js';
export { generateValue } from './tools/values.js';
