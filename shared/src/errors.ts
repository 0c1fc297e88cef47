import { AUTH_ERROR_CODES, type AuthErrorCode, isAuthError } from '@ravenhelm/auth';

/**
 * Every failure the suite reports has a stable code. One table maps each code to how it reaches the
 * caller: an HTTP status (transport, auth, authorization), a JSON-RPC error, or an `isError` tool
 * result the model can read and act on.
 */
interface Mapping {
  http: number;
  jsonrpc: number;
  /** 'tool': returned as an isError tool result (HTTP 200); 'protocol': an HTTP/JSON-RPC error. */
  kind: 'tool' | 'protocol';
}

const JSONRPC_INVALID_REQUEST = -32600;
const JSONRPC_METHOD_NOT_FOUND = -32601;
const JSONRPC_INVALID_PARAMS = -32602;
const JSONRPC_INTERNAL = -32603;
const JSONRPC_SERVER = -32000; // implementation-defined server errors start here

export const ERROR_TABLE = {
  // transport
  ERR_BAD_REQUEST: { http: 400, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  ERR_PARSE: { http: 400, jsonrpc: -32700, kind: 'protocol' },
  ERR_HOST_FORBIDDEN: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_ORIGIN_FORBIDDEN: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_BODY_TOO_LARGE: { http: 413, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { http: 415, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  ERR_NOT_ACCEPTABLE: { http: 406, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  ERR_PROTOCOL_VERSION: { http: 400, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  /** Mcp-Method / Mcp-Name disagree with the body (MCP 2026-07-28 HeaderMismatch). */
  ERR_HEADER_MISMATCH: { http: 400, jsonrpc: -32020, kind: 'protocol' },
  ERR_METHOD_NOT_ALLOWED: { http: 405, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  ERR_SHUTTING_DOWN: { http: 503, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  // authentication (codes owned by @ravenhelm/auth)
  ERR_TOKEN_MISSING: { http: 401, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TOKEN_INVALID: { http: 401, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TOKEN_EXPIRED: { http: 401, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TOKEN_AUDIENCE: { http: 401, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TOKEN_BINDING: { http: 401, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TOKEN_MALFORMED_REQUEST: { http: 400, jsonrpc: JSONRPC_INVALID_REQUEST, kind: 'protocol' },
  ERR_AUTH_UNAVAILABLE: { http: 503, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_PEER_CERT_INVALID: { http: 401, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  // authorization
  ERR_INSUFFICIENT_SCOPE: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TIER_SPIFFE_REQUIRED: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_SPIFFE_BINDING: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_TOOL_DISABLED: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_READ_ONLY: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_UNKNOWN_TOOL: { http: 200, jsonrpc: JSONRPC_INVALID_PARAMS, kind: 'protocol' },
  ERR_METHOD_NOT_FOUND: { http: 200, jsonrpc: JSONRPC_METHOD_NOT_FOUND, kind: 'protocol' },
  ERR_RATE_LIMITED: { http: 429, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_AUDIT_UNAVAILABLE: { http: 503, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  // tool-level: the model reads these and can fix its call
  ERR_INVALID_INPUT: { http: 200, jsonrpc: JSONRPC_INVALID_PARAMS, kind: 'tool' },
  ERR_NOT_FOUND: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_CONFLICT: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_CONFIRMATION_INVALID: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_APPROVAL_PENDING: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_APPROVAL_INVALID: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_APPROVAL_FORBIDDEN: { http: 403, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_APPROVAL_NOT_FOUND: { http: 404, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_APPROVAL_CONFLICT: { http: 409, jsonrpc: JSONRPC_SERVER, kind: 'protocol' },
  ERR_RESTART_BUDGET: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_NOT_ALLOWED: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_TOOLSET_NOT_ENABLED: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  /** One caller has its maximum of tool calls running here (limits.maxCallsInFlightPerCaller). */
  ERR_TOO_MANY_CALLS: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  /** This process runs its maximum of tool calls (limits.maxCallsInFlight). */
  ERR_SERVER_BUSY: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_OUTPUT_TOO_LARGE: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_QUERY_INVALID: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_BACKEND_TIMEOUT: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_BACKEND_UNAVAILABLE: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_BACKEND_ERROR: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_CANCELLED: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_OUTCOME_UNKNOWN: { http: 200, jsonrpc: JSONRPC_SERVER, kind: 'tool' },
  ERR_INTERNAL: { http: 500, jsonrpc: JSONRPC_INTERNAL, kind: 'protocol' },
} as const satisfies Record<string, Mapping>;

export type ErrorCode = keyof typeof ERROR_TABLE;

// Compile-time check that every auth code has a mapping.
const _authCodesMapped: Record<AuthErrorCode, Mapping> = ERROR_TABLE;
void _authCodesMapped;
void AUTH_ERROR_CODES;

export class RavenhelmError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (retryAfterSeconds, missing scopes...). Must never hold secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  /** `message` is shown to the caller: say what was wrong and what to do; never include secrets. */
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RavenhelmError';
    this.code = code;
    this.details = details;
  }

  get mapping(): Mapping {
    return ERROR_TABLE[this.code];
  }
}

/** A failure the model should read: returned as an isError tool result. */
export class ToolError extends RavenhelmError {
  override readonly name = 'ToolError';
}

export function errorMapping(code: ErrorCode): Mapping {
  return ERROR_TABLE[code];
}

/** Normalizes anything thrown into a RavenhelmError; unknown errors become ERR_INTERNAL with a safe message. */
export function toRavenhelmError(err: unknown): RavenhelmError {
  if (err instanceof RavenhelmError) return err;
  if (isAuthError(err)) {
    // ERR_AUTH_UNAVAILABLE: whether waiting helps (the issuer is down) or not (its configuration is wrong).
    const details: Record<string, unknown> = {};
    if (err.retryable !== undefined) details.retryable = err.retryable;
    if (err.retryAfterSeconds !== undefined) details.retryAfterSeconds = err.retryAfterSeconds;
    if (err.reason !== undefined) details.reason = err.reason;
    return new RavenhelmError(err.code, err.message, details, { cause: err });
  }
  if (err && typeof err === 'object' && (err as { code?: unknown }).code === 'ERR_POLICY_INVALID') {
    return new RavenhelmError('ERR_INTERNAL', (err as Error).message, {}, { cause: err });
  }
  return new RavenhelmError('ERR_INTERNAL', 'internal error; the server log has the details', {}, { cause: err });
}

/** A password in a URL's user info (`https://user:pw@host`); the scheme and user name are group 1. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/gi;

/** `text` with the password of every URL in it replaced by `[redacted]` (`https://user:[redacted]@host`). */
export function withoutUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, '$1:[redacted]@');
}

/**
 * `text` with every occurrence of each value at least `minLength` characters long replaced by
 * `[redacted]`: the credentials or secret values a backend call carried, out of the backend's answer
 * before it reaches an error message (a short value would cut ordinary words out of it). A backend that
 * echoes the request quotes a value as it was sent or stored: besides the value itself, its JSON-escaped
 * form (a quote, backslash or newline in a password) and its percent-encoded form (a token in a query
 * string) are cut too.
 */
export function withoutValues(text: string, values: Iterable<string>, minLength = 1): string {
  let out = text;
  for (const value of values) {
    if (value.length < minLength) continue;
    // the longer encodings first: a raw value can sit inside its own escaped form
    const forms = new Set([JSON.stringify(value).slice(1, -1), encodeURIComponent(value), value]);
    for (const form of forms) out = out.split(form).join('[redacted]');
  }
  return out;
}
