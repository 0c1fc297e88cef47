import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { abortAfter } from './deadline.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('abortAfter', () => {
  it('aborts after the time with a TimeoutError, even through garbage collections', async () => {
    const parent = new AbortController();
    const signal = abortAfter(parent.signal, 150);
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    const reason = await new Promise((resolve) => {
      if (signal.aborted) resolve(signal.reason);
      signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
      setTimeout(() => resolve('never aborted'), 3_000).unref();
    });
    expect((reason as DOMException).name).toBe('TimeoutError');
    expect(parent.signal.aborted).toBe(false);
  });

  it("forwards the parent's abort and reason", () => {
    const parent = new AbortController();
    const signal = abortAfter(parent.signal, 60_000);
    parent.abort(new Error('caller went away'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('caller went away');
  });

  it('returns an already aborted parent as it is', () => {
    const parent = new AbortController();
    parent.abort();
    expect(abortAfter(parent.signal, 10)).toBe(parent.signal);
  });
});
