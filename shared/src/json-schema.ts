/**
 * Makes the JSON Schema zod emits small and portable for tools/list, without changing what it accepts
 * in any way a client relies on:
 * - integer bounds that are only JavaScript's safe-integer range (zod adds them to every `.int()`) go;
 * - output schemas carry shapes, not prose: `description`, `title` and `examples` go (the server
 *   writes the output; clients only read it);
 * - `propertyNames: {type: "string"}` (zod's records) goes: JSON object keys are always strings;
 * - input checks an agent does not need to choose arguments go from input schemas (INPUT_CHECKS: string
 *   patterns and lengths, array and map sizes); the server still enforces them and its refusal names them;
 * - `additionalProperties: false` goes from both: the server refuses unknown arguments itself (invoke.ts
 *   names them), and it writes the output;
 * - `type` stays next to every `enum` and `const`: it is redundant in JSON Schema, but Gemini's function
 *   declarations refuse a schema without it (google-gemini/gemini-cli#4400), and clients pass ours through;
 * - `anyOf` of bare types becomes one `type` list (`{"type": ["integer", "null"]}`);
 * - tuple forms (`prefixItems`, array-valued `items`, `items: false`) become a plain array of the union
 *   of the members with fixed length, valid under draft-07 and 2020-12 alike (the SDK client and Ajv
 *   2020 refuse `items: false` next to `prefixItems` in some modes, draft-07 has no `prefixItems`).
 * Property names are never touched: a property called "description" stays.
 */

type Schema = Record<string, unknown>;
type Io = 'input' | 'output';

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const OUTPUT_PROSE = ['description', 'title', 'examples'] as const;
/**
 * Input checks the server enforces (zod, on every call) but an agent does not need to choose arguments:
 * string patterns and lengths, array and map sizes (a tuple's fixed length stays: rewriteItems sets it
 * after this filter). Refusals name the check that failed and its limit.
 */
const INPUT_CHECKS = ['pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'maxProperties'] as const;
/** Keywords whose value is a map of name -> schema. */
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'] as const;
/** Keywords whose value is one schema. */
const SCHEMA_ONE = ['additionalProperties', 'propertyNames', 'not', 'contains', 'if', 'then', 'else'] as const;
/** Keywords whose value is a list of schemas. */
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf'] as const;

export function slimSchema(schema: Schema, io: Io): Schema {
  const slimmed = slim(schema, io) as Schema;
  return io === 'output' ? shallow(slimmed) : slimmed;
}

/**
 * Output schemas as tools/list shows them are shallow: the top-level properties with their JSON types,
 * nested objects and arrays typed by kind only, no `required` list. Every result the full schema accepts
 * is accepted (the shape only loosens); the server, not the client, checks the full shape (invoke.ts).
 */
function shallow(schema: Schema): Schema {
  const props = schema.properties as Record<string, unknown> | undefined;
  const out: Schema = { type: 'object' };
  if (props) out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, kindOf(v)]));
  if (!props && schema.additionalProperties !== undefined)
    out.additionalProperties = kindOf(schema.additionalProperties);
  return out;
}

/** A schema reduced to its JSON type(s): `{type}` or `{}` when any value is allowed. */
function kindOf(node: unknown): Schema {
  const types = typesOf(node);
  if (!types || types.length === 0) return {};
  return { type: types.length === 1 ? types[0] : types };
}

const JSON_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];

