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

  it('output schemas are shallow: top-level properties typed by kind, no prose, no required list', () => {
    expect(jsonSchemaOf(Out, 'output')).toEqual({
      type: 'object',
      properties: {
        description: { type: 'string' },
        count: { type: 'integer' },
        code: { type: ['integer', 'null'] },
        pair: { type: 'array' },
        nested: { type: 'object' },
      },
    });
  });

  it('types unions, enums, consts and any-values by kind', () => {
    const U = z.object({
      state: z.enum(['a', 'b']),
      fixed: z.literal(3),
      either: z.union([z.object({ a: z.string() }), z.array(z.string()), z.null()]),
      num: z.union([z.number(), z.number().int()]),
      free: z.unknown(),
    });
    expect((jsonSchemaOf(U, 'output') as { properties: unknown }).properties).toEqual({
      state: { type: 'string' },
      fixed: { type: 'number' },
      either: { type: ['object', 'array', 'null'] },
      num: { type: 'number' },
      free: {},
    });
  });

  it('input schemas keep descriptions, enums, defaults and numeric bounds; drop string checks and the safe-integer range', () => {
    const In = z.object({
      name: z
        .string()
        .min(1)
        .max(64)
        .regex(/^[a-z]+$/)
        .describe('who'),
      tags: z.array(z.string()).min(1).max(5),
      tail: z.number().int().min(1).max(500).default(200).describe('lines'),
      any: z.number().int().describe('no bounds of its own'),
      retries: z.number().int().min(0).nullable().optional(),
    });
    expect(jsonSchemaOf(In, 'input')).toEqual({
      type: 'object',
      properties: {
        name: { type: 'string', description: 'who' },
        tags: { type: 'array', items: { type: 'string' } },
        tail: { type: 'integer', minimum: 1, maximum: 500, default: 200, description: 'lines' },
        any: { type: 'integer', description: 'no bounds of its own' },
        retries: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'null' }] },
      },
      required: ['name', 'tags', 'any'],
    });
  });

  it('input schemas keep `type` next to enum and const (Gemini requires it) and drop additionalProperties: false', () => {
    const In = z
      .object({
        mode: z.enum(['a', 'b']).default('a'),
        kind: z.literal('x'),
        level: z.literal([1, 2.5]),
        nested: z.object({ k: z.string() }).strict(),
      })
      .strict();
    const schema = jsonSchemaOf(In, 'input');
    expect(schema).toEqual({
      type: 'object',
      properties: {
        mode: { type: 'string', enum: ['a', 'b'], default: 'a' },
        kind: { type: 'string', const: 'x' },
        level: { type: 'number', enum: [1, 2.5] },
        nested: { type: 'object', properties: { k: { type: 'string' } }, required: ['k'] },
      },
      required: ['kind', 'level', 'nested'],
    });
    // the refusal the schema no longer advertises is still made
    expect(In.safeParse({ kind: 'x', level: 1, nested: { k: 'v' }, extra: 1 }).success).toBe(false);
  });

  it('keeps `type` next to values it does not fix (a type list, or values of another type)', () => {
    const In = z.object({ maybe: z.enum(['a']).nullable() });
    const maybe = (jsonSchemaOf(In, 'input') as { properties: Record<string, unknown> }).properties.maybe;
    expect(JSON.stringify(maybe)).toContain('null');
    expect(
      jsonSchemaOf(z.object({ n: z.number().describe('d') }), 'input').properties as Record<string, unknown>,
    ).toEqual({ n: { type: 'number', description: 'd' } });
  });

  it('rewrites tuples of one type to a fixed-length array of that type', () => {
    const T = z.object({ point: z.tuple([z.number(), z.number()]), rest: z.tuple([z.string()]).rest(z.number()) });
    const props = (jsonSchemaOf(T, 'input') as { properties: Record<string, unknown> }).properties;
    expect(props.point).toEqual({ type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 });
    expect(props.rest).toEqual({ type: 'array', items: { type: ['string', 'number'] }, minItems: 1 });
  });

  it('drops a propertyNames that only says keys are strings (or only a key pattern, an input check)', () => {
    const R = z.object({ labels: z.record(z.string(), z.string()), ids: z.record(z.string().regex(/^x/), z.number()) });
    const props = (jsonSchemaOf(R, 'input') as { properties: Record<string, Record<string, unknown>> }).properties;
    expect(props.labels).toEqual({ type: 'object', additionalProperties: { type: 'string' } });
    expect(props.ids).toEqual({ type: 'object', additionalProperties: { type: 'number' } });
  });

  it('is computed once per schema and io', () => {
    const S = z.object({ a: z.string().describe('x') });
    expect(jsonSchemaOf(S, 'input')).toBe(jsonSchemaOf(S, 'input'));
    expect(jsonSchemaOf(S, 'output')).not.toEqual(jsonSchemaOf(S, 'input'));
  });
});
