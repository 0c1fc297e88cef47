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

/** Seconds in a duration such as "90s", "15m", "1h30m" is not accepted: one number, one unit. */
export function parseDuration(value: string, field = 'duration'): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(value.trim());
  if (!m) {
    throw new ToolError('ERR_INVALID_INPUT', `${field}: "${value}" is not a duration like "30s", "5m", "1h" or "7d"`);
  }
  const seconds = Number(m[1]) * UNIT_SECONDS[(m[2] ?? 's') as keyof typeof UNIT_SECONDS];
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new ToolError('ERR_INVALID_INPUT', `${field}: "${value}" must be greater than zero`);
  }
  return seconds;
}

/** Unix seconds (with milliseconds) for "now", "now-15m", RFC 3339 or Unix seconds. */
export function parseTime(value: string, field: string, nowMs = Date.now()): number {
  const v = value.trim();
  if (v === 'now') return nowMs / 1000;
  const rel = /^now-(.+)$/.exec(v);
  if (rel) return nowMs / 1000 - parseDuration(rel[1] as string, field);
  if (/^\d{9,11}(\.\d+)?$/.test(v)) return Number(v);
  if (/^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t / 1000;
  }
  throw new ToolError(
    'ERR_INVALID_INPUT',
    `${field}: "${value}" is not a time; use "now", "now-1h", an RFC 3339 time like "2026-01-31T12:00:00Z" or Unix seconds`,
  );
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
  const s = start === undefined ? e - defaultWindowSeconds : parseTime(start, 'start', nowMs);
  if (s >= e) throw new ToolError('ERR_INVALID_INPUT', 'start must be before end');
  if (e - s > maxWindowSeconds) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `the range spans ${formatDuration(e - s)}, more than the ${formatDuration(maxWindowSeconds)} allowed; shorten it`,
    );
  }
  return { start: s, end: e };
}

/** Unix nanoseconds as a decimal string (Loki's time format), exact to the millisecond. */
export function toNanos(seconds: number): string {
  return (BigInt(Math.round(seconds * 1000)) * 1_000_000n).toString();
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
