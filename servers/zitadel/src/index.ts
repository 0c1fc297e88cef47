import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type AnyTool, commaSeparated, defineServer, ownRecord, RavenhelmError, specsOf } from '@ravenhelm/kit';
import { z } from 'zod';
import { parseKeyFile, ZitadelBackend } from './backend.js';
import { SecretsKeyStore } from './keystore.js';
import { loadRegistry } from './registry.js';
import { adminTools } from './tools/admin.js';
import { agentTools } from './tools/agents.js';
import { capabilityTools } from './tools/capabilities.js';
import type { ZitadelServices } from './tools/define.js';
import { eventTools } from './tools/events.js';
import { projectTools } from './tools/projects.js';
import { userTools } from './tools/users.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Every tool of the Zitadel server, in the order tools/list shows them. */
export const tools: readonly AnyTool<ZitadelServices>[] = [
  ...userTools,
  ...projectTools,
  ...capabilityTools,
  ...agentTools,
  ...adminTools,
  ...eventTools,
];

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;
const csv = commaSeparated(z.array(z.string().min(1)));
const jsonRecord = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  },
  // ownRecord, not z.record: z.record drops a `__proto__` key without a word (a role mapped to scopes, gone).
  // Such a role is refused instead of kept: auth.roleScopes, which must hold the same mapping, reads it with
  // z.record, so there it would grant nothing while this server showed it granting.
  ownRecord(z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be one scope')), {
    key: z
      .string()
      .min(1)
      .refine(
        (k) => k !== '__proto__',
        'a role named __proto__ cannot be mapped (auth.roleScopes drops it); rename it',
      ),
    message: 'must be a JSON object of role key to a list of MCP scopes',
  }),
);

export const ZitadelBackendConfig = z.object({
  url: z
    .url()
    .refine((u) => {
      const url = new URL(u);
      return !url.username && !url.password && (url.protocol === 'https:' || LOOPBACK.test(url.hostname));
    }, 'must be an https URL (plain http only on loopback), without credentials')
    .optional()
    .describe('ZITADEL_URL: Zitadel base URL, which is also its issuer'),
  keyFile: z.string().min(1).optional().describe("ZITADEL_KEY_FILE: the server's service-account JSON key file"),
  orgId: z.string().min(1).optional().describe('ZITADEL_ORG_ID: sent as x-zitadel-orgid; management calls act there'),
  timeoutMs: z.coerce.number().int().min(100).max(120_000).default(10_000).describe('Per-call timeout'),
  maxResponseBytes: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .max(32 * 1024 * 1024)
    .default(4 * 1024 * 1024)
    .describe('Cap on one Zitadel answer read into memory'),
  scope: z
    .string()
    .default('openid urn:zitadel:iam:org:project:id:zitadel:aud')
    .describe('Scopes the JWT-profile grant asks for (the zitadel audience reaches the APIs)'),
  roles: z
    .object({
      projectId: z.string().min(1).optional().describe('The MCP project: the auth package reads roles only from it'),
      allowedOrgIds: csv.default([]).describe('Organisations whose grants count (as auth.allowedOrgIds)'),
      roleScopes: jsonRecord.default({}).describe('Role -> MCP scopes (as auth.roleScopes)'),
    })
    .prefault({})
    .refine((r) => Object.keys(r.roleScopes).length === 0 || (r.projectId && r.allowedOrgIds.length > 0), {
      message: 'roles.roleScopes needs roles.projectId and roles.allowedOrgIds, exactly as auth.* does',
    })
    .describe('The role-to-scope mapping; set it to the same values as auth.projectId/allowedOrgIds/roleScopes'),
  keyStore: z
    .object({
      kind: z
        .enum(['none', 'secretsmanager'])
        .default('none')
        .describe(
          'ZITADEL_KEY_STORE: secretsmanager puts new key files into AWS Secrets Manager; none returns them once',
        ),
      secretPrefix: z
        .string()
        .max(256)
        .regex(/^[A-Za-z0-9/_+=.@-]*$/, 'letters, digits and / _ + = . @ -')
        .default('zitadel/keys/')
        .describe('ZITADEL_KEY_SECRET_PREFIX: secrets are named <prefix><username>/<keyId>'),
      timeoutMs: z.coerce.number().int().min(100).max(120_000).default(10_000).describe('Per-call timeout'),
      maxAttempts: z.coerce.number().int().min(1).max(5).default(2).describe('SDK attempts per call'),
      region: z.string().min(1).optional().describe("AWS region; default: the SDK's chain (AWS_REGION, profile)"),
      endpoint: z
        .url()
        .optional()
        .describe("Endpoint override; default: the SDK's (AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL)"),
    })
    .prefault({})
    .describe('Optional: where keys_add and agents_onboard put new key files; credentials from the AWS SDK chain'),
  registry: z
    .object({
      workspaceRoot: z.string().min(1).optional().describe('Where servers/* live; default: found above the cwd'),
      policyFile: z.string().min(1).optional().describe('The policy file the servers run with'),
    })
    .prefault({})
    .describe('Where agents_get_capabilities finds every server tool and the policy'),
});

