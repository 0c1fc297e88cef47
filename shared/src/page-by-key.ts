/**
 * Paging by key. An offset cursor ("the 50th item on") skips or repeats an item without a word when one
 * before it comes or goes between two calls, and the lists our tools page (containers, alerts, grants,
 * routers) change all the time. Here a page starts right after the last key the previous page showed,
 * wherever the list now stands, and says when the items before that point are no longer the set the
 * previous page was cut from.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_MAX_OUTPUT_BYTES, decodeCursor } from './budget.js';
import { ToolError } from './errors.js';
import { wellFormed } from './unicode.js';

export interface KeyPage<T> {
  items: T[];
  total: number;
  returned: number;
  truncated: boolean;
  nextCursor?: string;
  /** The items before this page are not the set the cursor's page was cut from (one came or went). */
  changed: boolean;
}

export interface PageByKeyOptions {
  /** The tool's name, for error messages. */
  tool: string;
  /** What the listing is of (its filters): a cursor issued for another is refused. */
  bind?: string;
  cursor?: string | undefined;
  limit?: number;
  /** Budget for the items' JSON bytes; at least one item always goes, so paging progresses. */
  maxBytes?: number;
  /**
   * A small opaque state (at most MAX_CURSOR_STATE bytes) the next page needs to continue the same listing, e.g.
   * the instant a relative time was read at: written into the cursor, bound with `tool` and `bind`. A tool reads
   * it back with `cursorState` before it fetches, and passes the same bytes here.
   */
  state?: Uint8Array | undefined;
  /**
   * The start offset of a cursor in a form this tool itself issued before it paged by key (an older replica),
   * undefined for any other cursor. The kit's plain offset cursor (`encodeCursor`) names no tool, so pageByKey
   * refuses it unless this reads it.
   */
  legacyOffset?: ((cursor: string) => number | undefined) | undefined;
}

/** The most bytes of state a cursor carries (`PageByKeyOptions.state`). */
export const MAX_CURSOR_STATE = 16;

// A cursor is base64url of: VERSION, the bind digest, the digest of the keys up to the last one shown, the
// digest of that key, then as much of that key as fits (whole UTF-8 characters). 48 bytes: 64 characters,
// the length every paged tool accepts. With state, VERSION_STATE, and after the key digest the state's length
// (one byte) and the state; the bind digest then covers the state too, so a state altered is refused.
const VERSION = 0x01;
const VERSION_STATE = 0x02;
const BIND = 4;
const SET = 6;
const LAST = 6;
const HEAD = 1 + BIND + SET + LAST;
const MAX_BYTES = 48;

const digest = (parts: readonly string[], bytes: number): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest().subarray(0, bytes);
};

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The longest start of `key` that is whole characters and at most `bytes` UTF-8 bytes. */
function keyHead(key: string, bytes: number): Buffer {
  const buf = Buffer.from(key, 'utf8');
  if (buf.length <= bytes) return buf;
  let end = bytes;
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

/**
 * One page of `entries` (sorted here by key, plain string order; keys must be distinct, lone surrogates read as
 * U+FFFD) after the cursor's last key. An offset cursor is read only through the tool's own `legacyOffset`.
 */
export function pageByKey<T>(entries: readonly { key: string; item: T }[], opts: PageByKeyOptions): KeyPage<T> {
  // A lone surrogate has no UTF-8 form: the cursor would carry U+FFFD for it and resume in the wrong place.
  const sorted = entries.map((e) => ({ key: wellFormed(e.key), item: e.item })).sort((a, b) => cmp(a.key, b.key));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.key === sorted[i - 1]?.key) {
      throw new Error(`pageByKey(${opts.tool}): two items have the same key; add an id to the key`);
    }
  }
  const keys = sorted.map((e) => e.key);
  const state = opts.state === undefined ? undefined : Buffer.from(opts.state);
  if (state && state.length > MAX_CURSOR_STATE) {
    throw new Error(`pageByKey(${opts.tool}): state over ${MAX_CURSOR_STATE} bytes`);
  }
  const bind = bindDigest(opts.tool, opts.bind, state);
  let start = 0;
  let changed = false;
  if (opts.cursor !== undefined && opts.cursor !== '') {
    const at = readCursor(opts.cursor, opts.tool, opts.bind, opts.legacyOffset);
    if (typeof at === 'number') {
      start = Math.min(at, keys.length);
    } else {
      // the page continues the cursor's listing only when the tool read it with the cursor's state (cursorState); a
      // cursor made up with a state for a tool that carries none is refused, not an internal error
      if (at.state !== undefined && !state?.equals(at.state)) {
        throw new ToolError(
          'ERR_INVALID_INPUT',
          `cursor is not one ${opts.tool} issued (it carries a state this call did not read); omit it to start from the first page`,
        );
      }
      start = resume(keys, at);
      changed = !digest(keys.slice(0, start), SET).equals(at.set);
    }
  }
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const items: T[] = [];
  let used = 2;
  for (let i = start; i < sorted.length && items.length < limit; i++) {
    const item = (sorted[i] as { item: T }).item;
    const size = Buffer.byteLength(JSON.stringify(item) ?? '', 'utf8') + 1;
    if (items.length > 0 && used + size > maxBytes) break;
    items.push(item);
    used += size;
  }
  const end = start + items.length;
  const truncated = end < sorted.length;
  const last = keys[end - 1];
  return {
    items,
    total: sorted.length,
    returned: items.length,
    truncated,
    ...(truncated && last !== undefined
      ? { nextCursor: writeCursor(bind, digest(keys.slice(0, end), SET), last, state) }
      : {}),
    changed,
  };
}

