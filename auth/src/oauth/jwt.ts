import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose';
import { AuthError } from '../errors.js';
import type { ResolvedOAuthConfig } from './config.js';

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'jwt']);
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash', 's_hash'];
const FETCH_FAILURE_BACKOFF_MS = 5000;

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError('ERR_TOKEN_INVALID', message, cause === undefined ? undefined : { cause });
}

function unavailable(cause: unknown): AuthError {
  return new AuthError('ERR_AUTH_UNAVAILABLE', 'the token signing keys cannot be fetched; try again later', { cause });
}

/** Compact JWS shape: three dot-separated parts. Anything else is treated as an opaque token. */
export function looksLikeJwt(token: string): boolean {
  return token.split('.').length === 3;
}

/**
 * Verifies JWT access tokens against a remote JWKS (jose's createRemoteJWKSet: cached, at most one
 * refetch per cooldown for an unknown kid, fails closed when the endpoint is down and the cache is stale).
 */
export class JwtVerifier {
  readonly #config: ResolvedOAuthConfig;
  readonly #jwksUri: () => Promise<string>;
  #keySet: RemoteKeySet | undefined;
  /** When the last JWKS fetch failed; while the cache is not fresh, requests fail fast for a moment. */
  #fetchFailedAt = 0;

  constructor(config: ResolvedOAuthConfig, jwksUri: () => Promise<string>) {
    this.#config = config;
    this.#jwksUri = jwksUri;
  }

  async #getKeySet(): Promise<RemoteKeySet> {
    if (this.#keySet) return this.#keySet;
    let uri: string;
    try {
      uri = await this.#jwksUri();
    } catch (err) {
      throw unavailable(err);
    }
    this.#keySet ??= createRemoteJWKSet(new URL(uri), {
      cooldownDuration: this.#config.jwksCooldownSeconds * 1000,
      cacheMaxAge: this.#config.jwksCacheMaxAgeSeconds * 1000,
      timeoutDuration: this.#config.jwksTimeoutMs,
    });
    return this.#keySet;
  }

  /** Fetches the key set now; false when it cannot be loaded. */
  async ready(): Promise<boolean> {
    try {
      const keySet = await this.#getKeySet();
      if (!keySet.fresh) await keySet.reload();
      return true;
    } catch {
      return false;
    }
  }

  async verify(token: string): Promise<JWTPayload> {
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch (err) {
      throw invalid('token is not a well-formed JWT', err);
    }
    if (
      typeof header.typ === 'string' &&
      !ACCESS_TOKEN_TYPES.has(header.typ.toLowerCase().replace(/^application\//, ''))
    ) {
      throw invalid('token type is not an access token');
    }
    if (typeof header.alg !== 'string' || !(this.#config.algorithms as string[]).includes(header.alg)) {
      throw invalid('token signing algorithm is not allowed');
    }
    const keySet = await this.#getKeySet();
    // With no usable cache every request would refetch a failing endpoint: back off briefly instead.
    const backoffMs = Math.min(FETCH_FAILURE_BACKOFF_MS, this.#config.jwksCooldownSeconds * 1000);
    if (!keySet.fresh && Date.now() - this.#fetchFailedAt < backoffMs) {
      throw unavailable(new Error('the JWKS endpoint failed moments ago'));
    }
    let fetchFailure: unknown;
    const getKey: JWTVerifyGetKey = async (protectedHeader, flattened) => {
      let key: Awaited<ReturnType<RemoteKeySet>>;
      try {
        key = await keySet(protectedHeader, flattened);
      } catch (err) {
        if (isFetchFailure(err)) {
          fetchFailure = err;
          this.#fetchFailedAt = Date.now();
        }
        throw err;
      }
      // jose picks the only key when the set has one; with several, an unnamed key is ambiguous.
      if (protectedHeader.kid === undefined && (keySet.jwks()?.keys.length ?? 0) > 1) {
        throw invalid('token has no "kid" and the issuer publishes several keys');
      }
      return key;
    };
    const c = this.#config;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: c.issuer,
        audience: [c.resource, ...c.audiences],
        algorithms: c.algorithms,
        clockTolerance: c.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw classify(err, fetchFailure, c.issuer);
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat === 'number' && payload.iat > now + c.clockToleranceSeconds) {
      throw invalid('token was issued in the future');
    }
    if (ID_TOKEN_CLAIMS.some((claim) => payload[claim] !== undefined)) {
      throw invalid('ID tokens are not accepted as access tokens');
    }
    return payload;
  }
}

/** Errors jose's remote key set raises when the JWKS cannot be fetched or parsed (not key-matching errors). */
function isFetchFailure(err: unknown): boolean {
  return (
    err instanceof errors.JWKSTimeout ||
    err instanceof errors.JWKSInvalid ||
    err instanceof TypeError || // fetch(): connection refused, DNS, TLS
    (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC') // non-200, unparsable body
  );
}

function classify(err: unknown, fetchFailure: unknown, issuer?: string): AuthError {
  if (err instanceof AuthError) return err;
  if (fetchFailure !== undefined) return unavailable(fetchFailure);
  if (err instanceof errors.JWTExpired) return new AuthError('ERR_TOKEN_EXPIRED', 'token has expired', { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') {
      return new AuthError('ERR_TOKEN_AUDIENCE', 'token audience does not include this resource', { cause: err });
    }
    if (err.claim === 'iss' && issuer !== undefined) {
      // Which issuer the server trusts is public (its protected-resource metadata names it); the token's own
      // is the caller's, shown cut.
      const given = typeof err.payload.iss === 'string' ? JSON.stringify(err.payload.iss.slice(0, 100)) : 'none';
      return invalid(`token issuer ${given} is not the issuer this server trusts (${issuer})`, err);
    }
    return invalid(`token claim "${err.claim}" is invalid (${err.reason})`, err);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('token is not signed by a known issuer key', err);
  if (err instanceof errors.JWKSMultipleMatchingKeys) {
    return invalid('token has no "kid" and the issuer publishes several keys', err);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('token signature is invalid', err);
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('token signing algorithm is not allowed', err);
  if (err instanceof errors.JOSEError) return invalid(`token is invalid (${err.code})`, err);
  return invalid('token is invalid', err);
}
