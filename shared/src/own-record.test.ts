import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ownRecord, ownValue, putOwn } from './own-record.js';
import { jsonSchemaOf } from './tool.js';

describe('ownRecord', () => {
  const Tags = ownRecord(z.string().max(5), { key: z.string().min(1).max(9), maxKeys: 3, message: 'must be tags' });

  it('keeps a __proto__ key that z.record drops, as an own property', () => {
    const raw = JSON.parse('{"__proto__":"x","a":"b"}');
    expect(Object.keys(z.record(z.string(), z.string()).parse(raw))).toEqual(['a']);
    const parsed = Tags.parse(raw);
    expect(Object.keys(parsed)).toEqual(['__proto__', 'a']);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(JSON.stringify(parsed)).toBe('{"__proto__":"x","a":"b"}');
  });

  it('refuses what z.record refuses, naming the key', () => {
    const bad = Tags.safeParse({ ok: 'v', long: 'toolong' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['long']);
    expect(Tags.safeParse({ '': 'v' }).error?.issues[0]?.message).toMatch(/^key: /);
    expect(Tags.safeParse({ a: '1', b: '2', c: '3', d: '4' }).error?.issues[0]?.message).toBe('at most 3 keys (got 4)');
    expect(Tags.safeParse([]).error?.issues[0]?.message).toBe('must be tags');
    expect(Tags.safeParse(null).success).toBe(false);
    expect(Tags.safeParse({ a: 1 }).success).toBe(false);
  });

  it('applies the value schema (transforms and nested paths)', () => {
    const Nested = ownRecord(z.object({ n: z.coerce.number() }));
    expect(Nested.parse({ x: { n: '2' } })).toEqual({ x: { n: 2 } });
    expect(Nested.safeParse({ x: { n: 'no' } }).error?.issues[0]?.path).toEqual(['x', 'n']);
  });

  it('advertises the same JSON Schema as a record (its bounds are input checks the server enforces)', () => {
    expect(jsonSchemaOf(z.object({ tags: Tags }), 'input')).toEqual({
      type: 'object',
      properties: {
        tags: {
          type: 'object',
          additionalProperties: { type: 'string' },
        },
      },
      required: ['tags'],
    });
  });
});

describe('putOwn and ownValue', () => {
  it('never touch or read the prototype', () => {
    const map: Record<string, string> = {};
    putOwn(map, '__proto__', 'v');
    expect(Object.getPrototypeOf(map)).toBe(Object.prototype);
    expect(ownValue(map, '__proto__')).toBe('v');
    expect(ownValue({}, 'toString')).toBeUndefined();
    expect(ownValue({}, 'constructor')).toBeUndefined();
  });
});
