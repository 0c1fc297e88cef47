import * as client from 'openid-client';
import { AuthError } from '../errors.js';
import type { Authenticator, AuthRequest, Principal } from '../principal.js';
import { extractBearerToken } from './bearer.js';
import { cappedFetch } from './bounded-fetch.js';
import { DISCOVERY_RETRY_MS, ExpiringCache, memoizeWithRetry, tokenKey } from './cache.js';
import { toPrincipal, toVerifiedToken, type VerifiedToken } from './claims.js';
import { type ClientAssertionKey, ClientKeyError, loadClientAssertionKey } from './client-key.js';
import {
  isAllowedEndpoint,
  isLoopbackUrl,
  type OAuthConfig,
  OAuthConfigSchema,
  type ResolvedOAuthConfig,
} from './config.js';
import { IntrospectionClient } from './introspection.js';
import {
  discoverIssuer,
  discoveryError,
  type IssuerProblemHooks,
  IssuerProblemLog,
  NoJwksUri,
  operatorText,
} from './issuer-problems.js';
import { JwtVerifier, looksLikeJwt } from './jwt.js';

export interface OAuthAuthenticator extends Authenticator {
  /** The validated configuration, with defaults applied (the introspection secret included: do not log it). */
  readonly config: Readonly<ResolvedOAuthConfig>;
  /** Verified tokens currently cached. */
  readonly cachedTokens: number;
  ready(): Promise<boolean>;
  /**
   * Whether tokens can be checked now (discovery done, a fresh key set, fetched now if needed; the
   * introspection client's metadata when configured), and if not why and what to set. Bounded: a failure
   * is not refetched for a few seconds.
   */
  readiness(): Promise<{ ready: boolean; reason?: string }>;
  close(): Promise<void>;
}

