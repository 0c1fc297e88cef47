import { randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { AuthError } from '../errors.js';
import { cappedFetch } from './bounded-fetch.js';
import { DISCOVERY_RETRY_MS, memoizeWithRetry } from './cache.js';
import { checkAudience } from './claims.js';
import type { ClientAssertionKey } from './client-key.js';
import { isLoopbackUrl, type ResolvedOAuthConfig } from './config.js';
import {
  describeIssuerFailure,
  discoverIssuer,
  discoveryError,
  type IssuerProblemLog,
  NoIntrospectionEndpoint,
  problemOf,
  unavailableError,
} from './issuer-problems.js';

type IntrospectionConfig = NonNullable<ResolvedOAuthConfig['introspection']>;

/**
 * How long introspection credentials the issuer accepted (a probe or a real token) count as good before
 * readiness asks again: one request per interval per replica, however often /readyz is polled.
 */
export const CREDENTIALS_RECHECK_MS = 10 * 60_000;

/** Seconds a caller whose new opaque token met a full introspection limit is told to wait. */
const BUSY_RETRY_AFTER_SECONDS = 1;

function invalid(message: string): AuthError {
  return new AuthError('ERR_TOKEN_INVALID', message);
}

const ACCESS_TOKEN_TYPES = new Set(['bearer', 'access_token', 'urn:ietf:params:oauth:token-type:access_token']);

/** Applies RFC 7662 results ourselves: active, iss, aud, exp, nbf, token_type. */
export function checkIntrospection(result: Record<string, unknown>, config: ResolvedOAuthConfig): void {
  if (result.active !== true) throw invalid('token is not active');
  if (result.iss !== undefined && result.iss !== config.issuer)
    throw invalid('token issuer is not the configured issuer');
  if (result.token_type !== undefined && typeof result.token_type !== 'string') {
    throw invalid('the introspection answer\'s "token_type" is not a string (RFC 7662)');
  }
  if (typeof result.token_type === 'string' && !ACCESS_TOKEN_TYPES.has(result.token_type.toLowerCase())) {
    throw invalid('token is not an access token');
  }
  checkAudience(result.aud, [config.resource, ...config.audiences]);
  const now = Math.floor(Date.now() / 1000);
  const tolerance = config.clockToleranceSeconds;
  if (typeof result.exp !== 'number' || !Number.isFinite(result.exp)) throw invalid('token has no numeric expiry');
  // A time member that is present must be a number: skipping a malformed one would skip its check.
  for (const member of ['nbf', 'iat'] as const) {
    const value = result[member];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw invalid(`the introspection answer's "${member}" is not a number (RFC 7662)`);
    }
  }
  if (result.exp <= now - tolerance) throw new AuthError('ERR_TOKEN_EXPIRED', 'token has expired');
  if (typeof result.nbf === 'number' && result.nbf > now + tolerance) throw invalid('token is not valid yet');
  if (typeof result.iat === 'number' && result.iat > now + tolerance) throw invalid('token was issued in the future');
}

/** One openid-client configuration per authenticator: discovery (or the configured metadata) once. */
export class IntrospectionClient {
  readonly #config: ResolvedOAuthConfig;
  readonly #introspection: IntrospectionConfig;
  readonly #client: () => Promise<client.Configuration>;
  readonly #problems: IssuerProblemLog;
  /** The last time the endpoint answered us (a probe or a real token), and its refusal if it refused. */
  #lastAnswer: { at: number; failure?: AuthError } | undefined;
  #probe: Promise<void> | undefined;
  /** Introspections of callers' tokens under way (at most introspection.maxConcurrent). */
  #inFlight = 0;

  readonly #key: ClientAssertionKey | undefined;

  constructor(
    config: ResolvedOAuthConfig,
    introspection: IntrospectionConfig,
    problems: IssuerProblemLog,
    key?: ClientAssertionKey,
  ) {
    if (introspection.authMethod === 'private_key_jwt' && !key) {
      throw new TypeError('private_key_jwt introspection needs the loaded client key');
    }
    this.#config = config;
    this.#introspection = introspection;
    this.#key = key;
    this.#problems = problems;
    this.#client = memoizeWithRetry(() => this.#load(), DISCOVERY_RETRY_MS);
  }

