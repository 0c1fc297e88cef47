import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who the work running here is for: the principal key of the tool call whose handler started it (the
 * subject, the key call admission counts by). `invokeTool` enters it around every handler, whichever
 * route ran the call (HTTP fast path, SDK server path, stdio, background tasks), so a backend client deep
 * inside a handler can share its slots fairly between callers without every call site passing a caller.
 * Work started outside any handler (startup probes, readiness, background refreshes) has no caller.
 */
const callers = new AsyncLocalStorage<string>();

/** Runs `fn` (and everything it starts) on behalf of the caller `key`. */
export function runAsCaller<T>(key: string, fn: () => T): T {
  return callers.run(key, fn);
}

/** The key of the caller the current work is for, or undefined outside any tool call. */
export function currentCaller(): string | undefined {
  return callers.getStore();
}
