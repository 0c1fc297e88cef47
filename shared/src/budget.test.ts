import { describe, expect, it } from 'vitest';
import { clipTail, decodeCursor, pageList } from './budget.js';

describe('pageList', () => {
  const items = Array.from({ length: 50 }, (_, i) => ({ id: i, name: `item-${i}`.padEnd(40, 'x') }));

  it('stops at the byte budget and says how to continue', () => {
    const page = pageList(items, { maxBytes: 600 });
    expect(page.truncated).toBe(true);
    expect(page.total).toBe(50);
    expect(page.returned).toBe(page.items.length);
    expect(JSON.stringify(page.items).length).toBeLessThanOrEqual(600);
    const next = pageList(items, { maxBytes: 600, cursor: page.nextCursor });
    expect(next.items[0]).toEqual(items[page.returned]);
  });

  it('returns everything without a cursor when it fits', () => {
    const page = pageList(items.slice(0, 3), { maxBytes: 10_000 });
    expect(page).toMatchObject({ total: 3, returned: 3, truncated: false });
    expect(page.nextCursor).toBeUndefined();
  });

  it('refuses a forged cursor', () => {
    expect(() => decodeCursor('bm9wZQ')).toThrow(/cursor/);
  });
});

describe('clipTail', () => {
  it('keeps whole trailing lines', () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n');
    const clipped = clipTail(text, 50);
    expect(clipped.truncated).toBe(true);
    expect(clipped.text.endsWith('line 99')).toBe(true);
    expect(clipped.text.startsWith('line ')).toBe(true);
  });
});
