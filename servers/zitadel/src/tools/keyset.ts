import { createHash } from 'node:crypto';
import { changedNote, jsonBytes, type KeyPage, pageByKey } from '@ravenhelm/kit';
import type { ListResult } from '../backend.js';

/**
 * Listings Zitadel pages by offset, read whole within a bound and paged here by key (the kit's pageByKey): a
 * row added, removed or rewritten between two calls shifts no page. Zitadel gives most of them no ORDER BY
 * (their requests set no sorting column, and internal/query/search_query.go orders only by one): ListUserGrants,
 * ListProjects and ListProjectRoles (internal/api/grpc/management/project_converter.go, user_grant_converter.go),
 * ListMachineKeys (user_converter.go ListMachineKeysRequestToQuery), v2 ListOrganizations
 * (internal/api/grpc/org/v2/query.go fieldNameToOrganizationColumn: UNSPECIFIED is no column). v2 ListUsers
 * orders by user id (internal/api/grpc/user/v2/query.go userFieldNameToSortingColumn), but an offset still
 * moves when a user before it comes or goes, and the API has no "after this id" query to page by.
 */

const digest = (text: string, chars: number) => createHash('sha256').update(text).digest('base64url').slice(0, chars);

/**
 * A row's id, its key in a keyed page; a row Zitadel listed without one (none should) gets one of its own that
 * sorts after every id, so rows stay distinct and in the order Zitadel gave.
 */
export const idOr = (id: string | undefined, n: number): string => id || `\uffff${String(n).padStart(6, '0')}`;

/** Rows asked for per call. */
const READ_PAGE = 100;

export interface WholeRead<T> {
  /** De-duplicated by id, in the order Zitadel listed them. */
  items: T[];
  /** Each item's id (`idOf`), distinct: its key in a keyed page. */
  keys: string[];
  /** Zitadel's count, as its last answer said it. */
  total: number;
  /** More than `max` rows: the rest were not read. */
  cut: boolean;
  /**
   * The listing changed between two calls: Zitadel's count moved, the rows read do not add up to it (one
   * listed twice, as a row rewritten meanwhile is, or one skipped), or a read of several calls was not
   * confirmed by the next one listing the same ids (one added and another removed leave the count as it was).
   */
  shifted: boolean;
}

interface OneRead<T> extends WholeRead<T> {
  calls: number;
  /** Digest of the ids read, in no particular order. */
  ids: string;
}

async function readOnce<T>(
  read: (window: { offset: number; limit: number }) => Promise<ListResult<T>>,
  idOf: (item: T, n: number) => string,
  max: number,
): Promise<OneRead<T>> {
  const out = new Map<string, T>();
  let total: number | undefined;
  let recounted = false; // Zitadel's count moved between two calls: a row came or went meanwhile
  let n = 0; // rows read, repeats included: bounds the loop whatever totals the answers claim
  let calls = 0;
  const done = (cut: boolean, shifted: boolean): OneRead<T> => ({
    items: [...out.values()],
    keys: [...out.keys()],
    total: total ?? 0,
    cut,
    shifted,
    calls,
    ids: digest([...out.keys()].sort().join('\n'), 16),
  });
  for (let offset = 0; ; offset += READ_PAGE) {
    const page = await read({ offset, limit: READ_PAGE });
    calls++;
    if (total !== undefined && page.total !== total) recounted = true;
    total = page.total;
    for (const item of page.result) {
      if (n >= max) return done(true, recounted);
      const id = idOf(item, n++);
      if (!out.has(id)) out.set(id, item);
    }
    if (page.result.length === 0 || offset + READ_PAGE >= page.total) break;
  }
  return done(false, recounted || out.size !== total);
}

/**
 * Every row of an offset-paged listing, `max` at most, by calls of READ_PAGE. One call is one query, whatever
 * changes meanwhile; a read of several calls is read again, and holds only if both list the same ids (else
 * `shifted`): a row added before the offset and another removed there would leave count and size as they were,
 * one row shown that is gone and another never shown.
 */
