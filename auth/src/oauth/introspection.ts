import * as client from 'openid-client';
import { AuthError } from '../errors.js';
import { DISCOVERY_RETRY_MS, memoizeWithRetry } from './cache.js';
import { checkAudience } from './claims.js';
import { isLoopbackUrl, type ResolvedOAuthConfig } from './config.js';

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

  constructor(config: ResolvedOAuthConfig, introspection: IntrospectionConfig) {
    this.#config = config;
    this.#introspection = introspection;
    this.#client = memoizeWithRetry(() => this.#load(), DISCOVERY_RETRY_MS);
  }

  async #load(): Promise<client.Configuration> {
    const c = this.#config;
    const i = this.#introspection;
    const auth = i.authMethod === 'client_secret_post' ? client.ClientSecretPost() : client.ClientSecretBasic();
    const insecure = new URL(c.issuer).protocol === 'http:' && isLoopbackUrl(new URL(c.issuer));
    const timeout = Math.ceil(c.httpTimeoutMs / 1000);
    let pending: Promise<client.Configuration>;
    if (i.endpoint) {
      const cfg = new client.Configuration(
        { issuer: c.issuer, introspection_endpoint: i.endpoint },
        i.clientId,
        i.clientSecret,
        auth,
      );
      if (new URL(i.endpoint).protocol === 'http:') client.allowInsecureRequests(cfg);
      cfg.timeout = timeout;
      pending = Promise.resolve(cfg);
    } else {
      pending = client.discovery(new URL(c.issuer), i.clientId, i.clientSecret, auth, {
        timeout,
        ...(insecure ? { execute: [client.allowInsecureRequests] } : {}),
      });
    }
    return pending;
  }

  async #clientConfig(): Promise<client.Configuration> {
    try {
      return await this.#client();
    } catch (err) {
      throw new AuthError('ERR_AUTH_UNAVAILABLE', 'the token introspection service cannot be reached', { cause: err });
    }
  }

  /** Introspects and checks the result; ERR_AUTH_UNAVAILABLE when the endpoint does not answer properly. */
  async introspect(token: string): Promise<Record<string, unknown>> {
    const cfg = await this.#clientConfig();
    if (!cfg.serverMetadata().introspection_endpoint) {
      throw new AuthError('ERR_AUTH_UNAVAILABLE', 'the issuer does not advertise an introspection endpoint');
    }
    let result: Record<string, unknown>;
    try {
      result = (await client.tokenIntrospection(cfg, token)) as Record<string, unknown>;
    } catch (err) {
      throw new AuthError('ERR_AUTH_UNAVAILABLE', 'the token introspection service did not answer', { cause: err });
    }
    checkIntrospection(result, this.#config);
    return result;
  }
}
