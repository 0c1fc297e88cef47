/**
 * Every discovered tool's input and output schema, as tools/list shows it, compiles under Ajv in strict
 * mode for draft-07 and for 2020-12, and uses no form one of them (or the SDK client) refuses.
 */
import type { ToolSpec } from '@ravenhelm/registry';
import { Ajv, type Options } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { assertAllLoaded, loadServers } from './servers.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;
const discovery = await loadServers();
const specs = discovery.servers.flatMap((s) => s.specs);

const OPTIONS: Options = { strict: true, allowUnionTypes: true, allErrors: true };
function validators(): (Ajv | Ajv2020)[] {
  return [new Ajv(OPTIONS), new Ajv2020(OPTIONS)].map((ajv) => {
    addFormats(ajv);
    // the kit's own annotation for secret arguments (never logged or echoed)
    ajv.addKeyword({ keyword: 'sensitive', schemaType: 'boolean' });
    return ajv;
  });
}

/** Every place a keyword appears as a schema keyword (not as a property name). */
function keywordPaths(node: unknown, keyword: string, path = '#'): string[] {
  if (!node || typeof node !== 'object') return [];
  if (Array.isArray(node)) return node.flatMap((n, i) => keywordPaths(n, keyword, `${path}/${i}`));
  const found: string[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (k === keyword) found.push(`${path}/${k}`);
    if (k === 'properties' && v && typeof v === 'object') {
      for (const [name, child] of Object.entries(v))
        found.push(...keywordPaths(child, keyword, `${path}/properties/${name}`));
    } else found.push(...keywordPaths(v, keyword, `${path}/${k}`));
  }
  return found;
}

describe('tool schemas compile for draft-07 and 2020-12 validators', () => {
  it('every server package exports toolSpecs', () => {
    assertAllLoaded(discovery);
    expect(specs.length).toBeGreaterThan(0);
  });

  it.each(specs.map((s) => [`${s.server}/${s.name}`, s] as const))('%s', (_id, spec: ToolSpec) => {
    for (const ajv of validators()) {
      for (const [which, schema] of [
        ['input', spec.inputSchema],
        ['output', spec.outputSchema],
      ] as const) {
        expect(() => ajv.compile(schema), `${which} schema under ${ajv.constructor.name}`).not.toThrow();
        expect((schema as { type?: unknown }).type, `${which} schema is an object schema`).toBe('object');
      }
    }
    for (const schema of [spec.inputSchema, spec.outputSchema]) {
      expect(keywordPaths(schema, 'prefixItems'), 'no tuple forms').toEqual([]);
      const items = keywordPaths(schema, 'items').filter((p) => {
        const v = p
          .slice(2)
          .split('/')
          .reduce<unknown>((n, k) => (n as Record<string, unknown>)?.[k], schema);
        return Array.isArray(v) || typeof v === 'boolean';
      });
      expect(items, 'items is always one schema').toEqual([]);
    }
    expect(keywordPaths(spec.outputSchema, 'description'), 'output schemas carry shapes, not prose').toEqual([]);
  });
});

describe('shallow output schemas', () => {
  it('accept every value the full zod schema accepts, and still check top-level kinds', async () => {
    const { jsonSchemaOf } = await import('@ravenhelm/kit');
    const { z } = await import('zod');
    const Out = z.object({
      name: z.string(),
      count: z.number().int(),
      code: z.number().int().nullable(),
      pair: z.tuple([z.number(), z.string()]),
      nested: z.object({ at: z.string().nullable(), items: z.array(z.object({ n: z.number() })) }),
      state: z.enum(['a', 'b']),
    });
    const value = {
      name: 'd',
      count: 1,
      code: null,
      pair: [1, 'x'],
      nested: { at: null, items: [{ n: 1 }] },
      state: 'a',
    };
    expect(Out.parse(value)).toEqual(value);
    for (const ajv of validators()) {
      const validate = ajv.compile(jsonSchemaOf(Out, 'output'));
      expect(validate(value), ajv.constructor.name).toBe(true);
      expect(validate({ ...value, count: 'one' })).toBe(false);
      expect(validate({ ...value, nested: [] })).toBe(false);
    }
  });
});
