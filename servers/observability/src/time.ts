import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';

const UNIT_SECONDS = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

export const TimeInput = z.string().min(1).max(40).describe('now-15m, RFC 3339 or Unix s');

/** A range's start, its default said once with the formats (e.g. "now-1h": that long before end). */
export const startInput = (defaultStart: string) =>
  TimeInput.optional().describe(`Default ${defaultStart}; RFC 3339, Unix s`);
export const EndInput = TimeInput.optional().describe('Default now');

export const DurationInput = z
  .string()
  .min(1)
  .max(20)
  .regex(/^(\d+(\.\d+)?(ms|s|m|h|d|w)|\d+(\.\d+)?)$/, 'must be a duration like "30s", "5m", "1h", "7d" or seconds')
  .describe('e.g. 30s, 5m, 1h');

/** Longest duration read: far beyond any range or step a backend serves, far within its int64 nanoseconds. */
const MAX_DURATION_SECONDS = 100 * 365.25 * 86_400;

/**
 * Times are refused outside 1970-01-01 .. 2262-04-11: Loki and Tempo take Unix nanoseconds as int64, which
 * ends in April 2262, and a time before the epoch is never what a query about telemetry meant.
 */
const MIN_TIME_SECONDS = 0;
const MAX_TIME_SECONDS = Math.floor(Number(2n ** 63n / 1_000_000_000n) / 86_400) * 86_400;

/**
 * Seconds in a duration a backend printed as a sum of parts ("30d1h", "168h0m0s"): `units` maps each suffix to
 * its seconds, `number` is the pattern of one part's number. Undefined when `text` is not of that form.
 */
export function sumOfParts(text: string, units: Readonly<Record<string, number>>, number = '\\d+'): number | undefined {
  // longest suffix first, so "ms" is not read as "m" followed by "s"
  const suffix = Object.keys(units)
    .sort((a, b) => b.length - a.length)
    .join('|');
  const part = `(${number})(${suffix})`;
  if (!new RegExp(`^(?:${part})+$`).test(text)) return undefined;
  let seconds = 0;
  for (const m of text.matchAll(new RegExp(part, 'g'))) seconds += Number(m[1]) * (units[m[2] as string] as number);
  return seconds;
}

/** Seconds in a duration such as "90s", "15m", "1h30m" is not accepted: one number, one unit. */
export function parseDuration(value: string, field = 'duration'): number {
  return readDuration(value, field, MAX_DURATION_SECONDS);
}

/** A relative time's offset is bounded by the time it gives (not before 1970), said with the whole value. */
function readDuration(value: string, field: string, maxSeconds: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(value.trim());
  if (!m) {
    throw new ToolError('ERR_INVALID_INPUT', `${field}: "${value}" is not a duration like "30s", "5m", "1h" or "7d"`);
  }
  const seconds = Number(m[1]) * UNIT_SECONDS[(m[2] ?? 's') as keyof typeof UNIT_SECONDS];
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new ToolError('ERR_INVALID_INPUT', `${field}: "${value}" must be greater than zero`);
  }
  if (seconds > maxSeconds) {
    throw new ToolError('ERR_INVALID_INPUT', `${field}: "${value}" is longer than 100 years`);
  }
  return seconds;
}

/**
 * RFC 3339 as agents write it: `T` (or `t`) between date and time, seconds and fraction optional, and an
 * offset (`Z`, `+02:00`); without one the time is UTC, never the server's own zone.
 */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