export async function readWhole<T>(
  read: (window: { offset: number; limit: number }) => Promise<ListResult<T>>,
  idOf: (item: T, n: number) => string,
  max: number,
): Promise<WholeRead<T>> {
  const first = await readOnce(read, idOf, max);
  if (first.calls === 1 || first.shifted || first.cut) return strip(first);
  const again = await readOnce(read, idOf, max);
  return strip(again, again.ids !== first.ids);
}

const strip = <T>(r: OneRead<T>, moved = false): WholeRead<T> => ({
  items: r.items,
  keys: r.keys,
  total: r.total,
  cut: r.cut,
  shifted: r.shifted || moved,
});

/** A page of a listing read whole, as the tools answer it. */
export interface WholePage<T> {
  items: T[];
  total: number;
  returned: number;
  truncated: boolean;
  nextCursor?: string;
  notes: string[];
}

/**
 * A listing read whole (readWhole, once more when it shifted) and one page of it by key. `show` maps a row to
 * what the tool answers; `idOf` is also its key (an id: distinct, and fixed while the row lives). Notes say
 * what the page cannot show: rows beyond `max`, a listing that kept changing while read, a set changed since
 * the cursor's page; room for them is left in `maxBytes`.
 */
export async function listWhole<R, T>(
  read: (window: { offset: number; limit: number }) => Promise<ListResult<R>>,
  opts: {
    idOf: (row: R, n: number) => string;
    show: (row: R) => T;
    /** Rows to show (default: all); the others are left out, and a note says how many and `dropped` why. */
    keep?: { row: (row: R) => boolean; dropped: string };
    max: number;
    /** The rows, plural, for the notes: `projects`. */
    what: string;
    /** How to see fewer: `narrow it with name`. */
    narrow: string;
    tool: string;
    bind: string;
    cursor?: string | undefined;
    limit: number;
    maxBytes: number;
  },
): Promise<WholePage<T>> {
  let whole = await readWhole(read, opts.idOf, opts.max);
  if (whole.shifted) whole = await readWhole(read, opts.idOf, opts.max);
  const notes = [
    ...(whole.cut
      ? [
          `${whole.total} ${opts.what} match, more than the ${opts.max} a listing reads: only those are paged; ${opts.narrow}`,
        ]
      : []),
    ...(whole.shifted ? [`the ${opts.what} changed while they were read: one may be missing; repeat the call`] : []),
  ];
  // the keys the read de-duplicated by: an id Zitadel repeats, or one like another row's stand-in, stays one row
  const entries: { key: string; item: T }[] = [];
  let dropped = 0;
  whole.items.forEach((row, n) => {
    if (opts.keep && !opts.keep.row(row)) dropped++;
    else entries.push({ key: whole.keys[n] as string, item: opts.show(row) });
  });
  if (dropped > 0) notes.push(`${dropped} ${opts.what} Zitadel listed are not shown: ${opts.keep?.dropped}`);
  const page = pageKeyed(entries, { ...opts, notes, what: `the ${opts.what}` });
  return { ...page, total: whole.cut ? whole.total - dropped : page.total };
}

/**
 * One page of `entries` by key (pageByKey) after the notes that go out with it, `changedNote` added when the
 * set changed since the cursor's page; `maxBytes` is the items' budget, notes included.
 */
export function pageKeyed<T>(
  entries: readonly { key: string; item: T }[],
  opts: {
    tool: string;
    bind: string;
    cursor?: string | undefined;
    limit: number;
    maxBytes: number;
    notes: readonly string[];
    what: string;
  },
): WholePage<T> & Pick<KeyPage<T>, 'changed'> {
  const changed = changedNote(opts.what);
  const page = pageByKey(entries, {
    tool: opts.tool,
    bind: opts.bind,
    cursor: opts.cursor,
    limit: opts.limit,
    // the notes go out with the items: room for them, the one a changed set adds included
    maxBytes: opts.maxBytes - jsonBytes([...opts.notes, changed]),
  });
  return { ...page, notes: page.changed ? [...opts.notes, changed] : [...opts.notes] };
}
