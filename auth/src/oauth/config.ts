import { z } from 'zod';

/** Asymmetric JWS algorithms only: HMAC (`HS*`) and `none` can never be configured. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** RFC 6749 3.3 scope-token: printable ASCII except space, `"` and `\`. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** Zitadel resource ids are numeric snowflakes; custom ids are letters, digits, "-" and "_". */
const ZITADEL_ID = /^[A-Za-z0-9_-]{1,200}$/;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** True for loopback hosts, where plain http is tolerated (dev issuer, tests). */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** https everywhere except loopback; no credentials or fragment in the URL. */
export function isAllowedEndpoint(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password || url.hash) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackUrl(url));
}

const endpointUrl = z.string().refine(isAllowedEndpoint, {
  message: 'must be an https URL (plain http only on loopback), without credentials or fragment',
});

/**
 * A config map keyed by names the operator writes (roles, client ids, subjects). JSON.parse keeps a key
 * named `__proto__` but z.record drops it, so that entry would silently do nothing (a SPIFFE binding left
 * unenforced): such a key is refused by name instead.
 */
export function namedRecord<V extends z.ZodType>(key: z.ZodType<string>, value: V, what: string) {
  return z.preprocess(
    (raw, ctx) => {
      if (raw !== null && typeof raw === 'object' && Object.hasOwn(raw, '__proto__')) {
        ctx.addIssue({ code: 'custom', message: `a ${what} named "__proto__" is not supported: rename it` });
        return {};
      }
      return raw;
    },
    z.record(key, value),
  );
}

export const INTROSPECTION_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type IntrospectionAuthMethod = (typeof INTROSPECTION_AUTH_METHODS)[number];

interface IntrospectionCredentials {
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  authMethod?: IntrospectionAuthMethod | undefined;
  keyFile?: string | undefined;
  key?: string | undefined;
}

function introspectionAuthMethod(i: IntrospectionCredentials): IntrospectionAuthMethod {
  return i.authMethod ?? (i.keyFile !== undefined || i.key !== undefined ? 'private_key_jwt' : 'client_secret_basic');
}

/** One way to authenticate to the introspection endpoint, completely given; messages never echo values. */
function checkIntrospectionCredentials(i: IntrospectionCredentials, ctx: z.RefinementCtx): void {
  const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (introspectionAuthMethod(i) === 'private_key_jwt') {
    if (i.keyFile === undefined && i.key === undefined) {
      issue('keyFile', 'private_key_jwt needs keyFile (the Zitadel application key file) or key (its JSON content)');
    }
    if (i.keyFile !== undefined && i.key !== undefined) issue('key', 'give keyFile or key, not both');
    if (i.clientSecret !== undefined) {
      issue('clientSecret', 'private_key_jwt signs with the key file: remove the client secret');
    }
    return;
  }
  if (i.clientId === undefined) issue('clientId', `${introspectionAuthMethod(i)} needs clientId`);
  if (i.clientSecret === undefined) issue('clientSecret', `${introspectionAuthMethod(i)} needs clientSecret`);
  if (i.keyFile !== undefined || i.key !== undefined) {
    issue('authMethod', 'a key file is only used with authMethod private_key_jwt: remove it or change authMethod');
  }
}

