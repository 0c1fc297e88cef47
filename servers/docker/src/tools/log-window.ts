import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';

const TimeBound = z.string().min(1).max(40);
export const Since = TimeBound.describe('Newer than: "15m", "2h", "1d" or ISO-8601');
export const Until = TimeBound.describe('Older than (same forms); tail counts back from it');

/** Parses a time bound into Unix seconds, or throws ERR_INVALID_INPUT saying which forms are accepted. */
export function parseSince(value: string | undefined, now = Date.now(), field = 'since'): number | undefined {
  if (value === undefined) return undefined;
  const rel = /^(\d{1,6})(s|m|h|d)$/.exec(value.trim());
  if (rel) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return Math.floor(now / 1000) - Number(rel[1]) * unit;
  }
  const t = Date.parse(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(t)) return Math.floor(t / 1000);
  throw new ToolError(
    'ERR_INVALID_INPUT',
    `${field}: "${value}" is neither a duration like "15m" / "2h" nor an ISO-8601 time like "2026-01-31T12:00:00Z"`,
  );
}

/**
 * A time bound as the engine is asked for it and as lines are compared with it. The engine's since and
 * until are inclusive and take "seconds.fraction"; `engine` widens the bound to the millisecond around
 * it (a Number cannot hold nanoseconds at today's epoch), and `key` (timestampKey form, nanoseconds) is
 * the exact bound every line is then checked against: since keeps lines at or after it, until keeps
 * lines strictly before it, so paging back with the oldest timestamp shown repeats and skips nothing.
 */
export interface TimeBound {
  engine: number;
  key: string;
}

const ISO_NANO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Parses a time bound keeping the nanoseconds an ISO string carries (Date.parse keeps milliseconds). */
export function parseBound(
  value: string | undefined,
  side: 'since' | 'until',
  now = Date.now(),
): TimeBound | undefined {
  if (value === undefined) return undefined;
  const m = ISO_NANO.exec(value.trim());
  let wholeMs = m ? Date.parse(`${m[1]}${(m[3] as string).toUpperCase()}`) : Number.NaN;
  let fraction = (m?.[2] ?? '').padEnd(9, '0');
  if (!Number.isFinite(wholeMs)) {
    const ms = boundMillis(value, now, side);
    wholeMs = Math.floor(ms / 1000) * 1000;
    fraction = String(ms - wholeMs)
      .padStart(3, '0')
      .padEnd(9, '0');
  }
  const key = `${new Date(wholeMs).toISOString().slice(0, 19)}.${fraction}`;
  const ms = wholeMs + Number(fraction.slice(0, 3));
  const beyondMs = Number(fraction.slice(3)) > 0;
  return { key, engine: (side === 'until' && beyondMs ? ms + 1 : ms) / 1000 };
}

/**
 * A since or until value in milliseconds: relative bounds count back from now to the millisecond, ISO times
 * are what Date.parse keeps (to the millisecond). Throws the usual message for any other form.
 */
export function boundMillis(value: string, now: number, side: 'since' | 'until'): number {
  const seconds = parseSince(value, now, side) as number; // throws the usual message
  return /^\d{4}-/.test(value.trim()) ? Date.parse(value) : now - (Math.floor(now / 1000) - seconds) * 1000;
}

/** Parses since and until together; until must come after since. */
export function parseWindow(
  input: { since?: string | undefined; until?: string | undefined },
  now = Date.now(),
): { since: TimeBound | undefined; until: TimeBound | undefined } {
  const since = parseBound(input.since, 'since', now);
  const until = parseBound(input.until, 'until', now);
  if (since !== undefined && until !== undefined && until.key <= since.key) {
    throw new ToolError('ERR_INVALID_INPUT', `until (${input.until}) must be later than since (${input.since})`);
  }
  return { since, until };
}
