import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent } from './trace.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('W3C traceparent', () => {
  it('reads a valid header and writes it back', () => {
    expect(parseTraceparent(`00-${T}-${S}-01`)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseTraceparent(`00-${T}-${S}-00`)?.sampled).toBe(false);
    expect(formatTraceparent({ traceId: T, spanId: S, sampled: true })).toBe(`00-${T}-${S}-01`);
    // a later version may append fields; its first four parts are read
    expect(parseTraceparent(`01-${T}-${S}-09-extra`)).toEqual({ traceId: T, spanId: S, sampled: true });
  });

  it('ignores malformed or invalid headers (a new trace starts instead)', () => {
    for (const bad of [
      undefined,
      ['a', 'b'],
      '',
      `ff-${T}-${S}-01`,
      `00-${T}-${S}-01-extra`,
      `00-${'0'.repeat(32)}-${S}-01`,
      `00-${T}-${'0'.repeat(16)}-01`,
      `00-${T.toUpperCase()}-${S}-01`,
      `00-${T}-${S}`,
      `00-${T.slice(1)}-${S}-01`,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });
});
