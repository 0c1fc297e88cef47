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

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  /** Safe to show the caller: never contains the token or key material. */
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuthError';
    this.code = code;
  }
}

export function isAuthError(err: unknown): err is AuthError {
  return err instanceof AuthError;
}
