import { describe, expect, it } from 'vitest';
import { clipDiff, lineDiff } from './diff.js';

describe('lineDiff', () => {
  it('marks removed, added and kept lines', () => {
    expect(lineDiff('a\nb\nc\n', 'a\nx\nc\n')).toBe(' a\n-b\n+x\n c');
    expect(lineDiff('', 'a\nb\n')).toBe('+a\n+b');
    expect(lineDiff('a\n', '')).toBe('-a');
    expect(lineDiff('same\n', 'same\n')).toBe(' same');
  });
});

describe('clipDiff', () => {
  it('keeps a diff that fits, and cuts one that does not at whole lines, saying how much is left out', () => {
    const diff = Array.from({ length: 1000 }, (_, i) => `-"line" ${i}`).join('\n');
    expect(clipDiff(diff, 1_000_000)).toBe(diff);
    const cut = clipDiff(diff, 2000);
    expect(Buffer.byteLength(JSON.stringify(cut))).toBeLessThanOrEqual(2000);
    const lines = cut.split('\n');
    const kept = lines.length - 1;
    expect(lines.slice(0, kept)).toEqual(diff.split('\n').slice(0, kept));
    expect(kept).toBeGreaterThan(100);
    expect(lines.at(-1)).toBe(`... ${1000 - kept} more lines not shown (diff cut at 2000 bytes)`);
  });
});
