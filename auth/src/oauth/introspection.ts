import * as client from 'openid-client';
import { AuthError } from '../errors.js';
import { DISCOVERY_RETRY_MS, memoizeWithRetry } from './cache.js';
import { checkAudience } from './claims.js';
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

function invalid(message: string): AuthError {
  return new AuthError('ERR_TOKEN_INVALID', message);
}

const ACCESS_TOKEN_TYPES = new Set(['bearer', 'access_token', 'urn:ietf:params:oauth:token-type:access_token']);

/** Applies RFC 7662 results ourselves: active, iss, aud, exp, nbf, token_type. */
export function checkIntrospection(result: Record<string, unknown>, config: ResolvedOAuthConfig): void {
  if (result.active !== true) throw invalid('token is not active');
  if (result.iss !== undefined && result.iss !== config.issuer)
    throw invalid('token issuer is not the configured issuer');
  if (typeof result.token_type === 'string' && !ACCESS_TOKEN_TYPES.has(result.token_type.toLowerCase())) {
    throw invalid('token is not an access token');
  }
  checkAudience(result.aud, [config.resource, ...config.audiences]);
  const now = Math.floor(Date.now() / 1000);
  const tolerance = config.clockToleranceSeconds;
  if (typeof result.exp !== 'number' || !Number.isFinite(result.exp)) throw invalid('token has no numeric expiry');
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

  constructor(config: ResolvedOAuthConfig, introspection: IntrospectionConfig, problems: IssuerProblemLog) {
    this.#config = config;
    this.#introspection = introspection;
    this.#problems = problems;
    this.#client = memoizeWithRetry(() => this.#load(), DISCOVERY_RETRY_MS);
  }

  #refuse(err: AuthError): AuthError {
    return this.#problems.refused('introspection', err);
  }

  async #load(): Promise<client.Configuration> {
    const c = this.#config;
    const i = this.#introspection;
    const auth = i.authMethod === 'client_secret_post' ? client.ClientSecretPost() : client.ClientSecretBasic();
    // openid-client takes seconds and multiplies by 1000: a fraction keeps httpTimeoutMs exact (700 ms, not 1 s).
    const timeout = c.httpTimeoutMs / 1000;
    if (!i.endpoint) {
      const insecure = new URL(c.issuer).protocol === 'http:' && isLoopbackUrl(new URL(c.issuer));
      return discoverIssuer(c.issuer, () =>
        client.discovery(new URL(c.issuer), i.clientId, i.clientSecret, auth, {
          timeout,
          ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
        }),
      );
    }
    const cfg = new client.Configuration(
      { issuer: c.issuer, introspection_endpoint: i.endpoint },
      i.clientId,
      i.clientSecret,
      auth,
    );
    if (new URL(i.endpoint).protocol === 'http:') client.allowInsecureRequests(cfg);
    cfg.timeout = timeout;
    return cfg;
  }

  async #clientConfig(): Promise<client.Configuration> {
    try {
      return await this.#client();
    } catch (err) {
      throw this.#refuse(err as AuthError);
    }
  }

  /** Whether introspection could be attempted now (discovery done, an endpoint advertised). */
  async readiness(): Promise<{ ready: boolean; problem?: ReturnType<typeof problemOf> }> {
    try {
      this.#endpointOf(await this.#clientConfig());
      return { ready: true };
    } catch (err) {
      return { ready: false, problem: problemOf(err) };
    }
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
    const cfg = await this.#clientConfig();
    const endpoint = this.#endpointOf(cfg);
    let result: Record<string, unknown>;
    try {
      result = (await client.tokenIntrospection(cfg, token)) as Record<string, unknown>;
    } catch (err) {
      throw this.#refuse(
        unavailableError(describeIssuerFailure('introspection', endpoint, this.#config.issuer, err), err),
      );
    }
    this.#problems.recovered('introspection');
    checkIntrospection(result, this.#config);
    return result;
  }
}
