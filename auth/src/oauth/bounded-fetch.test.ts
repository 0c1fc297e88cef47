import { describe, expect, test } from 'vitest';
import { capResponse, ResponseTooLarge, readCappedBody } from './bounded-fetch.js';

/** A body of `chunkBytes`-byte chunks, `chunks` of them (Infinity: endless), recording what the reader did. */
function streamed(chunkBytes: number, chunks: number, headers: Record<string, string> = {}) {
  const seen = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (seen.pulled >= chunks) return controller.close();
      seen.pulled++;
      controller.enqueue(new Uint8Array(chunkBytes).fill(0x61));
    },
    cancel() {
      seen.cancelled = true;
    },
  });
  return { response: new Response(body, { status: 201, statusText: 'Made', headers }), seen };
}

describe('readCappedBody', () => {
  test('a body within the cap is read whole, and progress follows it', async () => {
    const { response } = streamed(100, 3);
    const progress = { bytes: 0 };
    const body = await readCappedBody(response, 300, { progress });
    expect(body.toString()).toBe('a'.repeat(300));
    expect(progress.bytes).toBe(300);
  });

  test('an endless body stops at the first chunk past the cap and the stream is cancelled', async () => {
    const { response, seen } = streamed(100, Number.POSITIVE_INFINITY);
    const progress = { bytes: 0 };
    const err = await readCappedBody(response, 250, { progress }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLarge);
    expect(progress.bytes).toBe(300);
    expect(seen.cancelled).toBe(true);
    // the stream may have queued one chunk ahead of the reader, no more
    expect(seen.pulled).toBeLessThanOrEqual(4);
  });

  test('a declared Content-Length over the cap is refused before a byte is read, with the caller error', async () => {
    const { response, seen } = streamed(100, 5, { 'content-length': '500' });
    const err = await readCappedBody(response, 499, {
      tooLarge: ({ declared }) => new Error(`declared ${declared}`),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('declared 500');
    expect(seen.cancelled).toBe(true);
  });
});

describe('capResponse', () => {
  test('keeps status and headers, with the body read', async () => {
    const { response } = streamed(10, 2, { 'x-kept': 'yes' });
    const capped = await capResponse(response, 20);
    expect([capped.status, capped.statusText, capped.headers.get('x-kept')]).toEqual([201, 'Made', 'yes']);
    expect(await capped.text()).toBe('a'.repeat(20));
  });

  test('past the cap it throws ResponseTooLarge', async () => {
    await expect(capResponse(streamed(10, 3).response, 20)).rejects.toBeInstanceOf(ResponseTooLarge);
  });
});
