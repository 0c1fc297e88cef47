import { describe, expect, it } from 'vitest';
import { clipHead, clipHeadJson, clipTail, clipTailJson, decodeCursor, pageList } from './budget.js';

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

describe('clipHead and clipTail on one long line', () => {
  it('cut between characters, never inside one (no U+FFFD from a split character)', () => {
    const text = `${'€'.repeat(40)}🐳${'é'.repeat(40)}`; // 3-, 4- and 2-byte characters, no line break
    for (let max = 1; max < Buffer.byteLength(text); max++) {
      const head = clipHead(text, max).text;
      const tail = clipTail(text, max).text;
      expect(text.startsWith(head), `head ${max}`).toBe(true);
      expect(text.endsWith(tail), `tail ${max}`).toBe(true);
      expect(Buffer.byteLength(head)).toBeLessThanOrEqual(max);
      expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(max);
      // at most one character is given up to the cut
      expect(Buffer.byteLength(head)).toBeGreaterThan(max - 4);
      expect(Buffer.byteLength(tail)).toBeGreaterThan(max - 4);
    }
  });
});

describe('clipHeadJson and clipTailJson', () => {
  const json = (t: string) => Buffer.byteLength(JSON.stringify(t));
  // lines whose JSON form is up to 6 times their size, unevenly: a quote 2 bytes, a control character 6
  const text = Array.from({ length: 40 }, (_, i) => `${i} "${'\u0001'.repeat(i * 20)}" \\ ok`).join('\n');

  it('keep the largest head or tail whose JSON fits, within the byte cap too', () => {
    for (const [clip, keep] of [
      [clipHeadJson, (t: string) => text.startsWith(t)],
      [clipTailJson, (t: string) => text.endsWith(t)],
    ] as const) {
      for (const maxJson of [300, 4_000, 20_000]) {
        const out = clip(text, 100_000, maxJson);
        expect(json(out.text)).toBeLessThanOrEqual(maxJson);
        expect(keep(out.text)).toBe(true);
        expect(out.truncated).toBe(true);
        expect(out.totalBytes).toBe(Buffer.byteLength(text));
        // the next longer cut would not fit: nothing was given away
        const longer = clip(text, Buffer.byteLength(out.text) + 1, Number.MAX_SAFE_INTEGER).text;
        if (longer.length > out.text.length) expect(json(longer)).toBeGreaterThan(maxJson);
      }
      // the byte cap still applies when the JSON has room
      const capped = clip(text, 500, 1_000_000);
      expect(Buffer.byteLength(capped.text)).toBeLessThanOrEqual(500);
      // small text is left alone
      expect(clip('a\nb', 100, 100)).toEqual({ text: 'a\nb', truncated: false, totalBytes: 3 });
    }
  });
});