export const OAuthConfigSchema = z
  .object({
    /** Compared to `iss` exactly: no trailing-slash or case tolerance. */
    issuer: endpointUrl,
    /** This server's resource URI (RFC 8707/9728); `aud` must contain it or one of `audiences`. */
    resource: z.string().min(1),
    /** Extra accepted audiences, e.g. a Zitadel project id. */
    audiences: z.array(z.string().min(1)).default([]),
    /** JWKS location; discovered from the issuer's metadata when absent. */
    jwksUri: endpointUrl.optional(),
    algorithms: z
      .array(z.enum(ASYMMETRIC_ALGORITHMS))
      .min(1)
      .default([...ASYMMETRIC_ALGORITHMS]),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(5),
    /** Checked on the raw header before any parsing. */
    maxTokenBytes: z.number().int().min(256).max(65_536).default(8192),
    /** Unknown `kid`: at most one JWKS refetch per cooldown. */
    jwksCooldownSeconds: z.number().min(0).max(3600).default(30),
    /**
     * A JWKS fetched within this age is used without refetching; a verified JWT is served from the token cache
     * no longer than this either, so a key withdrawn from the JWKS stops being accepted within it.
     */
    jwksCacheMaxAgeSeconds: z.number().min(1).max(86_400).default(600),
    jwksTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
    /** Timeout for discovery and introspection requests. */
    httpTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
    /** Opaque tokens (RFC 7662). Without it, only JWT access tokens are accepted. */
    introspection: z
      .object({
        endpoint: endpointUrl.optional(),
        /** Required with a client secret; with `private_key_jwt` it comes from the key file (and must match it). */
        clientId: z.string().min(1).optional(),
        clientSecret: z.string().min(1).optional(),
        /** Default: `private_key_jwt` when a key is given, else `client_secret_basic`. */
        authMethod: z.enum(INTROSPECTION_AUTH_METHODS).optional(),
        /**
         * `private_key_jwt` (RFC 7523 client assertion, Zitadel "JWT" API applications): the path of the
         * application key file Zitadel lets you download (`{"type":"application","keyId","key","clientId",...}`),
         * read once at start. Assertions: `iss` = `sub` = clientId, `aud` = the issuer, `kid` = keyId, 60 s.
         */
        keyFile: z.string().min(1).optional(),
        /** The same key file's JSON content, where a file cannot be mounted (a secret: never logged). */
        key: z.string().min(1).optional(),
        /**
         * An active introspection result is reused until min(exp, now + cacheMaxSeconds). A revoked
         * opaque token stays accepted for at most this long; lower it where revocation must bite sooner.
         */
        cacheMaxSeconds: z.number().int().min(0).max(3600).default(300),
        /**
         * New opaque tokens checked at the issuer at once (per replica). Every token not seen before costs one
         * introspection request, so a flood of made-up tokens would become a flood at the issuer: beyond this
         * a new token is refused at once (ERR_AUTH_UNAVAILABLE, retry in 1 s); cached tokens are unaffected.
         */
        maxConcurrent: z.number().int().min(1).max(1024).default(16),
      })
      .superRefine(checkIntrospectionCredentials)
      .transform((i) => ({ ...i, authMethod: introspectionAuthMethod(i) }))
      .optional(),
    /**
     * The Zitadel project whose roles count: roles are read only from
     * `urn:zitadel:iam:org:project:{projectId}:roles`. Required with `roleScopes`.
     */
    projectId: z.string().regex(ZITADEL_ID, 'must be a Zitadel project id (letters, digits, "-", "_")').optional(),
    /** Zitadel project roles to scopes: `{ "ops-admin": ["mcp:docker:admin"] }`. */
    roleScopes: namedRecord(
      z.string().min(1),
      z.array(z.string().regex(SCOPE_TOKEN, 'must be one scope, without whitespace')),
      'role',
    ).default({}),
    /** A Zitadel role counts only if granted by one of these organisations. Required with `roleScopes`. */
    allowedOrgIds: z.array(z.string().min(1)).optional(),
    /**
     * Token-to-SPIFFE binding: when the token's client id or subject has an entry, the mTLS peer's
     * SPIFFE ID must match one pattern (exact ID, or a last segment of `*` / `**`).
     */
    spiffeBindings: namedRecord(z.string(), z.array(z.string().startsWith('spiffe://')), 'client or subject').default(
      {},
    ),
    /** Verified tokens kept (by sha256) until they expire. */
    tokenCacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (Object.keys(config.roleScopes).length === 0) return;
    // Without both, a role of the same name from another project or organisation would grant scopes.
    if (!config.projectId) {
      ctx.addIssue({
        code: 'custom',
        path: ['projectId'],
        message:
          'roleScopes needs projectId: the Zitadel project whose roles count (roles of any other project are ignored)',
      });
    }
    if (!config.allowedOrgIds || config.allowedOrgIds.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedOrgIds'],
        message: 'roleScopes needs allowedOrgIds: the organisations whose role grants count',
      });
    }
  });

export type OAuthConfig = z.input<typeof OAuthConfigSchema>;
export type ResolvedOAuthConfig = z.output<typeof OAuthConfigSchema>;
