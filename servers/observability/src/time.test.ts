import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  isoOfNanos,
  isoOfNanosExact,
  nanosOf,
  parseDuration,
  parseTime,
  resolveRange,
  sumOfParts,
  toNanos,
} from './time.js';

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

  it('refuses dates and clock times that do not exist instead of rolling them over', () => {
    for (const v of [
      '2026-02-30T00:00:00Z',
      '2026-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-31T25:00:00Z',
      '2026-01-31T12:60:00Z',
      '2026-01-31T12:00:00+25:00',
      '2026-01-31T12:00:00 foo',
      '2026-01-31Tx',
    ])
      expect(() => parseTime(v, 'time', NOW), v).toThrow(/^time: .* is not a valid RFC 3339 time/);
    expect(parseTime('2024-02-29T00:00:00Z', 't', NOW)).toBe(Date.UTC(2024, 1, 29) / 1000);
  });

  it('reads a time without an offset as UTC, whatever the server time zone', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(new Date(Date.UTC(2026, 0, 31, 12)).getHours()).toBe(7); // the zone did change
      expect(parseTime('2026-01-31T12:00:00', 't', NOW)).toBe(NOW / 1000);
      expect(parseTime('2026-01-31T12:00', 't', NOW)).toBe(NOW / 1000);
      expect(parseTime('2026-03-08T02:30:00', 't', NOW)).toBe(Date.UTC(2026, 2, 8, 2, 30) / 1000);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    expect(parseTime('2026-01-31t12:00:00.250z', 't', NOW)).toBe(NOW / 1000 + 0.25);
    expect(parseTime('2026-01-31T13:30:00+01:30', 't', NOW)).toBe(NOW / 1000);
  });

  it('refuses times before 1970 or past what Loki and Tempo can hold (int64 nanoseconds, 2262)', () => {
    expect(() => parseTime('now-999999999999999w', 'time', NOW)).toThrow(
      /^time: "now-999999999999999w" is before 1970-01-01T00:00:00Z/,
    );
    expect(() => parseTime('now-60y', 'time', NOW)).toThrow(/not a duration/);
    expect(() => parseTime('now-3000w', 'time', NOW)).toThrow(/before 1970/);
    expect(() => parseTime('1969-12-31T23:59:59Z', 'time', NOW)).toThrow(/before 1970/);
    expect(() => parseTime('9999999999', 'time', NOW)).toThrow(/^time: "9999999999" is after 2262-04-11/);
    expect(() => parseTime('9999-01-01T00:00:00Z', 'time', NOW)).toThrow(/after 2262-04-11/);
    expect(parseTime('1970-01-01T00:00:00Z', 't', NOW)).toBe(0);
    expect(() => parseDuration('100000000000000000000w', 'step')).toThrow(/^step: .* is longer than 100 years/);
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
    // without a start, an end too early for the default window names end, not a start nobody gave
    expect(() => resolveRange(undefined, 'now-999999999999999w', 3600, 86_400, NOW)).toThrow(/^end: /);
    expect(() => resolveRange(undefined, '1970-01-01T00:00:00Z', 3600, 86_400, NOW)).toThrow(
      /^end: "1970-01-01T00:00:00Z" must be after 1970-01-01/,
    );
    // the default window stops at the epoch rather than going negative
    expect(resolveRange(undefined, '1970-01-01T00:10:00Z', 3600, 86_400, NOW)).toEqual({ start: 0, end: 600 });
    expect(() => resolveRange('now-2d', undefined, 3600, 86_400, NOW)).toThrow(/spans 2d, more than the 1d allowed/);
  });
});

describe('nanosecond times', () => {
  it('keeps nanoseconds exact as strings', () => {
    expect(toNanos(1_769_860_800.123)).toBe('1769860800123000000');
    expect(isoOfNanos('1769860800123456789')).toBe('2026-01-31T12:00:00.123Z');
    expect(isoOfNanos('not-a-number')).toBe('not-a-number');
  });

  it('reads a bound written with nanoseconds back exactly, whatever its offset; others to the millisecond', () => {
    const at = (v: string) => nanosOf(v, parseTime(v, 'end'));
    expect(isoOfNanosExact('1769860800123456789')).toBe('2026-01-31T12:00:00.123456789Z');
    expect(isoOfNanosExact('1769860800000000001')).toBe('2026-01-31T12:00:00.000000001Z');
    expect(at('2026-01-31T12:00:00.123456789Z')).toBe('1769860800123456789');
    expect(at('2026-01-31T13:30:00.000000001+01:30')).toBe('1769860800000000001');
    expect(at('2026-01-31T12:00:00.5Z')).toBe('1769860800500000000');
    expect(at('2026-01-31T12:00:00Z')).toBe('1769860800000000000');
    expect(nanosOf('now', 1_769_860_800.123)).toBe('1769860800123000000');
    expect(nanosOf(undefined, 1_769_860_800.123)).toBe('1769860800123000000');
    for (const ns of ['1769860800999999999', '946684799000000001', '1769860800000000000']) {
      expect(at(isoOfNanosExact(ns))).toBe(ns);
    }
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

describe('sumOfParts', () => {
  const prometheus = { y: 31_536_000, w: 604_800, d: 86_400, h: 3600, m: 60, s: 1, ms: 1e-3 };
  const go = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  it('adds the parts as Loki (model.Duration) and Tempo (time.Duration) print their limits', () => {
    expect(sumOfParts('30d1h', prometheus)).toBe(30 * 86_400 + 3600);
    expect(sumOfParts('1w', prometheus)).toBe(604_800);
    expect(sumOfParts('5m30s', prometheus)).toBe(330);
    expect(sumOfParts('168h0m0s', go, '\\d+(?:\\.\\d+)?')).toBe(168 * 3600);
    expect(sumOfParts('1.5s', go, '\\d+(?:\\.\\d+)?')).toBe(1.5);
    expect(sumOfParts('250ms', go, '\\d+(?:\\.\\d+)?')).toBeCloseTo(0.25);
  });
  it('is undefined for anything else', () => {
    expect(sumOfParts('1.5h', prometheus)).toBeUndefined();
    expect(sumOfParts('10 days', prometheus)).toBeUndefined();
    expect(sumOfParts('', go)).toBeUndefined();
    expect(sumOfParts('5x', go)).toBeUndefined();
  });
});
