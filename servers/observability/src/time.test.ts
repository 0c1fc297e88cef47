import { describe, expect, it } from 'vitest';
import { formatDuration, isoOfNanos, parseDuration, parseTime, resolveRange, toNanos } from './time.js';

const NOW = Date.parse('2026-01-31T12:00:00Z');

describe('parseDuration', () => {
  it('reads one number with one unit, or seconds', () => {
    expect(parseDuration('250ms')).toBe(0.25);
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('2h')).toBe(7200);
    expect(parseDuration('7d')).toBe(604_800);
    expect(parseDuration('1w')).toBe(604_800);
  });

  it('refuses what it cannot read, naming the field', () => {
    expect(() => parseDuration('1h30m', 'step')).toThrow(/^step: "1h30m" is not a duration/);
    expect(() => parseDuration('0s', 'range')).toThrow(/must be greater than zero/);
    expect(() => parseDuration('-5m')).toThrow(/not a duration/);
  });
});

describe('parseTime', () => {
  it('reads now, now-<duration>, RFC 3339 and Unix seconds', () => {
    expect(parseTime('now', 't', NOW)).toBe(NOW / 1000);
    expect(parseTime('now-15m', 't', NOW)).toBe(NOW / 1000 - 900);
    expect(parseTime('2026-01-31T11:00:00Z', 't', NOW)).toBe(NOW / 1000 - 3600);
    expect(parseTime('2026-01-31T13:00:00+02:00', 't', NOW)).toBe(NOW / 1000 - 3600);
    expect(parseTime('1769860800', 't', NOW)).toBe(1_769_860_800);
    expect(parseTime('1769860800.5', 't', NOW)).toBe(1_769_860_800.5);
  });

  it('refuses anything else', () => {
    for (const v of ['yesterday', '2026-13-45T00:00:00Z', '123', 'now+5m', 'now-'])
      expect(() => parseTime(v, 'start', NOW), v).toThrow(/^start: /);
  });
});

describe('resolveRange', () => {
  it('defaults end to now and start to a window before it', () => {
    expect(resolveRange(undefined, undefined, 3600, 86_400, NOW)).toEqual({
      start: NOW / 1000 - 3600,
      end: NOW / 1000,
    });
    expect(resolveRange(undefined, 'now-1h', 600, 86_400, NOW)).toEqual({
      start: NOW / 1000 - 4200,
      end: NOW / 1000 - 3600,
    });
  });

  it('refuses reversed and too-long ranges', () => {
    expect(() => resolveRange('now', 'now-1h', 3600, 86_400, NOW)).toThrow('start must be before end');
    expect(() => resolveRange('now-2d', undefined, 3600, 86_400, NOW)).toThrow(/spans 2d, more than the 1d allowed/);
  });
});

describe('nanosecond times', () => {
  it('keeps nanoseconds exact as strings', () => {
    expect(toNanos(1_769_860_800.123)).toBe('1769860800123000000');
    expect(isoOfNanos('1769860800123456789')).toBe('2026-01-31T12:00:00.123Z');
    expect(isoOfNanos('not-a-number')).toBe('not-a-number');
  });

  it('formats durations in the largest whole unit', () => {
    expect(formatDuration(0.25)).toBe('250ms');
    expect(formatDuration(5)).toBe('5s');
    expect(formatDuration(90)).toBe('90s');
    expect(formatDuration(120)).toBe('2m');
    expect(formatDuration(7200)).toBe('2h');
    expect(formatDuration(172_800)).toBe('2d');
  });
});
