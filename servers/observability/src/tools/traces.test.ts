import { describe, expect, it } from 'vitest';
import type { OtlpResourceSpans, OtlpSpan } from '../backends/tempo.js';
import { hexId, kindOf, summarizeTrace, TRACE_BOUNDS } from './traces.js';

const ms = (n: number) => String(BigInt(n) * 1_000_000n);

function span(id: string, parent: string | undefined, startMs: number, endMs: number, extra: Partial<OtlpSpan> = {}) {
  return {
    spanId: id,
    ...(parent ? { parentSpanId: parent } : {}),
    name: `op-${id}`,
    startTimeUnixNano: ms(startMs),
    endTimeUnixNano: ms(endMs),
    ...extra,
  };
}

function batch(service: string, spans: OtlpSpan[]): OtlpResourceSpans {
  return {
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ spans }],
  };
}

describe('hexId', () => {
  it('keeps hex ids and decodes base64 ones', () => {
    expect(hexId('00000000000000AB')).toBe('00000000000000ab');
    expect(hexId(Buffer.from('0102030405060708', 'hex').toString('base64'))).toBe('0102030405060708');
    expect(hexId(undefined)).toBe('');
  });
});

describe('summarizeTrace', () => {
  it('orders the tree depth-first by start time across services', () => {
    const s = summarizeTrace([
      batch('api', [span('0000000000000001', undefined, 0, 100), span('0000000000000003', '0000000000000001', 50, 60)]),
      batch('db', [
        span('0000000000000002', '0000000000000001', 10, 40, { status: { code: 2, message: 'boom' } }),
        span('0000000000000004', '0000000000000002', 20, 30),
      ]),
    ]);
    expect(s.ordered.map((x) => [x.operation, x.depth, x.service])).toEqual([
      ['op-0000000000000001', 0, 'api'],
      ['op-0000000000000002', 1, 'db'],
      ['op-0000000000000004', 2, 'db'],
      ['op-0000000000000003', 1, 'api'],
    ]);
    expect(s.ordered[1]).toMatchObject({ status: 'error', statusMessage: 'boom', startOffsetMs: 10, durationMs: 30 });
    expect(s).toMatchObject({ rootService: 'api', rootOperation: 'op-0000000000000001', durationMs: 100 });
    expect(s.services).toEqual([
      { name: 'db', spans: 2, errors: 1 },
      { name: 'api', spans: 2, errors: 0 },
    ]);
  });

  it('treats spans with a missing parent as roots and still lists spans whose parents form a cycle', () => {
    const s = summarizeTrace([
      batch('a', [
        span('00000000000000a1', '00000000000000ff', 0, 10),
        span('00000000000000b1', '00000000000000b2', 5, 8),
        span('00000000000000b2', '00000000000000b1', 6, 7),
      ]),
    ]);
    expect(s.ordered).toHaveLength(3);
    expect(s.ordered.map((x) => [x.spanId, x.depth])).toEqual([
      ['00000000000000a1', 0],
      ['00000000000000b1', 0],
      ['00000000000000b2', 1],
    ]);
  });

  it('reads nanosecond times beyond Number precision', () => {
    const s = summarizeTrace([
      batch('a', [
        {
          spanId: '0000000000000001',
          name: 'x',
          startTimeUnixNano: '1769860800000000001',
          endTimeUnixNano: '1769860800000500001',
        },
      ]),
    ]);
    expect(s.durationMs).toBe(0.5);
    expect(s.startTime).toBe('2026-01-31T12:00:00.000Z');
  });
});

describe('kindOf', () => {
  it('reads span kinds by name (Tempo jsonpb) and number (OTLP/JSON); unspecified is absent', () => {
    expect(kindOf('SPAN_KIND_SERVER')).toBe('server');
    expect(kindOf('SPAN_KIND_CONSUMER')).toBe('consumer');
    expect(kindOf(3)).toBe('client');
    expect(kindOf(0)).toBeUndefined();
    expect(kindOf('SPAN_KIND_UNSPECIFIED')).toBeUndefined();
    expect(kindOf(undefined)).toBeUndefined();
  });
});

describe('summarizeTrace roots', () => {
  it('takes the span without a parent id as root even when orphans start earlier; null when it never arrived', () => {
    const withRoot = summarizeTrace([
      batch('worker', [span('0000000000000009', '0000000000000008', 900, 950)]),
      batch('gateway', [span('0000000000000001', undefined, 1000, 1100, { kind: 2 })]),
    ]);
    expect(withRoot).toMatchObject({ rootService: 'gateway', rootOperation: 'op-0000000000000001', orphans: 1 });
    expect(withRoot.ordered.map((s) => [s.spanId, s.orphan ?? false, s.kind ?? null])).toEqual([
      ['0000000000000001', false, 'server'],
      ['0000000000000009', true, null],
    ]);
    const headless = summarizeTrace([batch('worker', [span('0000000000000009', '0000000000000008', 900, 950)])]);
    expect(headless).toMatchObject({ rootService: null, rootOperation: null, orphans: 1 });
  });
});

describe('summarizeTrace bounds', () => {
  it('cuts long names, attribute keys, values and status messages, and counts what it cut', () => {
    const attrs = Array.from({ length: 25 }, (_, i) => ({
      key: `error.${i === 0 ? 'k'.repeat(150) : i}`,
      value: { stringValue: 'v'.repeat(i === 1 ? 500 : 5) },
    }));
    const s = summarizeTrace([
      batch('s'.repeat(300), [
        span('01', undefined, 0, 10, { name: 'n'.repeat(1000) }),
        span('02', '01', 1, 2, { attributes: attrs, status: { code: 2, message: 'm'.repeat(400) } }),
      ]),
    ]);
    const [root, child] = s.ordered;
    expect(root?.operation).toBe(`${'n'.repeat(TRACE_BOUNDS.nameChars)}…`);
    expect(root?.service).toBe(`${'s'.repeat(TRACE_BOUNDS.nameChars)}…`);
    expect(s.rootOperation).toBe(root?.operation);
    expect(Object.keys(child?.attributes ?? {})).toHaveLength(TRACE_BOUNDS.attributesPerSpan);
    expect(child?.attributes[`error.${'k'.repeat(TRACE_BOUNDS.attributeKeyChars - 6)}…`]).toBe('vvvvv');
    expect(child?.attributes['error.1']).toBe(`${'v'.repeat(TRACE_BOUNDS.attributeValueChars)}…`);
    expect(child?.statusMessage).toBe(`${'m'.repeat(TRACE_BOUNDS.statusMessageChars)}…`);
    expect(s).toMatchObject({ namesCut: 2, textCut: 1, attributesCut: 1 });
  });

  it('shows an array value as its JSON cut like any value (stated, characters whole); no service.name is unknown', () => {
    const list = { arrayValue: { values: [{ stringValue: '🚀'.repeat(100) }] } };
    const json = JSON.stringify(list);
    // 41 characters before the emoji: the 200th unit is the first half of one, so the cut keeps 199
    expect(json.indexOf('🚀')).toBe(41);
    const s = summarizeTrace([
      {
        scopeSpans: [{ spans: [span('01', undefined, 0, 10, { attributes: [{ key: 'error.causes', value: list }] })] }],
      },
    ]);
    const [root] = s.ordered;
    expect(root?.service).toBe('unknown');
    expect(root?.attributes['error.causes']).toBe(`${json.slice(0, TRACE_BOUNDS.attributeValueChars - 1)}…`);
    expect(s.textCut).toBe(1);
  });
});
