import { describe, expect, it } from 'vitest';
import { decodeOffsetCursor, encodeOffsetCursor, fitPage } from './backend.js';
import { retryAfterSeconds } from './client.js';

describe('Retry-After', () => {
  it('reads delta-seconds and HTTP dates; ignores junk', () => {
    expect(retryAfterSeconds('7')).toBe(7);
    const now = Date.parse('2026-12-04T10:00:00Z');
    expect(retryAfterSeconds('Fri, 04 Dec 2026 10:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds('soon')).toBeUndefined();
    expect(retryAfterSeconds(null)).toBeUndefined();
  });
});

describe('paging cursors', () => {
  it('round-trip and refuse foreign cursors', () => {
    const c = encodeOffsetCursor({ page: 3, perPage: 20, skip: 4 });
    expect(decodeOffsetCursor(c)).toEqual({ page: 3, perPage: 20, skip: 4 });
    expect(() => decodeOffsetCursor('bm9wZQ')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });

  it('fitPage re-cuts a page to the byte budget and points the cursor into the same GitLab page', () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ i, pad: 'x'.repeat(100) }));
    const fitted = fitPage(
      { items, total: 25, nextCursor: encodeOffsetCursor({ page: 2, perPage: 10, skip: 0 }) },
      undefined,
      10,
      400,
    );
    expect(fitted.items.length).toBeLessThan(10);
    expect(fitted.truncated).toBe(true);
    expect(decodeOffsetCursor(fitted.nextCursor)).toEqual({ page: 1, perPage: 10, skip: fitted.items.length });
    const whole = fitPage({ items, total: 25 }, undefined, 10, 100_000);
    expect(whole).toMatchObject({ truncated: false, total: 25 });
    expect(whole.nextCursor).toBeUndefined();
  });
});
