import { hash } from 'node:crypto';
import { withoutUrlPasswords } from '../errors.js';

// Canonical JSON, the argument digest and redaction: the parts of an audit record that look at the
// caller's arguments. None of them may throw on what a caller can send (deep nesting, huge values):
// a record is always written.

const SECRET_KEYS = /secret|token|password|passwd|credential|api[-_]?key|private[-_]?key|authorization|cookie/i;
/** Values that are credentials whatever key they sit under. */
const SECRET_VALUES = [
  /^\s*(bearer|basic)\s+[\w.~+/=-]+\s*$/i, // an Authorization header value
  /^eyJ[\w-]*\.[\w-]+\.[\w-]*$/, // a JWT
  /^cfm_[\w-]{20,}$/, // a confirmation token
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
];
const REDACTED = '[redacted]';
const MAX_STRING = 512;
const MAX_KEY = 128;
const MAX_ITEMS = 200;
const MAX_DEPTH = 32;
/** Default budget for the redacted arguments of one record (characters of JSON, approximately). */
export const MAX_ARGS_CHARS = 16 * 1024;
/** The marker that replaces what did not fit in the budget. */
export const CLIPPED_MARKER = '[clipped: audit record size cap]';

/** Below this depth the recursive fast path runs; deeper values take the iterative path. */
const FAST_PATH_DEPTH = 200;

class TooDeep extends Error {}

/** `obj[key] = value`, except that a '__proto__' key (JSON.parse makes such own keys) stays data. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/**
 * JSON with object keys sorted at every level, so the same value always gives the same text. Follows
 * JSON.stringify otherwise (toJSON, undefined members dropped, undefined/non-finite in arrays -> null);
 * bigints become decimal strings. Any depth works (deep values take an iterative path with the same
 * output); a circular reference becomes the string "[circular]" instead of throwing.
 */
export function canonicalJson(value: unknown): string {
  try {
    return JSON.stringify(sortedCopy(value, 0)) ?? 'null';
  } catch (err) {
    if (!(err instanceof TooDeep)) throw err;
    return canonicalJsonIterative(value);
  }
}

/** A copy with keys inserted in sorted order; JSON.stringify then does the rest (the fast path). */
function sortedCopy(value: unknown, depth: number): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return sortedCopy((value as { toJSON(): unknown }).toJSON(), depth);
  }
  if (depth >= FAST_PATH_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) return value.map((v) => sortedCopy(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort())
    setOwn(out, key, sortedCopy((value as Record<string, unknown>)[key], depth + 1));
  return out;
}

/** What JSON.stringify does to a value before looking inside it. */
function jsonValue(value: unknown): unknown {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON(): unknown }).toJSON();
  }
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/** The scalar's JSON text; undefined for values JSON drops (undefined, functions, symbols). */
function scalarJson(v: unknown): string | undefined {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return undefined;
  return JSON.stringify(v);
}

type Frame =
  | { kind: 'array'; items: unknown[]; i: number; node: object }
  | { kind: 'object'; obj: Record<string, unknown>; keys: string[]; i: number; wrote: boolean; node: object };

/** The same text as the fast path, with an explicit stack: no recursion limit. */
function canonicalJsonIterative(root: unknown): string {
  const out: string[] = [];
  const stack: Frame[] = [];
  const open = new Set<object>();
  /** Emits a value that has already been through jsonValue(); pushes a frame for containers. */
  const emit = (v: unknown): void => {
    if (v === null || typeof v !== 'object') {
      out.push(scalarJson(v) ?? 'null');
      return;
    }
    if (open.has(v)) {
      out.push('"[circular]"');
      return;
    }
    open.add(v);
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ kind: 'array', items: v, i: 0, node: v });
    } else {
      out.push('{');
      const obj = v as Record<string, unknown>;
      stack.push({ kind: 'object', obj, keys: Object.keys(obj).sort(), i: 0, wrote: false, node: v });
    }
  };
  emit(jsonValue(root));
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as Frame;
    if (top.kind === 'array') {
      if (top.i >= top.items.length) {
        out.push(']');
        open.delete(top.node);
        stack.pop();
        continue;
      }
      if (top.i > 0) out.push(',');
      const v = jsonValue(top.items[top.i++]);
      emit(typeof v !== 'object' && scalarJson(v) === undefined ? null : v);
      continue;
    }
    if (top.i >= top.keys.length) {
      out.push('}');
      open.delete(top.node);
      stack.pop();
      continue;
    }
    const key = top.keys[top.i++] as string;
    const v = jsonValue(top.obj[key]);
    if (typeof v !== 'object' && scalarJson(v) === undefined) continue;
    if (top.wrote) out.push(',');
    top.wrote = true;
    out.push(JSON.stringify(key), ':');
    emit(v);
  }
  return out.join('');
}

