import { errors as joseErrors } from 'jose';
import { AuthError } from '../errors.js';
import { MAX_ISSUER_RESPONSE_BYTES, ResponseTooLarge } from './bounded-fetch.js';

/**
 * Why the authenticator cannot check tokens, in terms an operator can act on. `misconfigured` does not
 * heal by waiting (an issuer URL that does not match its discovery document, a URL that answers 404 or
 * HTML, an introspection client the issuer refuses); `unreachable` may (connection refused, timeout, 5xx).
 */
export interface IssuerProblem {
  kind: 'misconfigured' | 'unreachable';
  /** Stable, short: `issuer_mismatch`, `discovery_http_404`, `jwks_timeout`, ... Shown to callers. */
  reason: string;
  /** What failed, for the log and /readyz: public URLs, HTTP statuses, error codes; never a token or secret. */
  detail: string;
  /** What the operator should check or set. */
  action: string;
  /** The configuration setting to look at. */
  setting: 'issuer' | 'jwksUri' | 'introspection.endpoint' | 'introspection.credentials';
}

/** What the authenticator reports to its host (the kit logs it); throttled by {@link IssuerProblemLog}. */
export type IssuerProblemEvent =
  | (IssuerProblem & {
      state: 'failing';
      /** Requests refused for this reason since it was last reported (0 the first time). */
      suppressed: number;
    })
  | { state: 'recovered'; reason: string };

export interface IssuerProblemHooks {
  /** Called once per distinct reason, again at most every `repeatAfterMs` while it persists, and on recovery. */
  onIssuerProblem?: (event: IssuerProblemEvent) => void;
  /** Default 60 s. */
  repeatAfterMs?: number;
}

/** Seconds a caller is told to wait after a transient failure: the verifier backs off this long anyway. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/** A non-200 answer from the JWKS endpoint (jose reports it without the status, which we need). */
export class JwksHttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`JWKS endpoint answered HTTP ${status}`);
    this.name = 'JwksHttpStatusError';
  }
}

type Stage = 'discovery' | 'jwks' | 'introspection';
/** Which verification path saw the problem: JWTs (discovery + JWKS) or opaque tokens (introspection). */
type Path = 'jwt' | 'introspection';

const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|HOSTNAME/;

/** Where openid-client looks for the issuer's metadata (OpenID Connect Discovery 1.0 section 4). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

function clip(value: unknown): string {
  return JSON.stringify(String(value).slice(0, 200));
}

/** The HTTP status in an openid-client/oauth4webapi error (a Response as cause, or `status` on the error). */
function statusOf(err: unknown): number | undefined {
  const e = err as { status?: unknown; cause?: { status?: unknown } } | undefined;
  if (typeof e?.status === 'number') return e.status;
  if (typeof e?.cause?.status === 'number') return e.cause.status;
  return undefined;
}

