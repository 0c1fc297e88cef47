// Error lines about audit records that could not be written or shipped, bounded: a full disk or a dead
// collector under many calls must not flood the server's log, and no failure may go uncounted.

/** How often a repeated failure is logged again, with how many happened since its last line. */
export const AUDIT_LOG_EVERY_MS = 10_000;

export interface LineLimiter<F> {
  /** One more failure: `fields` describe it (the latest one is logged), `counts` are summed per key. */
  note(fields: F, counts: Record<string, number>): void;
  /** Logs the failures held back so far (at shutdown): the counts of all lines add up to every failure. */
  flush(): void;
}

/**
 * The first failure after a quiet interval is logged at once; the ones that follow within `intervalMs` of
 * the last line are held and logged as one line when the interval ends (a timer that does not keep the
 * process alive: call flush() before exit), with the counts summed and the latest failure's fields. So
 * n failures give at most one line per interval plus one, and their counts add up to n.
 */
export function limitLines<F>(
  intervalMs: number,
  emit: (fields: F, counts: Record<string, number>) => void,
): LineLimiter<F> {
  let lastAt = Number.NEGATIVE_INFINITY;
  let held: { fields: F; counts: Record<string, number> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const send = (fields: F, counts: Record<string, number>) => {
    lastAt = Date.now();
    try {
      emit(fields, counts);
    } catch {
      // a failing logger must not reach the writers
    }
  };
  const release = () => {
    clearTimeout(timer);
    timer = undefined;
    const h = held;
    held = undefined;
    if (h) send(h.fields, h.counts);
  };
  return {
    note(fields, counts) {
      const now = Date.now();
      if (!held && now - lastAt >= intervalMs) {
        send(fields, { ...counts });
        return;
      }
      if (held) {
        held.fields = fields;
        for (const [k, v] of Object.entries(counts)) held.counts[k] = (held.counts[k] ?? 0) + v;
      } else held = { fields, counts: { ...counts } };
      if (!timer) {
        timer = setTimeout(release, Math.max(0, lastAt + intervalMs - now));
        timer.unref();
      }
    },
    flush: release,
  };
}
