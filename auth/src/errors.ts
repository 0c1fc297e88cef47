/** Stable codes for authentication failures; the kit maps each to an HTTP status and a challenge. */
export const AUTH_ERROR_CODES = [
  'ERR_TOKEN_MISSING',
  'ERR_TOKEN_INVALID',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_MALFORMED_REQUEST',
  'ERR_TOKEN_AUDIENCE',
  'ERR_TOKEN_BINDING',
  'ERR_AUTH_UNAVAILABLE',
  'ERR_PEER_CERT_INVALID',
] as const;
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];

export interface AuthErrorOptions {
  cause?: unknown;
  /**
   * ERR_AUTH_UNAVAILABLE: whether the same request may succeed later without anyone changing the
   * configuration (false: the issuer setting is wrong; true: the issuer is down or slow).
   */
  retryable?: boolean;
  /** When `retryable`: seconds before a retry can succeed (the kit sends it as Retry-After). */
  retryAfterSeconds?: number;
  /** ERR_AUTH_UNAVAILABLE: a short stable reason (`issuer_mismatch`, `jwks_timeout`, ...). */
  reason?: string;
}

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  readonly retryable: boolean | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly reason: string | undefined;
  /** Safe to show the caller: never contains the token or key material. */
  constructor(code: AuthErrorCode, message: string, options?: AuthErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthError';
    this.code = code;
    this.retryable = options?.retryable;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.reason = options?.reason;
  }
}

export function isAuthError(err: unknown): err is AuthError {
  return err instanceof AuthError;
}