/** The Node network error code behind a failed fetch (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED...). */
function networkCodeOf(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 4 && cur && typeof cur === 'object'; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('OAUTH_') && !code.startsWith('ERR_JOSE')) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The RFC 6749 5.2 `error` code of an error response (openid-client's ResponseBodyError carries it). Zitadel
 * refuses introspection client credentials with HTTP 400 `unauthorized_client` (zitadel/zitadel
 * internal/api/oidc/introspect.go returns oidc.ErrUnauthorizedClient; zitadel/oidc pkg/op/error.go WriteError
 * gives every oidc.Error without a StatusError 400), not the 401 `invalid_client` of RFC 7662 2.3.
 */
function oauthErrorOf(err: unknown): string | undefined {
  let cur: unknown = err;
  for (let depth = 0; depth < 5 && cur && typeof cur === 'object'; depth++) {
    const code = (cur as { error?: unknown }).error;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown; cause?: { name?: unknown } } | undefined;
  return (
    err instanceof joseErrors.JWKSTimeout ||
    e?.code === 'OAUTH_TIMEOUT' ||
    e?.name === 'TimeoutError' ||
    e?.cause?.name === 'TimeoutError'
  );
}

/** 4xx other than 408/429 means the URL or the credentials are wrong: waiting will not fix it. */
function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Turns a failed discovery, JWKS fetch or introspection call into an {@link IssuerProblem}.
 * `url` is where the request went (public configuration, safe to log).
 */
export function describeIssuerFailure(stage: Stage, url: string, issuer: string, err: unknown): IssuerProblem {
  const where = stage === 'discovery' ? 'discovery document' : stage === 'jwks' ? 'JWKS' : 'introspection endpoint';
  const setting: IssuerProblem['setting'] =
    stage === 'discovery' ? 'issuer' : stage === 'jwks' ? 'jwksUri' : 'introspection.endpoint';
  const c = (err as { cause?: { attribute?: unknown; body?: { issuer?: unknown } } } | undefined)?.cause;
  if (err instanceof IssuerMismatch || (stage === 'discovery' && c?.attribute === 'issuer')) {
    const named = err instanceof IssuerMismatch ? err.named : c?.body?.issuer;
    return {
      kind: 'misconfigured',
      reason: 'issuer_mismatch',
      detail: `the discovery document at ${url} names issuer ${clip(named)}, not the configured ${clip(issuer)}; they must be identical (RFC 8414 section 3.3, OpenID Connect Discovery section 4.3)`,
      action: `set the issuer to exactly ${clip(named)} (the "iss" its tokens carry), or fix the issuer's own public URL if that value is wrong`,
      setting: 'issuer',
    };
  }
  if (err instanceof NoJwksUri) {
    return {
      kind: 'misconfigured',
      reason: 'discovery_no_jwks_uri',
      detail: `the discovery document at ${url} has no usable jwks_uri (https, or http on loopback)`,
      action:
        'set jwksUri to the issuer key set URL, or point the issuer at an authorization server that publishes one',
      setting: 'jwksUri',
    };
  }
  if (err instanceof NoIntrospectionEndpoint) {
    return {
      kind: 'misconfigured',
      reason: 'introspection_not_advertised',
      detail: `the issuer's metadata (${url}) has no introspection_endpoint`,
      action: 'set the introspection endpoint explicitly, or use an issuer that supports RFC 7662',
      setting: 'introspection.endpoint',
    };
  }
  if (err instanceof ResponseTooLarge || (err as { cause?: unknown } | undefined)?.cause instanceof ResponseTooLarge) {
    return {
      kind: 'misconfigured',
      reason: `${stage}_too_large`,
      detail: `the ${where} at ${url} sent more than ${MAX_ISSUER_RESPONSE_BYTES} bytes`,
      action: `check the ${setting === 'issuer' ? 'issuer URL: it must be the authorization server itself' : `${setting} URL`}, and what the issuer puts in its answers`,
      setting,
    };
  }
  if (isTimeout(err)) {
    return {
      kind: 'unreachable',
      reason: `${stage}_timeout`,
      detail: `the ${where} at ${url} did not answer in time`,
      action:
        'check that the issuer is up and reachable from this server (egress, DNS, proxy); raise the timeout if it is slow',
      setting,
    };
  }
  const status = err instanceof JwksHttpStatusError ? err.status : statusOf(err);
  if (status !== undefined && status !== 200) {
    const oauthError = oauthErrorOf(err);
    if (
      stage === 'introspection' &&
      (status === 401 || status === 403 || oauthError === 'invalid_client' || oauthError === 'unauthorized_client')
    ) {
      return {
        kind: 'misconfigured',
        reason: 'introspection_client_rejected',
        detail: `the introspection endpoint at ${url} refused this server's client credentials (HTTP ${status}${oauthError ? ` ${clip(oauthError)}` : ''})`,
        action: 'check the introspection client id and secret, and that the client may introspect',
        setting: 'introspection.credentials',
      };
    }
    const permanent = isPermanentStatus(status);
    return {
      kind: permanent ? 'misconfigured' : 'unreachable',
      reason: `${stage}_http_${status}`,
      detail: `the ${where} at ${url} answered HTTP ${status}`,
      action: permanent
        ? `check the ${setting === 'issuer' ? 'issuer URL (discovery is fetched from <issuer>/.well-known/...)' : `${setting} URL`}: nothing is served there`
        : 'the issuer is failing: check its health; requests are refused until it answers',
      setting,
    };
  }
  const code = networkCodeOf(err);
  if (err instanceof TypeError || code !== undefined) {
    if (code !== undefined && TLS_CODE.test(code)) {
      return {
        kind: 'misconfigured',
        reason: `${stage}_tls`,
        detail: `the ${where} at ${url} failed TLS verification (${code})`,
        action:
          "make this server trust the issuer's CA (NODE_EXTRA_CA_CERTS) or fix the issuer's certificate and host name",
        setting,
      };
    }
    return {
      kind: 'unreachable',
      reason: `${stage}_unreachable`,
      detail: `the ${where} at ${url} cannot be reached${code ? ` (${code})` : ''}`,
      action: `check that the issuer is up and reachable from this server (egress, DNS, proxy)${code === 'ENOTFOUND' ? ', and the host name in the URL' : ''}`,
      setting,
    };
  }
  // A 200 that is not JSON metadata / a key set: the URL points at something else (a web UI, a proxy page).
  return {
    kind: 'misconfigured',
    reason: `${stage}_invalid`,
    detail: `the ${where} at ${url} is not ${stage === 'jwks' ? 'a JSON Web Key Set' : 'valid JSON metadata'}`,
    action: `check the ${setting === 'issuer' ? 'issuer URL: it must be the authorization server itself' : `${setting} URL`}`,
    setting,
  };
}

/** The discovered issuer differs from the configured one by more than openid-client checks (e.g. a trailing slash). */
export class IssuerMismatch extends Error {
  constructor(readonly named: unknown) {
    super('discovered issuer differs from the configured issuer');
    this.name = 'IssuerMismatch';
  }
}
export class NoJwksUri extends Error {
  constructor() {
    super('issuer metadata has no usable jwks_uri');
    this.name = 'NoJwksUri';
  }
}
export class NoIntrospectionEndpoint extends Error {
  constructor() {
    super('issuer metadata has no introspection_endpoint');
    this.name = 'NoIntrospectionEndpoint';
  }
}

/** ERR_AUTH_UNAVAILABLE for a discovery of `issuer` that failed, or whose metadata cannot be used (`err`). */
export function discoveryError(issuer: string, err: unknown): AuthError {
  return unavailableError(describeIssuerFailure('discovery', discoveryUrl(issuer), issuer, err), err);
}

/**
 * openid-client's discovery of `issuer`, held to RFC 8414 3.3 / OpenID Connect Discovery 4.3: the document
 * must name the issuer identically (openid-client forgives a trailing slash, which every token's `iss` would
 * then fail). Any failure is ERR_AUTH_UNAVAILABLE saying whether the configuration is wrong or the issuer
 * unreachable.
 */
export async function discoverIssuer<T extends { serverMetadata(): { issuer: string } }>(
  issuer: string,
  discover: () => Promise<T>,
): Promise<T> {
  try {
    const found = await discover();
    const named = found.serverMetadata().issuer;
    if (named !== issuer) throw new IssuerMismatch(named);
    return found;
  } catch (err) {
    throw discoveryError(issuer, err);
  }
}

/** One line for the operator (log, /readyz): what is wrong and what to do. */
export function operatorText(problem: IssuerProblem): string {
  return `token issuer ${problem.kind}: ${problem.detail}; ${problem.action}`;
}

/**
 * The AuthError a caller gets: 503 either way; a transient problem says when to retry (the kit turns
 * `retryAfterSeconds` into Retry-After), a misconfiguration says retrying will not help. The caller sees the
 * reason code, not the detail (internal URLs stay in the log).
 */
export function unavailableError(problem: IssuerProblem, cause?: unknown): AuthError {
  const err = buildUnavailable(problem, cause);
  problems.set(err, problem);
  return err;
}

const problems = new WeakMap<AuthError, IssuerProblem>();

/** The problem behind an ERR_AUTH_UNAVAILABLE built by {@link unavailableError}. */
export function problemOf(err: unknown): IssuerProblem | undefined {
  return err instanceof AuthError ? problems.get(err) : undefined;
}

function buildUnavailable(problem: IssuerProblem, cause: unknown): AuthError {
  if (problem.kind === 'misconfigured') {
    return new AuthError(
      'ERR_AUTH_UNAVAILABLE',
      `this server cannot check tokens: its token issuer configuration is wrong (${problem.reason}); retrying will not help until an operator fixes it (the server log says what to set)`,
      { cause, retryable: false, reason: problem.reason },
    );
  }
  return new AuthError(
    'ERR_AUTH_UNAVAILABLE',
    `the token issuer cannot be reached to check tokens (${problem.reason}); try again in ${UNAVAILABLE_RETRY_AFTER_SECONDS} s`,
    { cause, retryable: true, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, reason: problem.reason },
  );
}

/**
 * Reports problems to the host at most once per reason per `repeatAfterMs` (a flood of requests against a
 * broken issuer is one line, then one line per interval with the count), and once when checks work again.
 */
export class IssuerProblemLog {
  readonly #emit: ((event: IssuerProblemEvent) => void) | undefined;
  readonly #repeatAfterMs: number;
  /** By path ('jwt' or 'introspection') and reason: one path working says nothing about the other. */
  readonly #seen = new Map<string, { at: number; suppressed: number; path: Path; reason: string }>();

  constructor(hooks: IssuerProblemHooks = {}) {
    this.#emit = hooks.onIssuerProblem;
    this.#repeatAfterMs = hooks.repeatAfterMs ?? 60_000;
  }

  report(path: Path, problem: IssuerProblem): void {
    if (!this.#emit) return;
    const now = Date.now();
    const key = `${path} ${problem.reason}`;
    const seen = this.#seen.get(key);
    if (seen && now - seen.at < this.#repeatAfterMs) {
      seen.suppressed++;
      return;
    }
    this.#seen.set(key, { at: now, suppressed: 0, path, reason: problem.reason });
    this.#safeEmit({ ...problem, state: 'failing', suppressed: seen?.suppressed ?? 0 });
  }

  /** Reports the problem behind an ERR_AUTH_UNAVAILABLE on this path (throttled) and returns it to be thrown. */
  refused(path: Path, err: AuthError): AuthError {
    const problem = problemOf(err);
    if (problem) this.report(path, problem);
    return err;
  }

  /** Tokens on this path verify again: one line per reported reason; a new failure is reported at once. */
  recovered(path: Path): void {
    if (this.#seen.size === 0) return;
    for (const [key, seen] of this.#seen) {
      if (seen.path !== path) continue;
      this.#seen.delete(key);
      this.#safeEmit({ state: 'recovered', reason: seen.reason });
    }
  }

  #safeEmit(event: IssuerProblemEvent): void {
    try {
      this.#emit?.(event);
    } catch {
      // a logging hook must never turn into an authentication failure
    }
  }
}