  #refuse(err: AuthError): AuthError {
    return this.#problems.refused('introspection', err);
  }

  async #load(): Promise<client.Configuration> {
    const c = this.#config;
    const i = this.#introspection;
    const key = this.#key;
    // RFC 7523 assertion by openid-client: iss = sub = client id, aud = the issuer, 60 s expiry, random jti.
    const auth = key
      ? client.PrivateKeyJwt({ key: await key.cryptoKey(), kid: key.kid })
      : i.authMethod === 'client_secret_post'
        ? client.ClientSecretPost()
        : client.ClientSecretBasic();
    const clientId = key?.clientId ?? (i.clientId as string);
    const secret = key ? undefined : i.clientSecret;
    // openid-client takes seconds and multiplies by 1000: a fraction keeps httpTimeoutMs exact (700 ms, not 1 s).
    const timeout = c.httpTimeoutMs / 1000;
    if (!i.endpoint) {
      const insecure = new URL(c.issuer).protocol === 'http:' && isLoopbackUrl(new URL(c.issuer));
      return discoverIssuer(c.issuer, () =>
        client.discovery(new URL(c.issuer), clientId, secret, auth, {
          timeout,
          [client.customFetch]: cappedFetch,
          ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
        }),
      );
    }
    const cfg = new client.Configuration(
      { issuer: c.issuer, introspection_endpoint: i.endpoint },
      clientId,
      secret,
      auth,
    );
    if (new URL(i.endpoint).protocol === 'http:') client.allowInsecureRequests(cfg);
    cfg.timeout = timeout;
    cfg[client.customFetch] = cappedFetch;
    return cfg;
  }

  async #clientConfig(): Promise<client.Configuration> {
    try {
      return await this.#client();
    } catch (err) {
      throw this.#refuse(err as AuthError);
    }
  }

  /**
   * Whether opaque tokens can be checked now: discovery done, an endpoint advertised, and the endpoint
   * accepting this server's client credentials. RFC 7662 2.2/2.3: an unknown token is 200 `active: false`,
   * failed client authentication an error (oidc-provider 401 invalid_client; Zitadel 400
   * unauthorized_client), so introspecting a random non-JWT string tells the two apart without any real
   * token. Bounded: a good answer is trusted for {@link CREDENTIALS_RECHECK_MS}, a refusal re-asked after
   * {@link DISCOVERY_RETRY_MS}; real introspections count as answers too.
   */
  async readiness(): Promise<{ ready: boolean; problem?: ReturnType<typeof problemOf> }> {
    try {
      const cfg = await this.#clientConfig();
      this.#endpointOf(cfg);
      await this.#checkCredentials(cfg);
      return { ready: true };
    } catch (err) {
      return { ready: false, problem: problemOf(err) };
    }
  }

  async #checkCredentials(cfg: client.Configuration): Promise<void> {
    const last = this.#lastAnswer;
    if (last) {
      const age = Date.now() - last.at;
      if (!last.failure && age < CREDENTIALS_RECHECK_MS) return;
      if (last.failure && age < DISCOVERY_RETRY_MS) throw last.failure;
    }
    if (!this.#probe) {
      // Not a JWT (oidc-provider refuses to introspect those) and never a token anyone holds.
      this.#probe = this.#call(cfg, `readiness-probe-${randomUUID()}`)
        .then(() => undefined)
        .finally(() => {
          this.#probe = undefined;
        });
    }
    await this.#probe;
  }

  /** One introspection request; remembers whether the endpoint accepted our credentials. */
  async #call(cfg: client.Configuration, token: string): Promise<Record<string, unknown>> {
    const endpoint = this.#endpointOf(cfg);
    let result: Record<string, unknown>;
    try {
      result = (await client.tokenIntrospection(cfg, token)) as Record<string, unknown>;
    } catch (err) {
      const problem = describeIssuerFailure('introspection', endpoint, this.#config.issuer, err);
      if (this.#key && problem.reason === 'introspection_client_rejected') {
        problem.action = `check that the key file's key (keyId ${this.#key.kid.slice(0, 100)}) is still registered and active for client ${this.#key.clientId.slice(0, 200)} at the issuer, and that the client may introspect`;
      }
      const failure = this.#refuse(unavailableError(problem, err));
      this.#lastAnswer = { at: Date.now(), failure };
      throw failure;
    }
    this.#lastAnswer = { at: Date.now() };
    this.#problems.recovered('introspection');
    return result;
  }

  #endpointOf(cfg: client.Configuration): string {
    const endpoint = cfg.serverMetadata().introspection_endpoint;
    if (!endpoint) {
      throw this.#refuse(discoveryError(this.#config.issuer, new NoIntrospectionEndpoint()));
    }
    return endpoint;
  }

  /** Introspects and checks the result; ERR_AUTH_UNAVAILABLE when the endpoint does not answer properly. */
  async introspect(token: string): Promise<Record<string, unknown>> {
    if (this.#inFlight >= this.#introspection.maxConcurrent) {
      // Not the issuer's fault and nothing to log per request: the caller retries, a flood stays at our door.
      throw new AuthError(
        'ERR_AUTH_UNAVAILABLE',
        `too many new opaque tokens are being checked at the issuer at once (introspection_busy); try again in ${BUSY_RETRY_AFTER_SECONDS} s`,
        { retryable: true, retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS, reason: 'introspection_busy' },
      );
    }
    this.#inFlight++;
    try {
      const result = await this.#call(await this.#clientConfig(), token);
      checkIntrospection(result, this.#config);
      return result;
    } finally {
      this.#inFlight--;
    }
  }
}