export const zitadelServer = defineServer({
  name: 'zitadel',
  version,
  defaultPort: 8704,
  description: 'Zitadel: users, service accounts, project roles, grants and what an agent may do',
  tools,
  /** What on-call asks first; the rest is one toolsets_enable away (RAVENHELM_TOOLSETS=default). */
  defaultToolsets: ['users', 'projects', 'roles'],
  backendConfig: ZitadelBackendConfig,
  backendEnv: {
    ZITADEL_URL: 'url',
    ZITADEL_KEY_FILE: 'keyFile',
    ZITADEL_ORG_ID: 'orgId',
    ZITADEL_PROJECT_ID: 'roles.projectId',
    ZITADEL_ALLOWED_ORG_IDS: 'roles.allowedOrgIds',
    ZITADEL_ROLE_SCOPES: 'roles.roleScopes',
    ZITADEL_POLICY_FILE: 'registry.policyFile',
    ZITADEL_KEY_STORE: 'keyStore.kind',
    ZITADEL_KEY_SECRET_PREFIX: 'keyStore.secretPrefix',
    ZITADEL_KEY_STORE_TIMEOUT_MS: 'keyStore.timeoutMs',
    ZITADEL_KEY_STORE_MAX_ATTEMPTS: 'keyStore.maxAttempts',
  },
  createServices: (config, { metrics }): ZitadelServices => {
    if (!config.url || !config.keyFile) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        'set ZITADEL_URL (Zitadel base URL) and ZITADEL_KEY_FILE (the server service account JSON key file)',
      );
    }
    let text: string;
    try {
      text = readFileSync(config.keyFile, 'utf8');
    } catch (err) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        `cannot read ZITADEL_KEY_FILE ${config.keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    let keyFile: ReturnType<typeof parseKeyFile>;
    try {
      keyFile = parseKeyFile(text, `ZITADEL_KEY_FILE ${config.keyFile}`);
    } catch (err) {
      throw new RavenhelmError('ERR_BAD_REQUEST', (err as Error).message);
    }
    return {
      zitadel: new ZitadelBackend({
        url: config.url,
        keyFile,
        orgId: config.orgId,
        timeoutMs: config.timeoutMs,
        maxResponseBytes: config.maxResponseBytes,
        scope: config.scope,
        metrics,
      }),
      mapping: config.roles,
      keyStore:
        config.keyStore.kind === 'secretsmanager'
          ? new SecretsKeyStore({
              prefix: config.keyStore.secretPrefix,
              timeoutMs: config.keyStore.timeoutMs,
              maxAttempts: config.keyStore.maxAttempts,
              region: config.keyStore.region,
              endpoint: config.keyStore.endpoint,
              metrics,
            })
          : undefined,
      registry: loadRegistry(config.registry),
    };
  },
  ready: async ({ zitadel }, signal) => {
    await zitadel.ping(signal);
  },
});

/** The registry's view of this server's tools: read by the registry CLI, docs and snapshots. */
export const toolSpecs = specsOf(zitadelServer);

export { parseKeyFile, ZitadelBackend, type ZitadelBackendOptions, zitadelError } from './backend.js';
export { SecretsKeyStore, type SecretsKeyStoreOptions, type StoredKey } from './keystore.js';
export type { RoleMapping, ZitadelServices } from './tools/define.js';
