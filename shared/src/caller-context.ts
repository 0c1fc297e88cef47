import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who the work running here is for: the principal key of the tool call whose handler started it (the
 * subject, the key call admission counts by). `invokeTool` enters it around every handler, whichever
 * route ran the call (HTTP fast path, SDK server path, stdio, background tasks), so a backend client deep
 * inside a handler can share its slots fairly between callers without every call site passing a caller.
 * Work started outside any handler (startup probes, readiness, background refreshes) has no caller.
 *
 * Cost: on Node 20 and 22 an entered AsyncLocalStorage makes every promise in the process pay for its
 * hooks (a no-op tool call over HTTP lost ~15-20% of its throughput in `npm run bench -- throughput`,
 * see docs/performance.md). Who a call is for only matters once calls wait for a backend slot, so
 * invokeTool enters the caller only after some backend queue has formed in this process (`noteQueued`);
 * until then nothing is paid, and the calls in flight when the first queue forms count as having no caller.
 */
const callers = new AsyncLocalStorage<string>();
let queuedOnce = false;

/** Runs `fn` (and everything it starts) on behalf of the caller `key`. */
export function runAsCaller<T>(key: string, fn: () => T): T {
  return callers.run(key, fn);
}

/** `runAsCaller` once some backend queue has formed in this process; before that, `fn` as it is. */
export function runAsCallerWhenQueuing<T>(key: string, fn: () => T): T {
  return queuedOnce ? callers.run(key, fn) : fn();
}

/** Called when a call first waits for a backend slot: from now on tool calls carry their caller. */
export function noteQueued(): void {
  queuedOnce = true;
}

/** The key of the caller the current work is for, or undefined outside any tool call. */
export function currentCaller(): string | undefined {
  return callers.getStore();
}
