export { AUTH_ERROR_CODES, AuthError, type AuthErrorCode, isAuthError } from './errors.js';
export type { AuthRequest, Authenticator, Principal } from './principal.js';
