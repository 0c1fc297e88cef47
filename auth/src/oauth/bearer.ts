import { AuthError } from '../errors.js';
import type { AuthRequest } from '../principal.js';

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const SCHEME = /^([A-Za-z][A-Za-z0-9!#$%&'*+\-.^_`|~]*)(?: +(.*))?$/s;

/**
 * Takes the bearer token from the Authorization header, the only place we accept it.
 *
 * - `access_token` in the query string: ERR_TOKEN_MALFORMED_REQUEST (RFC 6750 2.3 is insecure; refused
 *   even when a header is present too, so the token in the URL is never silently ignored).
 * - several Authorization headers: ERR_TOKEN_MALFORMED_REQUEST.
 * - no header, or a scheme other than Bearer (Basic, DPoP, ...): ERR_TOKEN_MISSING. The request carries
 *   no bearer credentials; the kit answers 401 with a plain `Bearer` challenge (RFC 6750 3.1: no error code).
 * - Bearer with no token or with characters outside b64token: ERR_TOKEN_MALFORMED_REQUEST.
 * - longer than maxTokenBytes: ERR_TOKEN_INVALID, decided on the raw header before any parsing.
 */
export function extractBearerToken(req: AuthRequest, maxTokenBytes: number): string {
  if (req.query?.has('access_token')) {
    throw new AuthError('ERR_TOKEN_MALFORMED_REQUEST', 'access tokens are accepted only in the Authorization header');
  }
  let header = req.headers.authorization;
  if (Array.isArray(header)) {
    if (header.length > 1) throw new AuthError('ERR_TOKEN_MALFORMED_REQUEST', 'more than one Authorization header');
    header = header[0];
  }
  if (header === undefined || header.trim() === '') {
    throw new AuthError('ERR_TOKEN_MISSING', 'no bearer token in the Authorization header');
  }
  // "Bearer " plus the token; measured in bytes on the raw value, before any parsing.
  if (Buffer.byteLength(header, 'utf8') > maxTokenBytes + 7) {
    throw new AuthError('ERR_TOKEN_INVALID', `bearer token is longer than ${maxTokenBytes} bytes`);
  }
  const match = SCHEME.exec(header.trim());
  const scheme = match ? match[1] : undefined;
  if (!match || scheme?.toLowerCase() !== 'bearer') {
    throw new AuthError('ERR_TOKEN_MISSING', 'the Authorization header does not use the Bearer scheme');
  }
  const token = match[2] ?? '';
  if (!B64TOKEN.test(token)) {
    throw new AuthError('ERR_TOKEN_MALFORMED_REQUEST', 'the Bearer credentials are empty or not a single b64token');
  }
  return token;
}
