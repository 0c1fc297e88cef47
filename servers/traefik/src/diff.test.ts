import { describe, expect, it } from 'vitest';
import { lineDiff } from './diff.js';

describe('lineDiff', () => {
  it('marks removed, added and kept lines', () => {
    expect(lineDiff('a\nb\nc\n', 'a\nx\nc\n')).toBe(' a\n-b\n+x\n c');
    expect(lineDiff('', 'a\nb\n')).toBe('+a\n+b');
    expect(lineDiff('a\n', '')).toBe('-a');
    expect(lineDiff('same\n', 'same\n')).toBe(' same');
  });
});