interface KeyCursor {
  set: Buffer;
  last: Buffer;
  head: string;
  /** `head` is the whole last key. */
  whole: boolean;
  state?: Buffer;
}

const bindDigest = (tool: string, bind: string | undefined, state: Buffer | undefined): Buffer =>
  digest(state === undefined ? [tool, bind ?? ''] : [tool, bind ?? '', `state:${state.toString('hex')}`], BIND);

function writeCursor(bind: Buffer, set: Buffer, last: string, state: Buffer | undefined): string {
  const lead = state === undefined ? [] : [Buffer.from([state.length]), state];
  const room = MAX_BYTES - HEAD - (state === undefined ? 0 : 1 + state.length);
  const head = keyHead(last, room);
  const whole = head.length === Buffer.byteLength(last, 'utf8');
  const v = state === undefined ? VERSION : VERSION_STATE;
  // the version byte's top bit says the head is the whole key
  const version = Buffer.from([whole ? v | 0x80 : v]);
  return Buffer.concat([version, bind, set, digest([last], LAST), ...lead, head]).toString('base64url');
}

function readCursor(
  cursor: string,
  tool: string,
  bind: string | undefined,
  legacyOffset?: (cursor: string) => number | undefined,
): KeyCursor | number {
  const refuse = (why: string) =>
    new ToolError('ERR_INVALID_INPUT', `cursor ${why}; omit it to start from the first page`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) throw refuse(`is not one ${tool} issued`);
  const raw = Buffer.from(cursor, 'base64url');
  const version = (raw[0] ?? 0) & 0x7f;
  const stateLength = version === VERSION_STATE ? (raw[HEAD] ?? 0xff) : 0;
  const headAt = version === VERSION_STATE ? HEAD + 1 + stateLength : HEAD;
  if ((version !== VERSION && version !== VERSION_STATE) || raw.length < headAt || stateLength > MAX_CURSOR_STATE) {
    const offset = legacyOffset?.(cursor);
    if (offset !== undefined) return offset;
    let plain = false;
    try {
      decodeCursor(cursor);
      plain = true;
    } catch {
      // not the kit's offset cursor either
    }
    // The kit's offset cursor names no tool: read as a position in this list it would start anywhere.
    throw refuse(
      plain
        ? `is an offset cursor (from an older version, or from a tool that pages by offset), which ${tool} does not read`
        : `is not one ${tool} issued`,
    );
  }
  const state = version === VERSION_STATE ? raw.subarray(HEAD + 1, headAt) : undefined;
  if (!raw.subarray(1, 1 + BIND).equals(bindDigest(tool, bind, state))) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `cursor belongs to another listing of ${tool} (other arguments)${state === undefined ? '' : ' or was altered'}: pass the arguments of the page it came from, or omit it to start from the first page`,
    );
  }
  const head = raw.subarray(headAt).toString('utf8');
  if (head.includes('\uFFFD') && !raw.subarray(headAt).equals(Buffer.from(head, 'utf8'))) {
    throw refuse(`is not one ${tool} issued`);
  }
  return {
    set: raw.subarray(1 + BIND, 1 + BIND + SET),
    last: raw.subarray(1 + BIND + SET, HEAD),
    head,
    whole: ((raw[0] ?? 0) & 0x80) !== 0,
    ...(state === undefined ? {} : { state }),
  };
}

/**
 * The state a cursor of this tool and listing carries (`PageByKeyOptions.state`), read before the tool fetches
 * so the next page continues the same listing: undefined without a cursor, or for a cursor without state. A
 * cursor of another listing, or whose state was altered, is refused as pageByKey refuses it.
 */
export function cursorState(
  cursor: string | undefined,
  opts: Pick<PageByKeyOptions, 'tool' | 'bind' | 'legacyOffset'>,
): Buffer | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const at = readCursor(cursor, opts.tool, opts.bind, opts.legacyOffset);
  return typeof at === 'number' ? undefined : at.state;
}

/**
 * The index right after the cursor's last key. When the cursor holds only the start of that key, the key is
 * found by its digest; if it is gone, the page starts at the first key after that start, so keys sharing it
 * may show again (never skipped).
 */
function resume(keys: readonly string[], at: KeyCursor): number {
  if (!at.whole) {
    const same = keys.findIndex((k) => k.startsWith(at.head) && digest([k], LAST).equals(at.last));
    if (same >= 0) return same + 1;
  }
  const i = keys.findIndex((k) => cmp(k, at.head) > 0);
  return i < 0 ? keys.length : i;
}

/**
 * A key that sorts by its parts in order (tuple order): ['a', 'z'] before ['ab', 'a']. Each NUL in a part is
 * written NUL 0x01 and parts are joined by NUL NUL, which sorts before anything a part can continue with.
 */
export function tupleKey(...parts: string[]): string {
  return parts.map((p) => p.replaceAll('\0', '\0\x01')).join('\0\0');
}

/**
 * An instant as a fixed-width key part that sorts newest first (ms from year 275760 down; years before 1970
 * too); a time that does not parse sorts last.
 */
export function newestFirstKey(ms: number): string {
  const MAX_MS = 8.64e15; // the ECMAScript time range, both ways
  return Number.isFinite(ms) ? String(MAX_MS - ms).padStart(17, '0') : '9'.repeat(17);
}

/** What a page says when `changed`: `what` is the list, e.g. "The container list". */
export const changedNote = (what: string) =>
  `${what} changed since the previous page: this page continues after the last item shown, and items added before that point are not shown; omit the cursor to list them all again`;
