import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonSchemaOf } from './tool.js';

describe('jsonSchemaOf (slim emission)', () => {
  const Out = z.object({
    description: z.string().describe('a property that happens to be called description'),
    count: z.number().int().describe('how many'),
    code: z.number().int().nullable(),
    pair: z.tuple([z.number(), z.string()]),
    nested: z.object({ at: z.string().nullable().describe('when') }).strict(),
  });

  it('output schemas keep every property and type, without prose or safe-integer bounds', () => {
    expect(jsonSchemaOf(Out, 'output')).toEqual({
      type: 'object',
      properties: {
        description: { type: 'string' },
        count: { type: 'integer' },
        code: { type: ['integer', 'null'] },
        pair: { type: 'array', items: { type: ['number', 'string'] }, minItems: 2, maxItems: 2 },
        nested: { type: 'object', properties: { at: { type: ['string', 'null'] } }, required: ['at'] },
      },
      required: ['description', 'count', 'code', 'pair', 'nested'],
    });
  });

  it('input schemas keep descriptions and real bounds, drop only the safe-integer range', () => {
    const In = z.object({
      tail: z.number().int().min(1).max(500).default(200).describe('lines'),
      any: z.number().int().describe('no bounds of its own'),
      retries: z.number().int().min(0).nullable().optional(),
    });
    expect(jsonSchemaOf(In, 'input')).toEqual({
      type: 'object',
      properties: {
        tail: { type: 'integer', minimum: 1, maximum: 500, default: 200, description: 'lines' },
        any: { type: 'integer', description: 'no bounds of its own' },
        retries: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] },
      },
      required: ['any'],
    });
  });

  it('rewrites tuples of one type to a fixed-length array of that type', () => {
    const T = z.object({ point: z.tuple([z.number(), z.number()]), rest: z.tuple([z.string()]).rest(z.number()) });
    const props = (jsonSchemaOf(T, 'output') as { properties: Record<string, unknown> }).properties;
    expect(props.point).toEqual({ type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 });
    expect(props.rest).toEqual({ type: 'array', items: { type: ['string', 'number'] }, minItems: 1 });
  });

  it('drops a propertyNames that only says keys are strings, keeps one that constrains them', () => {
    const R = z.object({ labels: z.record(z.string(), z.string()), ids: z.record(z.string().regex(/^x/), z.number()) });
    const props = (jsonSchemaOf(R, 'output') as { properties: Record<string, Record<string, unknown>> }).properties;
    expect(props.labels).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(props.ids?.propertyNames).toEqual({ type: 'string', pattern: '^x' });
  });

  it('is computed once per schema and io', () => {
    const S = z.object({ a: z.string().describe('x') });
    expect(jsonSchemaOf(S, 'input')).toBe(jsonSchemaOf(S, 'input'));
    expect(jsonSchemaOf(S, 'output')).not.toEqual(jsonSchemaOf(S, 'input'));
  });
});
