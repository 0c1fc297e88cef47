/**
 * Maps whose keys are data (tags, headers, labels, event payload fields), with every own key kept.
 *
 * `z.record` skips a key named `__proto__` (JSON.parse keeps it as an own key; zod builds its output with
 * `obj[key] = v`, which sets the prototype instead), so a caller's tag or header of that name would vanish
 * without a word, and an answer would drop it. `ownRecord` checks the same thing as `z.record(key, value)`
 * and returns an object whose properties are all defined as own ones. Code that builds such a map itself
 * uses `putOwn`; code that looks a key up uses `ownValue`, which never returns an inherited member.
 */
import { z } from 'zod';

export interface OwnRecordOptions {
  /** The key's schema (default: any string). */
  key?: z.ZodType<string>;
  /** At most this many keys. */
  maxKeys?: number;
  /** Shown when the value is not an object at all, e.g. 'must be an object of tag key to value'. */
  message?: string;
}

/** `map[key] = value` as an own, enumerable property, `__proto__` included. */
export function putOwn<V>(map: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `map[key]` when `map` has it as its own key: never a value inherited from Object.prototype. */
export function ownValue<V>(map: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** A plain object (not null, not an array). */
function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The JSON Schema of a value schema as an input (what a caller may send), without the `$schema` key. */
function inputSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

/**
 * `z.record(key, value)` that keeps every own key (`__proto__` too). Values are parsed by `value` (its
 * output is kept, so transforms and defaults apply); issues name the key as their path, as z.record's do.
 */
export function ownRecord<V extends z.ZodType>(
  value: V,
  options: OwnRecordOptions = {},
): z.ZodType<Record<string, z.output<V>>, Record<string, z.input<V>>> {
  const key = options.key ?? z.string();
  const message = options.message ?? 'must be an object';
  const jsonSchema: Record<string, unknown> = { type: 'object', additionalProperties: inputSchemaOf(value) };
  const keySchema = inputSchemaOf(key);
  delete keySchema.type;
  if (Object.keys(keySchema).length > 0) jsonSchema.propertyNames = { type: 'string', ...keySchema };
  if (options.maxKeys !== undefined) jsonSchema.maxProperties = options.maxKeys;
  const schema = z
    .custom<Record<string, unknown>>(isObject, { message })
    .transform((input, ctx) => {
      const keys = Object.keys(input);
      if (options.maxKeys !== undefined && keys.length > options.maxKeys) {
        ctx.addIssue({ code: 'custom', message: `at most ${options.maxKeys} keys (got ${keys.length})` });
        return z.NEVER;
      }
      const out: Record<string, z.output<V>> = {};
      let failed = false;
      for (const k of keys) {
        const checkedKey = key.safeParse(k);
        if (!checkedKey.success) {
          failed = true;
          for (const issue of checkedKey.error.issues) {
            ctx.addIssue({ code: 'custom', path: [k], message: `key: ${issue.message}` });
          }
          continue;
        }
        const parsed = value.safeParse(input[k]);
        if (!parsed.success) {
          failed = true;
          for (const issue of parsed.error.issues) {
            ctx.addIssue({ code: 'custom', path: [k, ...issue.path.map(pathKey)], message: issue.message });
          }
          continue;
        }
        putOwn(out, k, parsed.data as z.output<V>);
      }
      return failed ? z.NEVER : out;
    })
    .meta(jsonSchema);
  return schema as unknown as z.ZodType<Record<string, z.output<V>>, Record<string, z.input<V>>>;
}

function pathKey(segment: PropertyKey): string | number {
  return typeof segment === 'symbol' ? String(segment) : segment;
}