function typesOf(node: unknown): string[] | undefined {
  if (!node || typeof node !== 'object') return node === false ? [] : undefined;
  const n = node as Schema;
  if (n.type !== undefined) {
    const list = (Array.isArray(n.type) ? n.type : [n.type]).filter((t): t is string => typeof t === 'string');
    return list.includes('number') ? list.filter((t) => t !== 'integer') : list;
  }
  if ('const' in n) return [jsonTypeOf(n.const)];
  if (Array.isArray(n.enum)) return unique(n.enum.map(jsonTypeOf));
  const members = (Array.isArray(n.anyOf) ? n.anyOf : Array.isArray(n.oneOf) ? n.oneOf : undefined) as
    | unknown[]
    | undefined;
  if (!members) return undefined;
  const all: string[] = [];
  for (const m of members) {
    const t = typesOf(m);
    if (t === undefined) return undefined;
    all.push(...t);
  }
  const list = unique(all);
  return list.includes('number') ? list.filter((t) => t !== 'integer') : list;
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  const t = typeof value;
  return JSON_TYPES.includes(t) ? t : 'string';
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

function slim(node: unknown, io: Io): unknown {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return node;
  const src = node as Schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(src)) {
    if (io === 'output' && (OUTPUT_PROSE as readonly string[]).includes(key)) continue;
    // the server refuses unknown arguments itself (parseToolInput names them; nested objects are .strict())
    if (key === 'additionalProperties' && value === false) continue;
    if (io === 'input' && (INPUT_CHECKS as readonly string[]).includes(key) && typeof value !== 'object') continue;
    if ((key === 'minimum' && value === -SAFE_MAX) || (key === 'maximum' && value === SAFE_MAX)) continue;
    // object keys are always strings: z.record's `propertyNames: {type: "string"}` says nothing
    if (key === 'propertyNames' && isBareString(value)) continue;
    if ((SCHEMA_MAPS as readonly string[]).includes(key) && value && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, slim(v, io)]));
    } else if ((SCHEMA_ONE as readonly string[]).includes(key)) {
      out[key] = slim(value, io);
    } else if ((SCHEMA_LISTS as readonly string[]).includes(key) && Array.isArray(value)) {
      out[key] = value.map((v) => slim(v, io));
    } else if (key === 'items' || key === 'prefixItems') {
      // handled below with the tuple rewrite
    } else {
      out[key] = value;
    }
  }
  rewriteItems(src, out, io);
  // a key pattern dropped from an input schema leaves a propertyNames that says nothing
  if (isBareString(out.propertyNames)) delete out.propertyNames;
  return collapseTypeUnion(out);
}

/** Tuples become fixed-length arrays of the union of their members; plain `items` is slimmed. */
function rewriteItems(src: Schema, out: Schema, io: Io): void {
  const prefix = Array.isArray(src.prefixItems) ? src.prefixItems : Array.isArray(src.items) ? src.items : undefined;
  if (!prefix) {
    if (src.items !== undefined && typeof src.items === 'object') out.items = slim(src.items, io);
    return;
  }
  const members = prefix.map((m) => slim(m, io));
  const rest =
    !Array.isArray(src.items) && src.items && typeof src.items === 'object' ? slim(src.items, io) : undefined;
  if (rest) members.push(rest);
  const unique = uniqueSchemas(members);
  if (unique.length > 0) out.items = unique.length === 1 ? unique[0] : collapseTypeUnion({ anyOf: unique });
  if (out.minItems === undefined && members.length > 0) out.minItems = prefix.length;
  // without a schema for further items the tuple had a fixed length
  if (!rest && out.maxItems === undefined) out.maxItems = prefix.length;
}

function isBareString(value: unknown): boolean {
  return !!value && typeof value === 'object' && Object.keys(value).length === 1 && (value as Schema).type === 'string';
}

function uniqueSchemas(list: unknown[]): unknown[] {
  const seen = new Map<string, unknown>();
  for (const item of list) seen.set(JSON.stringify(item), item);
  return [...seen.values()];
}

/** `{anyOf: [{type: a}, {type: b}]}` (only bare types) becomes `{type: [a, b]}`. */
function collapseTypeUnion(node: Schema): Schema {
  const anyOf = node.anyOf;
  if (!Array.isArray(anyOf) || anyOf.length < 2) return node;
  const types: string[] = [];
  for (const member of anyOf) {
    if (!member || typeof member !== 'object') return node;
    const keys = Object.keys(member as Schema);
    const type = (member as Schema).type;
    if (keys.length !== 1 || keys[0] !== 'type') return node;
    for (const t of Array.isArray(type) ? type : [type]) {
      if (typeof t !== 'string') return node;
      if (!types.includes(t)) types.push(t);
    }
  }
  const { anyOf: _drop, ...rest } = node;
  if (rest.type !== undefined) return node;
  return { ...rest, type: types.length === 1 ? types[0] : types };
}
