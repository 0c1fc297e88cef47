import { describe, expect, it } from 'vitest';
import { encodeCursor, pageList } from './budget.js';
import { ToolError } from './errors.js';
import { changedNote, cursorState, newestFirstKey, pageByKey, tupleKey } from './page-by-key.js';

const entries = (names: string[]) => names.map((n) => ({ key: n, item: { name: n } }));
const names = (items: { name: string }[]) => items.map((i) => i.name);

/** Every item, page by page, reading the list afresh before each page as `listAt(page)` says it stands. */
function readAll(listAt: (page: number) => string[], limit: number, bind?: string) {
  const seen: string[] = [];
  const changed: boolean[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const p = pageByKey(entries(listAt(page)), { tool: 't_list', cursor, limit, ...(bind ? { bind } : {}) });
    seen.push(...names(p.items));
    changed.push(p.changed);
    if (!p.truncated) return { seen, changed };
    expect(p.nextCursor).toBeDefined();
    cursor = p.nextCursor;
  }
  throw new Error('did not end');
}

describe('pageByKey', () => {
  const abc = ['e', 'a', 'd', 'c', 'b', 'f'];

  it('pages in key order, each item once, with the list fields', () => {
    const first = pageByKey(entries(abc), { tool: 't_list', limit: 4 });
    expect(names(first.items)).toEqual(['a', 'b', 'c', 'd']);
    expect(first).toMatchObject({ total: 6, returned: 4, truncated: true, changed: false });
    const second = pageByKey(entries(abc), { tool: 't_list', limit: 4, cursor: first.nextCursor });
    expect(names(second.items)).toEqual(['e', 'f']);
    expect(second).toMatchObject({ total: 6, returned: 2, truncated: false, changed: false });
    expect(second.nextCursor).toBeUndefined();
  });

  it('neither skips nor repeats when an item before the cursor goes (an offset pager skips one)', () => {
    const listAt = (page: number) => (page === 0 ? abc : abc.filter((n) => n !== 'a'));
    const { seen, changed } = readAll(listAt, 2);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(changed).toEqual([false, true, false]); // changed since the previous page, not since the first

    // The same with the kit's offset pager: 'c' is never shown.
    const p1 = pageList(abc.toSorted(), { limit: 2 });
    const p2 = pageList(listAt(1).toSorted(), { limit: 2, cursor: p1.nextCursor });
    expect([...p1.items, ...p2.items]).not.toContain('c');
  });

  it('shows an item added after the cursor, says when one was added before it', () => {
    const after = readAll((page) => (page === 0 ? abc : [...abc, 'ee']), 2);
    expect(after.seen).toEqual(['a', 'b', 'c', 'd', 'e', 'ee', 'f']);
    expect(after.changed).toEqual([false, false, false, false]);
    const before = readAll((page) => (page === 0 ? abc : [...abc, 'aa']), 2);
    expect(before.seen).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(before.changed).toEqual([false, true, false]);
  });

  it('resumes after the last item shown when that item is gone', () => {
    const p1 = pageByKey(entries(abc), { tool: 't_list', limit: 2 });
    const p2 = pageByKey(entries(abc.filter((n) => n !== 'b')), { tool: 't_list', limit: 2, cursor: p1.nextCursor });
    expect(names(p2.items)).toEqual(['c', 'd']);
    expect(p2.changed).toBe(true);
  });

  it('pages keys longer than a cursor holds, sharing a long start, and keeps cursors to 64 characters', () => {
    const long = 'x'.repeat(70);
    const keys = ['b', 'c', 'd', 'e', 'f'].map((s) => `${long}${s}`);
    const run = readAll(() => keys, 1);
    expect(run.seen).toEqual(keys);
    let cursor: string | undefined;
    for (let i = 0; i < 3; i++) {
      const p = pageByKey(entries(keys), { tool: 't_list', limit: 1, cursor });
      cursor = p.nextCursor;
      expect(cursor?.length).toBeLessThanOrEqual(64);
    }
    // The last one shown (d) is gone: the page may repeat keys with the same start, never skips one.
    const rest = pageByKey(entries(keys.filter((k) => !k.endsWith('d'))), { tool: 't_list', limit: 10, cursor });
    expect(names(rest.items)).toEqual(expect.arrayContaining([`${long}e`, `${long}f`]));
    expect(rest.changed).toBe(true);
  });

  it('cuts a key head on a character boundary', () => {
    const keys = Array.from({ length: 4 }, (_, i) => `${'é'.repeat(20)}${'😀'.repeat(3)}${i}`);
    expect(readAll(() => keys, 1).seen).toEqual(keys);
  });

  it('keeps cursors within 64 characters for keys of any shape', () => {
    const chars = ['a', 'Z', '\0', 'é', '😀', '\uFFFF', ' '];
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const keys = new Set<string>();
    while (keys.size < 60) {
      keys.add(Array.from({ length: rand() % 50 }, () => chars[rand() % chars.length]).join(''));
    }
    const list = [...keys];
    const { seen } = readAll(() => list, 7);
    expect(seen).toEqual(list.toSorted((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    let cursor: string | undefined;
    do {
      const p = pageByKey(entries(list), { tool: 't_list', limit: 3, cursor });
      cursor = p.nextCursor;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    } while (cursor);
  });

  it('stops at the byte budget, always giving one item', () => {
    const big = ['a', 'b', 'c'].map((n) => ({ key: n, item: { name: n, pad: 'p'.repeat(400) } }));
    const p = pageByKey(big, { tool: 't_list', maxBytes: 900 });
    expect(p.returned).toBe(2);
    const tiny = pageByKey(big, { tool: 't_list', maxBytes: 10 });
    expect(tiny.returned).toBe(1);
    expect(tiny.truncated).toBe(true);
  });

  it('refuses a cursor from another listing or tool, naming the tool', () => {
    const p = pageByKey(entries(abc), { tool: 't_list', limit: 2, bind: 'state=running' });
    expect(() =>
      pageByKey(entries(abc), { tool: 't_list', limit: 2, bind: 'state=exited', cursor: p.nextCursor }),
    ).toThrow(/another listing of t_list .*the page it came from, or omit it to start from the first page$/);
    expect(() => pageByKey(entries(abc), { tool: 'u_list', limit: 2, cursor: p.nextCursor })).toThrow(
      /another listing of u_list/,
    );
    const same = pageByKey(entries(abc), { tool: 't_list', limit: 2, bind: 'state=running', cursor: p.nextCursor });
    expect(names(same.items)).toEqual(['c', 'd']);
  });

  it('refuses malformed and tampered cursors with ERR_INVALID_INPUT', () => {
    const p = pageByKey(entries(abc), { tool: 't_list', limit: 2 });
    const raw = Buffer.from(p.nextCursor as string, 'base64url');
    raw[2] = (raw[2] as number) ^ 0xff; // the bind digest
    for (const cursor of [
      '!!',
      'x'.repeat(65),
      raw.toString('base64url'),
      Buffer.from('o:abc').toString('base64url'),
    ]) {
      let err: unknown;
      try {
        pageByKey(entries(abc), { tool: 't_list', limit: 2, cursor });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ToolError);
      expect((err as ToolError).code).toBe('ERR_INVALID_INPUT');
      expect((err as Error).message).toMatch(/t_list|omit it/);
    }
  });

  it("refuses the kit's offset cursor (it names no tool): another tool's page 2 read as this one's offset", () => {
    // pageList (still used by tools that page by offset) issues it: once read as a start index by any tool
    const other = pageList(['x', 'y', 'z', 'w', 'v'], { limit: 4 });
    for (const cursor of [other.nextCursor as string, encodeCursor(4)]) {
      expect(() => pageByKey(entries(abc), { tool: 't_list', limit: 2, cursor })).toThrow(
        /^cursor is an offset cursor .*which t_list does not read; omit it to start from the first page$/,
      );
    }
  });

  it("reads an offset cursor only through the tool's own legacyOffset, bound to its form", () => {
    const legacyOffset = (c: string) => {
      const m = /^t:(\d{1,9})$/.exec(Buffer.from(c, 'base64url').toString('utf8'));
      return m ? Number(m[1]) : undefined;
    };
    const own = Buffer.from('t:4').toString('base64url');
    const p = pageByKey(entries(abc), { tool: 't_list', limit: 2, cursor: own, legacyOffset });
    expect(names(p.items)).toEqual(['e', 'f']);
    expect(() => pageByKey(entries(abc), { tool: 't_list', limit: 2, cursor: encodeCursor(4), legacyOffset })).toThrow(
      /offset cursor/,
    );
    expect(() => pageByKey(entries(abc), { tool: 'u_list', limit: 2, cursor: own })).toThrow(/not one u_list issued/);
  });

  it('carries a state in the cursor, bound to the listing; an altered state is refused', () => {
    const state = Buffer.from([1, 2, 3, 4, 5, 6]);
    const long = ['k'.repeat(40), 'l'.repeat(40), 'm'.repeat(40)];
    const first = pageByKey(entries(long), { tool: 't_list', bind: 'b', limit: 1, state });
    const cursor = first.nextCursor as string;
    expect(cursor.length).toBeLessThanOrEqual(64);
    expect(cursorState(cursor, { tool: 't_list', bind: 'b' })).toEqual(state);
    const second = pageByKey(entries(long), { tool: 't_list', bind: 'b', limit: 1, state, cursor });
    expect(names(second.items)).toEqual([long[1]]);
    expect(second.changed).toBe(false);
    expect(cursorState(second.nextCursor, { tool: 't_list', bind: 'b' })).toEqual(state);
    // one bit of the state changed: refused by the reader and by pageByKey
    const raw = Buffer.from(cursor, 'base64url');
    raw[18] = (raw[18] as number) ^ 0x01;
    const altered = raw.toString('base64url');
    expect(() => cursorState(altered, { tool: 't_list', bind: 'b' })).toThrow(/another listing of t_list .*altered/);
    expect(() =>
      pageByKey(entries(long), { tool: 't_list', bind: 'b', limit: 1, state: raw.subarray(18, 24), cursor: altered }),
    ).toThrow(ToolError);
    // another listing, another tool
    expect(() => cursorState(cursor, { tool: 't_list', bind: 'c' })).toThrow(/another listing/);
    expect(() => cursorState(cursor, { tool: 'u_list', bind: 'b' })).toThrow(/another listing of u_list/);
    // a call that ignores the cursor's state is a bug in the tool, not a page of another window
    expect(() => pageByKey(entries(long), { tool: 't_list', bind: 'b', limit: 1, cursor })).toThrow(/state/);
    // a cursor without state (issued before) is still read, and has no state
    const plain = pageByKey(entries(long), { tool: 't_list', bind: 'b', limit: 1 }).nextCursor;
    expect(cursorState(plain, { tool: 't_list', bind: 'b' })).toBeUndefined();
    expect(
      names(pageByKey(entries(long), { tool: 't_list', bind: 'b', limit: 1, state, cursor: plain }).items),
    ).toEqual([long[1]]);
    expect(() => pageByKey(entries(long), { tool: 't_list', state: Buffer.alloc(17) })).toThrow(/over 16 bytes/);
  });

  it('pages every item once with a state and keys longer than the cursor holds', () => {
    const state = Buffer.alloc(16, 7);
    const keys = Array.from({ length: 30 }, (_, i) => `${'p'.repeat(30)}${String(i).padStart(3, '0')}`);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 40; i++) {
      const p = pageByKey(entries(keys), { tool: 't_list', limit: 7, state, cursor });
      seen.push(...names(p.items));
      if (!p.nextCursor) break;
      expect(p.nextCursor.length).toBeLessThanOrEqual(64);
      cursor = p.nextCursor;
    }
    expect(seen).toEqual(keys);
  });

  it('pages keys with lone surrogates without skipping one', () => {
    const keys = ['a\uD800b', 'a\uD800c', 'a\uFFFDa', 'a\uFFFDd', 'b'];
    const seen = readAll(() => keys, 1).seen;
    expect(seen).toHaveLength(keys.length);
    expect(new Set(seen).size).toBe(keys.length);
  });

  it('refuses two items with one key', () => {
    expect(() => pageByKey(entries(['a', 'a']), { tool: 't_list' })).toThrow(/same key/);
  });
});

describe('tupleKey', () => {
  it('sorts by parts in order, whatever the parts hold', () => {
    const tuples = [
      ['ab', 'a'],
      ['a', 'z'],
      ['a', ''],
      ['a\0', 'a'],
      ['', 'zz'],
      ['a\0b', ''],
    ];
    const sorted = tuples.toSorted((x, y) => {
      const a = tupleKey(...x);
      const b = tupleKey(...y);
      return a < b ? -1 : a > b ? 1 : 0;
    });
    expect(sorted).toEqual([
      ['', 'zz'],
      ['a', ''],
      ['a', 'z'],
      ['a\0', 'a'],
      ['a\0b', ''],
      ['ab', 'a'],
    ]);
    expect(tupleKey('a', 'b')).not.toBe(tupleKey('a\0', 'b'));
  });
});

describe('newestFirstKey', () => {
  it('sorts newer instants first, unparsable last', () => {
    const keys = [Date.parse('2020-01-01'), Date.parse('2026-12-07'), -1e12, Number.NaN].map(newestFirstKey);
    expect(keys.toSorted()).toEqual([keys[1], keys[0], keys[2], keys[3]]);
  });
});

describe('changedNote', () => {
  it('names the list and says how to start again', () => {
    expect(changedNote('The container list')).toMatch(/^The container list changed .*omit the cursor/);
  });
});
