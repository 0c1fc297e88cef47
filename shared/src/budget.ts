/**
 * Output budgets. Every tool result is bounded; truncation is always explicit.
 * Lists report `total`, `returned`, `truncated` and a `nextCursor` to continue from.
 */
import { z } from 'zod';
import { ToolError } from './errors.js';

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

export const ListPage = {
  total: z.number().int().describe('How many items matched in all'),
  returned: z.number().int().describe('How many items this response holds'),
  truncated: z.boolean().describe('True when items were left out; continue with nextCursor'),
  nextCursor: z.string().optional().describe('Pass as `cursor` to get the next page'),
};

export interface Page<T> {
  items: T[];
  total: number;
  returned: number;
  truncated: boolean;
  nextCursor?: string;
}

export function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^o:(\d{1,9})$/.exec(raw);
  if (!m)
    throw new ToolError(
      'ERR_INVALID_INPUT',
      'cursor is not one this server issued; omit it to start from the first page',
    );
  return Number(m[1]);
}

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');

/**
 * Pages a list: starts at the cursor, takes at most `limit` items and stops early when the serialized
 * items would exceed `maxBytes`. Always returns at least one item when any remain, so paging progresses.
 */
export function pageList<T>(
  all: readonly T[],
  opts: { cursor?: string | undefined; limit?: number; maxBytes?: number },
): Page<T> {
  const start = decodeCursor(opts.cursor);
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const items: T[] = [];
  let used = 2;
  for (let i = start; i < all.length && items.length < limit; i++) {
    const size = bytesOf(all[i]) + 1;
    if (items.length > 0 && used + size > maxBytes) break;
    items.push(all[i] as T);
    used += size;
  }
  const end = start + items.length;
  const truncated = end < all.length;
  return {
    items,
    total: all.length,
    returned: items.length,
    truncated,
    ...(truncated ? { nextCursor: encodeCursor(end) } : {}),
  };
}

export interface ClippedText {
  text: string;
  truncated: boolean;
  totalBytes: number;
}

/**
 * The first byte at or after `at` that starts a UTF-8 character (a continuation byte, 10xxxxxx, never does):
 * text decoded from there has no U+FFFD from a character cut in half.
 */
export function charStartFrom(buf: Buffer, at: number): number {
  let i = Math.max(0, Math.min(at, buf.length));
  while (i < buf.length && ((buf[i] as number) & 0xc0) === 0x80) i++;
  return i;
}

/**
 * The last byte at or before `at` that starts a UTF-8 character (or 0): text cut there ends before a
 * character the cut would split.
 */
export function charStartAtOrBefore(buf: Buffer, at: number): number {
  let i = Math.max(0, Math.min(at, buf.length));
  while (i > 0 && ((buf[i] as number) & 0xc0) === 0x80) i--;
  return i;
}

/** Keeps the last `maxBytes` of a text (logs: the newest lines matter most), cut at a line boundary. */
export function clipTail(text: string, maxBytes: number): ClippedText {
  const totalBytes = Buffer.byteLength(text, 'utf8');
  if (totalBytes <= maxBytes) return { text, truncated: false, totalBytes };
  const buf = Buffer.from(text, 'utf8');
  let tail = buf.subarray(charStartFrom(buf, buf.length - maxBytes)).toString('utf8');
  const nl = tail.indexOf('\n');
  if (nl >= 0 && nl < tail.length - 1) tail = tail.slice(nl + 1);
  return { text: tail, truncated: true, totalBytes };
}

/** Keeps the first `maxBytes` of a text, cut at a line boundary when one exists. */
export function clipHead(text: string, maxBytes: number): ClippedText {
  const totalBytes = Buffer.byteLength(text, 'utf8');
  if (totalBytes <= maxBytes) return { text, truncated: false, totalBytes };
  const buf = Buffer.from(text, 'utf8');
  // end before a character the cut would split (its bytes would decode as U+FFFD)
  let head = buf.subarray(0, charStartAtOrBefore(buf, maxBytes)).toString('utf8');
  const nl = head.lastIndexOf('\n');
  if (nl > 0) head = head.slice(0, nl + 1);
  return { text: head, truncated: true, totalBytes };
}

/**
 * clipHead, and the result also fits `maxJsonBytes` as a JSON string. Escapes make JSON larger than the text,
 * unevenly (a control character takes 6 bytes, a quote 2, a letter 1), so the cut is searched for: the
 * largest that fits (the JSON size only grows as the cut takes in more of the text).
 */
export function clipHeadJson(text: string, maxBytes: number, maxJsonBytes: number): ClippedText {
  return clipJson(clipHead, text, maxBytes, maxJsonBytes);
}

/** clipTail, and the result also fits `maxJsonBytes` as a JSON string (see clipHeadJson). */
export function clipTailJson(text: string, maxBytes: number, maxJsonBytes: number): ClippedText {
  return clipJson(clipTail, text, maxBytes, maxJsonBytes);
}

function clipJson(
  clip: (text: string, maxBytes: number) => ClippedText,
  text: string,
  maxBytes: number,
  maxJsonBytes: number,
): ClippedText {
  const first = clip(text, maxBytes);
  if (jsonBytes(first.text) <= maxJsonBytes) return first;
  // Every shorter cut of the text is the same cut of `within` (same end or start, same line snapping).
  const within = first.text;
  let fits = 0;
  let over = Buffer.byteLength(within, 'utf8');
  while (over - fits > 1) {
    const mid = (fits + over) >> 1;
    if (jsonBytes(clip(within, mid).text) <= maxJsonBytes) fits = mid;
    else over = mid;
  }
  return { text: clip(within, fits).text, truncated: true, totalBytes: first.totalBytes };
}

export function jsonBytes(value: unknown): number {
  return bytesOf(value);
}

/** Bytes of a tool result's JSON besides its two copies of the data (content framing, isError, _meta). */
const RESULT_FRAMING_BYTES = 512;

/**
 * The data budget a tool gets when the whole result must fit `maxOutputBytes`. A result carries the data
 * twice (the structured copy and, for clients that read only text, the same JSON as a text block, where
 * every quote and backslash is escaped once more), so a tool gets 2/5 of the budget: room for the data,
 * its text copy and up to 25% escaping overhead.
 */
export function dataBudgetOf(maxOutputBytes: number): number {
  return Math.max(256, Math.floor(((maxOutputBytes - RESULT_FRAMING_BYTES) * 2) / 5));
}
