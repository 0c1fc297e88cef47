/**
 * `signal`, also aborted after `ms` (a TimeoutError reason). Not AbortSignal.any over AbortSignal.timeout:
 * on Node 20 a timeout signal that only a composite refers to is garbage-collected with its timer (the
 * composite holds its sources weakly, nodejs/node#57736), and the composite then never aborts. The timer here
 * holds its controller until it fires or `signal` aborts; it keeps no process alive.
 */
export function abortAfter(signal: AbortSignal, ms: number): AbortSignal {
  if (signal.aborted) return signal;
  const timeout = new AbortController();
  const timer = setTimeout(
    () => timeout.abort(new DOMException(`no answer within ${Math.round(ms)} ms`, 'TimeoutError')),
    Math.max(0, ms),
  );
  timer.unref();
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return AbortSignal.any([signal, timeout.signal]);
}