/** Thrown for a configuration that does not validate; lists paths and reasons, never values. */
export class OAuthConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid OAuth authenticator configuration: ${issues.join('; ')}`);
    this.name = 'OAuthConfigError';
  }
}

export function parseOAuthConfig(config: OAuthConfig): ResolvedOAuthConfig {
  const parsed = OAuthConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new OAuthConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return parsed.data;
}

/**
 * The issuer's jwks_uri from its discovery document (named identically: {@link discoverIssuer}). Failures are
 * ERR_AUTH_UNAVAILABLE saying whether the configuration is wrong or the issuer unreachable.
 */
async function discoverJwksUri(config: ResolvedOAuthConfig): Promise<string> {
  const issuer = new URL(config.issuer);
  const discovered = await discoverIssuer(config.issuer, () =>
    client.discovery(issuer, 'ravenhelm-resource-server', undefined, client.None(), {
      // openid-client takes seconds (and multiplies by 1000): a fraction keeps the milliseconds exact.
      timeout: config.httpTimeoutMs / 1000,
      [client.customFetch]: cappedFetch,
      ...(issuer.protocol === 'http:' && isLoopbackUrl(issuer) ? { execute: [client.allowInsecureRequests] } : {}),
    }),
  );
  const uri = discovered.serverMetadata().jwks_uri;
  if (!uri || !isAllowedEndpoint(uri)) throw discoveryError(config.issuer, new NoJwksUri());
  return uri;
}

/**
 * Until when (epoch ms) a verified token may be reused: its expiry, and at most `maxSeconds` from now. In
 * milliseconds: rounded to whole seconds, a 1 s limit gave anything between 0 and 1 s depending on when in
 * the second the token was checked.
 */
function reuseUntil(token: VerifiedToken, maxSeconds: number): number {
  return Math.min(token.expiresAt * 1000, Date.now() + maxSeconds * 1000);
}

/** The private_key_jwt key, read and checked now: a bad key file stops the start, not the first request. */
function clientKeyOf(i: NonNullable<ResolvedOAuthConfig['introspection']>): ClientAssertionKey | undefined {
  if (i.authMethod !== 'private_key_jwt') return undefined;
  try {
    return loadClientAssertionKey(i);
  } catch (err) {
    if (err instanceof ClientKeyError) throw new OAuthConfigError([`${err.path}: ${err.message}`]);
    throw err;
  }
}

/**
 * Bearer-token authenticator for an OAuth 2.1 resource server.
 *
 * JWT access tokens are verified against the issuer's JWKS (exact `iss`, `aud` naming this resource or
 * one of `audiences`, asymmetric allowlisted `alg`, `exp` required, no ID tokens); other tokens go to
 * RFC 7662 introspection when configured. Verified tokens are cached by sha256 until they expire, a JWT at
 * most `jwksCacheMaxAgeSeconds` (a withdrawn signing key stops its cached tokens too), an opaque token at most
 * `introspection.cacheMaxSeconds`;
 * certificate (RFC 8705) and SPIFFE bindings are checked on every request.
 *
 * Failures are AuthErrors: ERR_TOKEN_MISSING, ERR_TOKEN_MALFORMED_REQUEST, ERR_TOKEN_INVALID,
 * ERR_TOKEN_EXPIRED, ERR_TOKEN_AUDIENCE, ERR_TOKEN_BINDING, ERR_AUTH_UNAVAILABLE.
 *
 * ERR_AUTH_UNAVAILABLE says whether the issuer configuration is wrong (`retryable: false`) or the issuer
 * cannot be reached (`retryable: true`, `retryAfterSeconds`); `hooks.onIssuerProblem` gets the details,
 * throttled, for the operator's log.
 *
 * @throws OAuthConfigError when the configuration is invalid (HS*, none, http issuer off loopback, an unreadable
 *   private_key_jwt key file...).
 */
export function createOAuthAuthenticator(config: OAuthConfig, hooks: IssuerProblemHooks = {}): OAuthAuthenticator {
  const resolved = parseOAuthConfig(config);
  const problems = new IssuerProblemLog(hooks);
  const configuredJwks = resolved.jwksUri;
  const jwksUri = configuredJwks
    ? async () => configuredJwks
    : memoizeWithRetry(() => discoverJwksUri(resolved), DISCOVERY_RETRY_MS);
  const jwt = new JwtVerifier(resolved, jwksUri, problems);
  const introspection = resolved.introspection
    ? new IntrospectionClient(resolved, resolved.introspection, problems, clientKeyOf(resolved.introspection))
    : undefined;
  const cache = new ExpiringCache<VerifiedToken>(resolved.tokenCacheSize);
  const inflight = new Map<string, Promise<{ token: VerifiedToken; cacheUntil: number }>>();

  async function verify(token: string): Promise<{ token: VerifiedToken; cacheUntil: number }> {
    if (looksLikeJwt(token)) {
      const payload = await jwt.verify(token);
      const verified = toVerifiedToken(payload, resolved);
      // No longer than the key set it was checked against: a key the issuer withdraws (a leaked one) stops
      // being accepted once the JWKS is fetched again, for tokens already cached too.
      return { token: verified, cacheUntil: reuseUntil(verified, resolved.jwksCacheMaxAgeSeconds) };
    }
    if (!introspection) throw new AuthError('ERR_TOKEN_INVALID', 'token is not a JWT access token');
    const result = await introspection.introspect(token);
    const verified = toVerifiedToken(result, resolved);
    return { token: verified, cacheUntil: reuseUntil(verified, resolved.introspection?.cacheMaxSeconds ?? 0) };
  }

  return {
    config: resolved,
    get cachedTokens() {
      return cache.size;
    },

    async authenticate(req: AuthRequest): Promise<Principal> {
      const token = extractBearerToken(req, resolved.maxTokenBytes);
      const key = tokenKey(token);
      const cached = cache.get(key, Date.now());
      if (cached) return toPrincipal(cached, req, resolved);
      // Concurrent requests with the same token share one verification.
      let pending = inflight.get(key);
      if (!pending) {
        pending = verify(token).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      const { token: verified, cacheUntil } = await pending;
      cache.set(key, verified, cacheUntil, Date.now());
      return toPrincipal(verified, req, resolved);
    },

    async readiness() {
      const [keys, opaque] = await Promise.all([jwt.readiness(), introspection?.readiness()]);
      if (!keys.ready) return keys;
      if (opaque && !opaque.ready) {
        return {
          ready: false,
          reason: opaque.problem ? operatorText(opaque.problem) : 'token introspection is unavailable',
        };
      }
      return { ready: true };
    },

    async ready() {
      return (await this.readiness()).ready;
    },

    async close() {
      cache.clear();
      inflight.clear();
    },
  };
}
