import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose';
import { AuthError } from '../errors.js';
import { capResponse, ResponseTooLarge } from './bounded-fetch.js';
import type { ResolvedOAuthConfig } from './config.js';
import {
  describeIssuerFailure,
  discoveryError,
  type IssuerProblemLog,
  JwksHttpStatusError,
  operatorText,
  problemOf,
  unavailableError,
} from './issuer-problems.js';

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'jwt']);
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash', 's_hash'];
const FETCH_FAILURE_BACKOFF_MS = 5000;

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError('ERR_TOKEN_INVALID', message, cause === undefined ? undefined : { cause });
}

/** fetch that keeps the JWKS endpoint's status (jose's own error for a non-200 does not say which), body capped. */
async function fetchJwks(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new JwksHttpStatusError(response.status);
  }
  return capResponse(response);
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
  readonly #problems: IssuerProblemLog;
  #keySet: RemoteKeySet | undefined;
  #keySetUri = '';
  /** When the last JWKS fetch failed; while the cache is not fresh, requests fail fast for a moment. */
  #fetchFailedAt = 0;
  /** Why it failed: requests refused during the back-off get the same answer (misconfigured or not). */
  #fetchFailure: AuthError | undefined;

  constructor(config: ResolvedOAuthConfig, jwksUri: () => Promise<string>, problems: IssuerProblemLog) {
    this.#config = config;
    this.#jwksUri = jwksUri;
    this.#problems = problems;
  }

  /** Reports the failure behind an ERR_AUTH_UNAVAILABLE (throttled) and returns it to be thrown. */
  #refuse(err: AuthError): AuthError {
    return this.#problems.refused('jwt', err);
  }

  #jwksFailure(err: unknown): AuthError {
    const failure = unavailableError(describeIssuerFailure('jwks', this.#keySetUri, this.#config.issuer, err), err);
    this.#fetchFailure = failure;
    this.#fetchFailedAt = Date.now();
    return failure;
  }

  async #getKeySet(): Promise<RemoteKeySet> {
    if (this.#keySet) return this.#keySet;
    let uri: string;
    try {
      uri = await this.#jwksUri();
    } catch (err) {
      throw this.#refuse(err instanceof AuthError ? err : discoveryError(this.#config.issuer, err));
    }
    if (!this.#keySet) {
      this.#keySetUri = uri;
      this.#keySet = createRemoteJWKSet(new URL(uri), {
        cooldownDuration: this.#config.jwksCooldownSeconds * 1000,
        cacheMaxAge: this.#config.jwksCacheMaxAgeSeconds * 1000,
        timeoutDuration: this.#config.jwksTimeoutMs,
        [customFetch]: fetchJwks,
      });
    }
    return this.#keySet;
  }

  #backoffMs(): number {
    return Math.min(FETCH_FAILURE_BACKOFF_MS, this.#config.jwksCooldownSeconds * 1000);
  }

  /**
   * Whether a token could be verified now: discovery done and a fresh key set (fetched now if needed).
   * The reason, when not, is the operator-facing detail (URLs, statuses; no secrets).
   */
  async readiness(): Promise<{ ready: boolean; reason?: string }> {
    try {
      const keySet = await this.#getKeySet();
      if (!keySet.fresh) {
        if (this.#fetchFailure && Date.now() - this.#fetchFailedAt < this.#backoffMs()) throw this.#fetchFailure;
        try {
          await keySet.reload();
        } catch (err) {
          throw this.#refuse(this.#jwksFailure(err));
        }
        this.#problems.recovered('jwt');
      }
      return { ready: true };
    } catch (err) {
      const problem = problemOf(err);
      return {
        ready: false,
        reason: problem ? operatorText(problem) : 'the token signing keys cannot be loaded',
      };
    }
  }

  /** Fetches the key set now; false when it cannot be loaded. */
  async ready(): Promise<boolean> {
    return (await this.readiness()).ready;
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
    if (!keySet.fresh && this.#fetchFailure && Date.now() - this.#fetchFailedAt < this.#backoffMs()) {
      throw this.#refuse(this.#fetchFailure);
    }
    let fetchFailure: AuthError | undefined;
    const getKey: JWTVerifyGetKey = async (protectedHeader, flattened) => {
      let key: Awaited<ReturnType<RemoteKeySet>>;
      try {
        key = await keySet(protectedHeader, flattened);
      } catch (err) {
        if (isFetchFailure(err)) fetchFailure = this.#jwksFailure(err);
        // jose matches by kid and key type; several matches with a kid means the issuer published a kid twice.
        if (err instanceof errors.JWKSMultipleMatchingKeys && protectedHeader.kid !== undefined) {
          throw invalid(
            'the issuer publishes several keys with this token\'s "kid"; it cannot tell which one signed it',
            err,
          );
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
      if (fetchFailure) throw this.#refuse(fetchFailure);
      throw classify(err, c.issuer);
    }
    this.#problems.recovered('jwt');
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
    err instanceof JwksHttpStatusError ||
    err instanceof errors.JWKSInvalid ||
    err instanceof ResponseTooLarge ||
    err instanceof TypeError || // fetch(): connection refused, DNS, TLS
    (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC') // non-200, unparsable body
  );
}

function classify(err: unknown, issuer?: string): AuthError {
  if (err instanceof AuthError) return err;
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
