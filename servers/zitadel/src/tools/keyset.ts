import { createHash } from 'node:crypto';
import { ToolError } from '@ravenhelm/kit';
import type { ListResult } from '../backend.js';

/**
 * Listings Zitadel pages by offset with no ORDER BY (ListUserGrants, ListProjects: their requests set no
 * sorting column, and internal/query/search_query.go orders only by one), read whole within a bound and paged
 * here by key: a row added, removed or rewritten between two calls (Postgres writes an updated row anew,
 * and an unordered query returns it where it now lies) shifts no page.
 */

export const digest = (text: string, chars: number) =>
  createHash('sha256').update(text).digest('base64url').slice(0, chars);

/** Rows asked for per call. */
const READ_PAGE = 100;

export interface WholeRead<T> {
  /** De-duplicated by id, in the order Zitadel listed them. */
  items: T[];
  /** Zitadel's count, as its last answer said it. */
  total: number;
  /** More than `max` rows: the rest were not read. */
  cut: boolean;
  /**
   * The listing changed between two calls: Zitadel's count moved, or the rows read do not add up to it (one
   * listed twice, as a row rewritten meanwhile is, or one skipped).
   */
  shifted: boolean;
}

/** Every row of an offset-paged listing, `max` at most, by calls of READ_PAGE. */
export async function readWhole<T>(
  read: (window: { offset: number; limit: number }) => Promise<ListResult<T>>,
  idOf: (item: T, n: number) => string,
  max: number,
): Promise<WholeRead<T>> {
  const out = new Map<string, T>();
  let total: number | undefined;
  let recounted = false; // Zitadel's count moved between two calls: a row came or went meanwhile
  let n = 0; // rows read, repeats included: bounds the loop whatever totals the answers claim
  for (let offset = 0; ; offset += READ_PAGE) {
    const page = await read({ offset, limit: READ_PAGE });
    if (total !== undefined && page.total !== total) recounted = true;
    total = page.total;
    for (const item of page.result) {
      if (n >= max) return { items: [...out.values()], total, cut: true, shifted: recounted };
      const id = idOf(item, n++);
      if (!out.has(id)) out.set(id, item);
    }
    if (page.result.length === 0 || offset + READ_PAGE >= page.total) break;
  }
  return { items: [...out.values()], total, cut: false, shifted: recounted || out.size !== total };
}

export interface KeyedPage<T> {
  shown: T[];
  truncated: boolean;
  nextCursor?: string;
  /** The set listed differs from the one the cursor's page was cut from. */
  changed: boolean;
}

const CURSOR = /^k1:([A-Za-z0-9_.-]{1,24}):([A-Za-z0-9_-]{8}):([A-Za-z0-9_-]{6})$/;

/**
 * One page of `entries` after the cursor's key. A cursor holds the last key shown, a digest of the keys it was
 * cut from (a different set now: `changed`) and of `bind` (what the listing was of: another is refused).
 * `fits`: how many of the page's items fit the output budget (at least one always goes).
 */
export function keyedPage<T>(
  entries: { key: string; item: T }[],
  opts: { cursor?: string | undefined; limit: number; bind: string; tool: string; fits: (items: T[]) => number },
): KeyedPage<T> {
  const sorted = [...entries].sort((a, b) => cmp(a.key, b.key));
  const set = digest(sorted.map((e) => e.key).join(','), 8);
  const bind = digest(opts.bind, 6);
  let after: string | undefined;
  let changed = false;
  if (opts.cursor !== undefined) {
    const m = CURSOR.exec(Buffer.from(opts.cursor, 'base64url').toString('utf8'));
    if (!m) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `cursor is not one ${opts.tool} issued; omit it to start from the first page`,
      );
    }
    if (m[3] !== bind) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `cursor belongs to another listing (other arguments) of ${opts.tool}; omit it to start from the first page`,
      );
    }
    after = m[1] as string;
    changed = m[2] !== set;
  }
  const rest = after === undefined ? sorted : sorted.filter((e) => cmp(e.key, after) > 0);
  const wanted = rest.slice(0, opts.limit);
  const kept = Math.max(Math.min(1, wanted.length), opts.fits(wanted.map((e) => e.item)));
  const shown = wanted.slice(0, kept);
  const truncated = rest.length > shown.length;
  const last = shown[shown.length - 1];
  return {
    shown: shown.map((e) => e.item),
    truncated,
    ...(truncated && last ? { nextCursor: Buffer.from(`k1:${last.key}:${set}:${bind}`).toString('base64url') } : {}),
    changed,
  };
}

/** What a page says when the set it pages changed since the cursor's page. */
export const changedNote = (what: string) =>
  `${what} changed since the previous page: this page continues after the last one shown, and one added before it is not shown; omit the cursor to list them all again`;

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