/** Unix seconds of an RFC 3339 time, or undefined when a part is out of range (30 February, 25:00). */
function rfc3339Seconds(v: string): number | undefined {
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (m[9]) {
    const [oh, om] = [Number(m[10]), Number(m[11])];
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Date.UTC reads years 0..99 as 1900..1999; setUTCFullYear does not
  const at = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  at.setUTCFullYear(year);
  return at.getTime() / 1000 + Number(m[7] ?? 0) - offsetMinutes * 60;
}

/** Unix seconds (with milliseconds) for "now", "now-15m", RFC 3339 or Unix seconds. */
export function parseTime(value: string, field: string, nowMs = Date.now()): number {
  const v = value.trim();
  let seconds: number | undefined;
  const rel = /^now-(.+)$/.exec(v);
  if (v === 'now') seconds = nowMs / 1000;
  else if (rel) seconds = nowMs / 1000 - readDuration(rel[1] as string, field, Number.POSITIVE_INFINITY);
  else if (/^\d{9,11}(\.\d+)?$/.test(v)) seconds = Number(v);
  else if (/^\d{4}-\d{2}-\d{2}T/i.test(v)) {
    seconds = rfc3339Seconds(v);
    if (seconds === undefined) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `${field}: "${value}" is not a valid RFC 3339 time (a date or clock part is out of range, or the form is wrong); write it like "2026-01-31T12:00:00Z" (a time without an offset is read as UTC)`,
      );
    }
  }
  if (seconds === undefined) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `${field}: "${value}" is not a time; use "now", "now-1h", an RFC 3339 time like "2026-01-31T12:00:00Z" or Unix seconds`,
    );
  }
  if (seconds < MIN_TIME_SECONDS || seconds > MAX_TIME_SECONDS) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `${field}: "${value}" is ${seconds < MIN_TIME_SECONDS ? 'before 1970-01-01T00:00:00Z' : `after ${new Date(MAX_TIME_SECONDS * 1000).toISOString()}`}; give a time between the two`,
    );
  }
  return seconds;
}

/** Resolves start/end (end defaults to now, start to `defaultWindow` before end) and checks their order. */
export function resolveRange(
  start: string | undefined,
  end: string | undefined,
  defaultWindowSeconds: number,
  maxWindowSeconds: number,
  nowMs = Date.now(),
): { start: number; end: number } {
  const e = end === undefined ? nowMs / 1000 : parseTime(end, 'end', nowMs);
  // the default window stops at the epoch: an early end gets a shorter window, not a negative start
  const s =
    start === undefined ? Math.max(MIN_TIME_SECONDS, e - defaultWindowSeconds) : parseTime(start, 'start', nowMs);
  if (s >= e) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      start === undefined ? `end: "${end}" must be after 1970-01-01T00:00:00Z` : 'start must be before end',
    );
  }
  if (e - s > maxWindowSeconds) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `the range spans ${formatDuration(e - s)}, more than the ${formatDuration(maxWindowSeconds)} allowed; shorten it`,
    );
  }
  return { start: s, end: e };
}

/**
 * Milliseconds of a time a backend wrote (RFC 3339, any offset, any fraction), for ordering: backends keep the
 * offset each sender used, so the text does not sort in time order. One that does not parse sorts as oldest.
 */
export function instantOf(time: string | undefined): number {
  const ms = time === undefined ? Number.NaN : Date.parse(time);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/** Unix nanoseconds as a decimal string (Loki's time format), exact to the millisecond. */
export function toNanos(seconds: number): string {
  return (BigInt(Math.round(seconds * 1000)) * 1_000_000n).toString();
}

/**
 * Unix nanoseconds of a time as it was written: exact for an RFC 3339 time with a fraction (up to 9 digits,
 * as `isoOfNanosExact` writes it), else `toNanos` of its seconds. `seconds` is what parseTime read from it.
 */
export function nanosOf(value: string | undefined, seconds: number): string {
  const fraction = value === undefined ? undefined : RFC3339.exec(value.trim())?.[7];
  if (fraction === undefined) return toNanos(seconds);
  const whole = Math.round(seconds - Number(fraction)); // the whole second it falls in, offset applied
  return (BigInt(whole) * 1_000_000_000n + BigInt(fraction.slice(1).padEnd(9, '0'))).toString();
}

/** RFC 3339 (UTC) with all nine fraction digits: a bound that `nanosOf` reads back exactly. */
export function isoOfNanosExact(ns: string): string {
  const n = BigInt(ns);
  const whole = n / 1_000_000_000n;
  return `${new Date(Number(whole) * 1000).toISOString().slice(0, 19)}.${(n - whole * 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

export function isoOfNanos(ns: string | number): string {
  try {
    return new Date(Number(BigInt(String(ns)) / 1_000_000n)).toISOString();
  } catch {
    return String(ns);
  }
}

export function formatDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && Number.isInteger(seconds / size)) return `${seconds / size}${unit}`;
  }
  return `${Number(seconds.toFixed(3))}s`;
}
