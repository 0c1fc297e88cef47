import { describe, expect, it } from 'vitest';
import { currentCaller, runAsCaller, runAsCallerWhenQueuing } from './caller-context.js';
import { Semaphore } from './semaphore.js';

/** Queues one waiter for `key`; `order` records who was granted a slot, in order. */
function queue(s: Semaphore, key: string | undefined, label: string, order: string[], signal?: AbortSignal) {
  return s.acquire(signal, key).then((release) => {
    order.push(label);
    return release;
  });
}

const settle = () => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  // First in this file: the process has not queued a call yet.
  it('tool calls carry their caller once a backend queue has formed in the process, not before', async () => {
    expect(runAsCallerWhenQueuing('A', () => currentCaller())).toBeUndefined();
    const s = new Semaphore(1);
    const held = await s.acquire();
    expect(runAsCallerWhenQueuing('A', () => currentCaller())).toBeUndefined();
    const waiter = s.acquire();
    expect(runAsCallerWhenQueuing('A', () => currentCaller())).toBe('A');
    held();
    (await waiter)();
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new Semaphore(0)).toThrow(/integer >= 1, not 0/);
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });

  it('grants the next free slot to a caller with one waiter before a caller with twenty', async () => {
    const s = new Semaphore(2);
    const order: string[] = [];
    const held = [await s.acquire(undefined, 'A'), await s.acquire(undefined, 'A')];
    const a = Array.from({ length: 20 }, (_, i) => queue(s, 'A', `A${i}`, order));
    const b = queue(s, 'B', 'B0', order);
    expect(s.waiting).toBe(21);
    (held[0] as () => void)();
    await settle();
    // FIFO would serve A0 (queued first); the fair queue serves B, who holds no slot
    expect(order).toEqual(['B0']);
    (held[1] as () => void)();
    await settle();
    expect(order).toEqual(['B0', 'A0']);
    // drain: A's waiters in their own order
    (await b)();
    for (const p of a) (await p)();
    expect(order).toEqual(['B0', ...Array.from({ length: 20 }, (_, i) => `A${i}`)]);
    expect(s.active).toBe(0);
    expect(s.waiting).toBe(0);
  });

  it('gives a freed slot to the caller holding the fewest, ties to the longest waiting', async () => {
    const s = new Semaphore(3);
    const order: string[] = [];
    const a1 = await s.acquire(undefined, 'A');
    const a2 = await s.acquire(undefined, 'A');
    const b1 = await s.acquire(undefined, 'B');
    const c = queue(s, 'C', 'C', order); // holds 0
    const a = queue(s, 'A', 'A', order); // holds 2
    const b = queue(s, 'B', 'B', order); // holds 1
    a1(); // A now holds 1, B 1, C 0: C
    await settle();
    expect(order).toEqual(['C']);
    b1(); // A 1, B 0, C 1: B
    await settle();
    expect(order).toEqual(['C', 'B']);
    (await c)(); // A 1 with a waiter: A
    await settle();
    expect(order).toEqual(['C', 'B', 'A']);
    a2();
    (await a)();
    (await b)();
    expect(s.active).toBe(0);
  });

  it('breaks a tie between callers by who has waited longest', async () => {
    const s = new Semaphore(1);
    const order: string[] = [];
    const first = await s.acquire(undefined, 'X');
    const later = [queue(s, 'B', 'B', order), queue(s, 'A', 'A', order)];
    first();
    await settle();
    expect(order).toEqual(['B']);
    (await (later[0] as Promise<() => void>))();
    (await (later[1] as Promise<() => void>))();
    expect(order).toEqual(['B', 'A']);
  });

  it('is work-conserving: a caller alone gets every slot, and a freed slot never idles while one waits', async () => {
    const s = new Semaphore(4);
    const releases = await Promise.all(Array.from({ length: 4 }, () => s.acquire(undefined, 'A')));
    expect(s.active).toBe(4);
    const order: string[] = [];
    const more = Array.from({ length: 3 }, (_, i) => queue(s, 'A', `A${i}`, order));
    for (const r of releases.slice(0, 3)) r();
    await settle();
    // every freed slot went to the lone caller's next waiter, even though it already holds the most
    expect(order).toEqual(['A0', 'A1', 'A2']);
    expect(s.active).toBe(4);
    expect(s.waiting).toBe(0);
    (releases[3] as () => void)();
    for (const p of more) (await p)();
    expect(s.active).toBe(0);
  });

  it('serves one caller first in, first out', async () => {
    const s = new Semaphore(1);
    const order: string[] = [];
    const first = await s.acquire(undefined, 'A');
    const waiters = Array.from({ length: 5 }, (_, i) => queue(s, 'A', `A${i}`, order));
    first();
    for (const p of waiters) (await p)();
    expect(order).toEqual(['A0', 'A1', 'A2', 'A3', 'A4']);
  });

  it('takes an aborted waiter out of the queue at once, and its caller no longer counts as waiting', async () => {
    const s = new Semaphore(1);
    const order: string[] = [];
    const held = await s.acquire(undefined, 'A');
    const ac = new AbortController();
    const gone = queue(s, 'B', 'B', order, ac.signal);
    const a = queue(s, 'A', 'A', order);
    expect(s.waiting).toBe(2);
    ac.abort(new Error('caller left'));
    await expect(gone).rejects.toThrow('caller left');
    expect(s.waiting).toBe(1);
    held();
    (await a)();
    expect(order).toEqual(['A']);
    expect(s.active).toBe(0);
    // an already aborted signal is refused before it queues
    await expect(s.acquire(AbortSignal.abort(new Error('late')), 'C')).rejects.toThrow('late');
    expect(s.waiting).toBe(0);
  });

  it('puts calls with no caller in a group of their own', async () => {
    const s = new Semaphore(2);
    const order: string[] = [];
    const held = [await s.acquire(undefined, 'A'), await s.acquire(undefined, 'A')];
    const a = Array.from({ length: 3 }, (_, i) => queue(s, 'A', `A${i}`, order));
    const probe = queue(s, undefined, 'probe', order);
    (held[0] as () => void)();
    await settle();
    // A still holds one slot, the probes none: A's waiters, queued first, do not come before
    expect(order).toEqual(['probe']);
    (held[1] as () => void)();
    (await probe)();
    for (const p of a) (await p)();
    expect(order).toEqual(['probe', 'A0', 'A1', 'A2']);
  });

  it('reads the caller from the tool call running here when no key is given', async () => {
    const s = new Semaphore(2);
    const order: string[] = [];
    expect(currentCaller()).toBeUndefined();
    const held = await runAsCaller('A', () => Promise.all([s.acquire(), s.acquire()]));
    const a = runAsCaller('A', () =>
      Promise.all(
        Array.from({ length: 3 }, (_, i) =>
          s.acquire().then((release) => {
            order.push(`A${i}`);
            release();
          }),
        ),
      ),
    );
    // the caller follows the work across awaits
    const b = runAsCaller('B', async () => {
      await settle();
      expect(currentCaller()).toBe('B');
      const r = await s.acquire();
      order.push('B');
      return r;
    });
    await settle();
    expect(s.waiting).toBe(4);
    (held[0] as () => void)();
    await settle();
    expect(order).toEqual(['B']);
    (held[1] as () => void)();
    (await b)();
    await a;
    expect(order).toEqual(['B', 'A0', 'A1', 'A2']);
    expect(s.active).toBe(0);
  });

  it('releases once however often release is called', async () => {
    const s = new Semaphore(2);
    const r = await s.acquire(undefined, 'A');
    r();
    r();
    expect(s.active).toBe(0);
    const again = await Promise.all([s.acquire(undefined, 'A'), s.acquire(undefined, 'B')]);
    expect(s.active).toBe(2);
    for (const x of again) x();
  });
});