/**
 * 'sha256:' + hex of the canonical JSON of the RAW arguments (no arguments = `{}`): binds a confirmation
 * or an audit record to exact arguments without storing them. Low-entropy secrets in the arguments can be
 * guessed from it offline, so treat the digest as sensitive data, like the log that holds it.
 */
export function digestArgs(args: unknown): string {
  return `sha256:${hash('sha256', canonicalJson(args ?? {}), 'hex')}`;
}

/** A record's chain hash: sha256(prevHash + canonical JSON of the record without `hash`), one-shot (about twice as fast as createHash for records). */
export function chainHash(prevHash: string, canonical: string): string {
  return `sha256:${hash('sha256', prevHash + canonical, 'hex')}`;
}

export interface RedactOptions {
  /** Approximate budget, in characters of JSON, for the whole copy; what does not fit is clipped. */
  maxChars?: number;
}

/**
 * A copy of `args` safe to write to logs: values under secret-looking keys (the default pattern, plus
 * `secretKeys` when given, plus the exact names in `sensitive`) become '[redacted]' at any depth; string
 * values that are credentials by their shape (Bearer/Basic headers, JWTs, confirmation tokens, PEM private
 * keys) too, and so does the password of a URL inside any string (`https://user:[redacted]@host`).
 * Strings over 512 characters, keys over 128, arrays and objects over 200 entries and nesting over 32
 * levels are clipped with a marker; with `maxChars`, so is whatever exceeds that budget.
 */
export function redactArgs(
  args: unknown,
  secretKeys?: RegExp,
  sensitive: readonly string[] = [],
  opts: RedactOptions = {},
): unknown {
  const isSecretKey = (k: string) => SECRET_KEYS.test(k) || (secretKeys?.test(k) ?? false) || sensitive.includes(k);
  const seen = new Set<object>();
  let budget = opts.maxChars ?? Number.POSITIVE_INFINITY;
  const clipString = (s: string, max: number) =>
    s.length > max ? `${s.slice(0, max)}…[clipped ${s.length - max} chars]` : s;
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') {
      if (SECRET_VALUES.some((re) => re.test(value))) return REDACTED;
      const s = clipString(withoutUrlPasswords(value), MAX_STRING);
      budget -= s.length + 2;
      return s;
    }
    budget -= 8;
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
    if (depth >= MAX_DEPTH) return '[too deep]';
    if (seen.has(value)) return '[circular]';
    seen.add(value);
    let out: unknown;
    if (Array.isArray(value)) {
      const items: unknown[] = [];
      const n = Math.min(value.length, MAX_ITEMS);
      for (let i = 0; i < n; i++) {
        if (budget <= 0) {
          items.push(CLIPPED_MARKER);
          break;
        }
        items.push(walk(value[i], depth + 1));
      }
      if (value.length > MAX_ITEMS && budget > 0) items.push(`[clipped ${value.length - MAX_ITEMS} items]`);
      out = items;
    } else {
      const copy: Record<string, unknown> = {};
      let count = 0;
      for (const k in value) {
        if (!Object.hasOwn(value, k)) continue;
        if (budget <= 0 || count >= MAX_ITEMS) {
          setOwn(copy, '…', budget <= 0 ? CLIPPED_MARKER : `[clipped: more than ${MAX_ITEMS} keys]`);
          break;
        }
        count++;
        const key = clipString(k, MAX_KEY);
        budget -= key.length + 4;
        if (isSecretKey(k)) setOwn(copy, key, REDACTED);
        else {
          const w = walk((value as Record<string, unknown>)[k], depth + 1);
          if (w !== undefined) setOwn(copy, key, w);
        }
      }
      out = copy;
    }
    seen.delete(value);
    return out;
  };
  return walk(args, 0);
}
