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
    super(boundedMessage(message), options);
    this.name = 'RavenhelmError';
    this.code = code;
    this.details = details;
  }

  get mapping(): Mapping {
    return ERROR_TABLE[this.code];
  }
}

/**
 * The most UTF-8 bytes of an error message, its cut marker included. Every answer that carries an error (a tool
 * result, a JSON-RPC error, an HTTP error body, a stored task outcome, the log) shows its message, and a message
 * may quote a backend's answer: without a bound, one backend error could fill the caller's whole output budget.
 * 2 KiB holds every message the kit and the servers write themselves, plus a useful part of a quoted answer.
 */
export const MAX_ERROR_MESSAGE_BYTES = 2048;

/**
 * `message` as an error shows it: whole when it fits `maxBytes` of UTF-8, else its start (never half a character)
 * followed by a marker saying how much there was. Applied where every RavenhelmError is made, so after whatever
 * redaction built the message: the cut can drop redacted text, never bring a value back.
 */
export function boundedMessage(message: string, maxBytes = MAX_ERROR_MESSAGE_BYTES): string {
  // a UTF-16 code unit is at most 3 UTF-8 bytes (a surrogate pair, two units, is 4)
  if (message.length * 3 <= maxBytes) return message;
  const total = Buffer.byteLength(message, 'utf8');
  if (total <= maxBytes) return message;
  const marker = (kept: number) => `… [error message cut at ${kept} of ${total} bytes]`;
  // the marker's length with the widest count it can hold
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker(total)));
  let bytes = 0;
  let end = 0;
  while (end < message.length) {
    const c = message.charCodeAt(end);
    const pair = c >= 0xd800 && c <= 0xdbff && isLowSurrogate(message.charCodeAt(end + 1));
    const size = pair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    if (bytes + size > room) break;
    bytes += size;
    end += pair ? 2 : 1;
  }
  return `${message.slice(0, end)}${marker(bytes)}`;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
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

/**
 * `text` with each value cut out as `withoutValues` cuts it, and also every run of `pieceLength`-character pieces of
 * a value (of the value as sent, JSON-escaped or percent-encoded): a backend's message may quote part of what was sent
 * (a validation error clipping the value it quotes, one field of a JSON value). A value shorter than `pieceLength`
 * (and at least `minLength`) is cut whole only. Runs in time linear in the text and the values: a 64 KiB message
 * scrubbed of a 64 KiB value takes milliseconds (the pieces are found by a rolling hash, each hit compared exactly).
 * To show the start of a long text, give the start plus `pieceLength - 1` characters and `end`: a value that
 * crosses `end` is cut up to it.
 */
export function withoutValuePieces(
  text: string,
  values: Iterable<string>,
  pieceLength: number,
  minLength = 1,
  /** Only the text before `end` is returned: what follows is read to find the pieces that cross it. */
  end = text.length,
): string {
  if (!Number.isInteger(pieceLength) || pieceLength < 1) {
    throw new RangeError(`pieceLength must be a positive integer, not ${pieceLength}`);
  }
  const hit = new Uint8Array(text.length);
  let any = false;
  const long: string[] = [];
  for (const value of values) {
    if (value.length < minLength || value.length === 0) continue;
    const forms = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
    if (value.length >= pieceLength) {
      long.push(...forms);
      continue;
    }
    for (const form of forms) {
      for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) {
        hit.fill(1, at, at + form.length);
        steps += form.length;
        any = true;
      }
    }
  }
  if (long.length > 0 && text.length >= pieceLength && markPieces(text, long, pieceLength, hit)) any = true;
  if (end < text.length) text = text.slice(0, Math.max(0, end));
  if (!any) return text;
  const parts: string[] = [];
  let start = 0;
  steps += text.length;
  for (let i = 0; i <= text.length; i++) {
    const cut = i < text.length && hit[i] === 1;
    const before = i > 0 && hit[i - 1] === 1;
    if (cut && !before) parts.push(text.slice(start, i), '[redacted]');
    else if (!cut && before) start = i;
  }
  parts.push(text.slice(start));
  return parts.join('');
}

/**
 * The steps scrubbing has taken in this process: characters hashed and compared, table slots probed, characters
 * marked. Tests read it to show the work grows linearly with the text and the values (a count, not a clock).
 */
let steps = 0;

export function scrubSteps(): number {
  return steps;
}

/** A random odd multiplier per process: which pieces share a hash slot cannot be planned from outside. */
const PIECE_BASE = (Math.floor(Math.random() * 0x40000000) * 2 + 1) | 0;

/**
 * Marks in `hit` every `k`-character window of `text` equal to a window of one of `forms`; true when any was.
 * The text's windows go into an open-addressing table (hash, first position, the others chained), each distinct
 * window once; the forms' windows are looked up in it by a rolling hash, and a hash match counts only when the
 * characters are the same. Each distinct window is marked once, so a repetitive text and value stay linear.
 */
function markPieces(text: string, forms: string[], k: number, hit: Uint8Array): boolean {
  const windows = text.length - k + 1;
  let size = 16;
  while (size < windows * 2) size *= 2;
  const mask = size - 1;
  const hashes = new Int32Array(size);
  const heads = new Int32Array(size).fill(-1);
  const marked = new Uint8Array(size);
  const next = new Int32Array(windows).fill(-1);
  let top = 1; // PIECE_BASE ** (k - 1), modulo 2 ** 32
  for (let j = 1; j < k; j++) top = Math.imul(top, PIECE_BASE);
  let h = 0;
  steps += text.length;
  for (let i = 0; i < text.length; i++) {
    if (i >= k) h = (h - Math.imul(text.charCodeAt(i - k), top)) | 0;
    h = (Math.imul(h, PIECE_BASE) + text.charCodeAt(i)) | 0;
    if (i < k - 1) continue;
    const start = i - k + 1;
    let s = slotOf(h, mask);
    while (heads[s] !== -1 && !(hashes[s] === h && same(text, heads[s] as number, text, start, k))) {
      s = (s + 1) & mask;
      steps++;
    }
    if (heads[s] === -1) {
      hashes[s] = h;
      heads[s] = start;
    } else {
      next[start] = next[heads[s] as number] as number;
      next[heads[s] as number] = start;
    }
  }
  let any = false;
  for (const form of forms) {
    h = 0;
    steps += form.length;
    for (let i = 0; i < form.length; i++) {
      if (i >= k) h = (h - Math.imul(form.charCodeAt(i - k), top)) | 0;
      h = (Math.imul(h, PIECE_BASE) + form.charCodeAt(i)) | 0;
      if (i < k - 1) continue;
      for (let s = slotOf(h, mask); heads[s] !== -1; s = (s + 1) & mask) {
        steps++;
        if (hashes[s] !== h || !same(text, heads[s] as number, form, i - k + 1, k)) continue;
        if (!marked[s]) {
          marked[s] = 1;
          any = true;
          for (let at = heads[s] as number; at !== -1; at = next[at] as number) {
            hit.fill(1, at, at + k);
            steps += k;
          }
        }
        break;
      }
    }
  }
  return any;
}

function slotOf(h: number, mask: number): number {
  const x = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (x ^ (x >>> 16)) & mask;
}

function same(a: string, i: number, b: string, j: number, k: number): boolean {
  steps += k;
  for (let n = 0; n < k; n++) if (a.charCodeAt(i + n) !== b.charCodeAt(j + n)) return false;
  return true;
}
