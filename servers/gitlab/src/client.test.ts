import { describe, expect, it } from 'vitest';
import { decodeOffsetCursor, encodeOffsetCursor, fitPage, toToolError } from './backend.js';
import { GitLabHttpError, GitLabNetworkError, retryAfterSeconds } from './client.js';

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

describe('GitLab status -> tool error', () => {
  const map = (status: number, message = 'msg', retryAfter?: number, attempts = 1) =>
    toToolError(new GitLabHttpError(status, message, retryAfter, attempts), 'issue #3 of "a/b"', 'http://gl', 1000);

  it('gives each documented status a stable code and a message that says what to do', () => {
    expect(map(400)).toMatchObject({
      code: 'ERR_INVALID_INPUT',
      message: expect.stringMatching(/rejected.*GitLab said: msg/),
    });
    expect(map(401)).toMatchObject({
      code: 'ERR_BACKEND_ERROR',
      message: expect.stringMatching(/renew GITLAB_TOKEN_FILE/),
    });
    expect(map(403)).toMatchObject({
      code: 'ERR_NOT_ALLOWED',
      message: expect.stringMatching(/higher role or the api scope/),
    });
    expect(map(404)).toMatchObject({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/cannot see it/) });
    expect(map(409)).toMatchObject({ code: 'ERR_CONFLICT' });
    expect(map(422)).toMatchObject({ code: 'ERR_INVALID_INPUT', message: expect.stringMatching(/could not process/) });
    expect(map(429, '', 30, 3)).toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/retry after 30 s \(tried 3 times\)/),
      details: { status: 429, retryAfterSeconds: 30 },
    });
    expect(map(503)).toMatchObject({ code: 'ERR_BACKEND_UNAVAILABLE' });
    expect(map(418)).toMatchObject({ code: 'ERR_BACKEND_ERROR' });
  });

  it('network failures name the URL and the setting to check', () => {
    const down = toToolError(new GitLabNetworkError('unreachable', 'ECONNREFUSED'), 'x', 'http://gl', 1000);
    expect(down).toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/unreachable at http:\/\/gl \(ECONNREFUSED\).*GITLAB_URL/),
    });
    const slow = toToolError(new GitLabNetworkError('timeout', 'no answer'), 'x', 'http://gl', 1000);
    expect(slow).toMatchObject({ code: 'ERR_BACKEND_TIMEOUT', message: expect.stringMatching(/within 1000 ms/) });
    expect(toToolError(new GitLabNetworkError('cancelled', ''), 'x', 'u', 1).code).toBe('ERR_CANCELLED');
  });
});
