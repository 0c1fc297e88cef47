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

/**
 * Where a node of an input schema falls outside the function-declaration subset model providers accept
 * when a client forwards our schemas verbatim: Gemini refuses a property schema without `type`
 * (google-gemini/gemini-cli#4400), a list of types (nanbingxyz/5ire#218) and an `enum` that is not
 * strings (hyperdxio/hyperdx#2967).
 */
function providerProblems(node: unknown, path: string): string[] {
  if (!node || typeof node !== 'object') return [];
  const n = node as Record<string, unknown>;
  const problems: string[] = [];
  const members = [n.anyOf, n.oneOf].find(Array.isArray) as unknown[] | undefined;
  if (members) {
    for (const [i, m] of members.entries()) problems.push(...providerProblems(m, `${path}/anyOf/${i}`));
  } else if (n.type === undefined) problems.push(`${path}: no type`);
  // Gemini's Schema.type is one value ("Proto field is not repeating" for a list)
  if (Array.isArray(n.type)) problems.push(`${path}: type list`);
  if (Array.isArray(n.enum) && !n.enum.every((v) => typeof v === 'string'))
    problems.push(`${path}: enum of non-strings`);
  if (Array.isArray(n.enum) && n.type !== 'string') problems.push(`${path}: enum without type string`);
  for (const [name, child] of Object.entries((n.properties as Record<string, unknown>) ?? {}))
    problems.push(...providerProblems(child, `${path}/properties/${name}`));
  if (n.items) problems.push(...providerProblems(n.items, `${path}/items`));
  return problems;
}

describe('input schemas stay inside what model providers accept when a client forwards them', () => {
  it.each(specs.map((s) => [`${s.server}/${s.name}`, s] as const))('%s', (_id, spec: ToolSpec) => {
    expect(providerProblems(spec.inputSchema, '#')).toEqual([]);
  });

  it('flags the forms providers refuse', () => {
    expect(providerProblems({ type: 'object', properties: { a: { enum: ['x'] } } }, '#')).toEqual([
      '#/properties/a: no type',
      '#/properties/a: enum without type string',
    ]);
    expect(providerProblems({ type: 'object', properties: { b: { type: 'number', enum: [1] } } }, '#')).toHaveLength(2);
    expect(providerProblems({ type: 'object', properties: { c: { type: ['string', 'null'] } } }, '#')).toEqual([
      '#/properties/c: type list',
    ]);
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
