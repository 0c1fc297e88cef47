/**
 * Label maps in tool inputs and answers. `__proto__` is a valid label name (Prometheus: [a-zA-Z_][a-zA-Z0-9_]*,
 * names with `__` only reserved by convention; Alertmanager 0.25 stores, filters and returns an alert posted
 * with it), and JSON.parse keeps it as an own key. zod's record parse skips that key and `obj[key] = v` sets
 * the prototype instead, so a label would vanish without a word. These schemas check a map and hand the same
 * object on; code that builds one uses Object.fromEntries or putLabel, which define own properties.
 */
import { ownValue, putOwn } from '@ravenhelm/kit';
import { z } from 'zod';
import { isStringRecord } from './backends/common.js';

/** An object of string values (labels, annotations, attributes), every own key kept. */
export const StringMap = z
  .custom<Record<string, string>>(isStringRecord, { message: 'must be an object of string values' })
  .meta({ type: 'object', additionalProperties: { type: 'string' } });

/** A caller's label set: at most `labels` names of 1..`nameChars` chars, values up to `valueChars`. */
export function labelsInput(max: { labels: number; nameChars: number; valueChars: number }) {
  return z
    .custom<Record<string, string>>(
      (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
      'must be an object of label name to value, e.g. {"alertname": "DiskFull"}',
    )
    .superRefine((labels, ctx) => {
      const entries = Object.entries(labels);
      if (entries.length > max.labels) ctx.addIssue({ code: 'custom', message: `at most ${max.labels} labels` });
      for (const [name, value] of entries) {
        if (name.length < 1 || name.length > max.nameChars) {
          ctx.addIssue({ code: 'custom', message: `label names must be 1..${max.nameChars} chars` });
        } else if (typeof value !== 'string') {
          ctx.addIssue({ code: 'custom', path: [name], message: 'label values must be strings' });
        } else if (value.length > max.valueChars) {
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: `label values must be at most ${max.valueChars} chars`,
          });
        }
      }
    })
    .meta({
      type: 'object',
      propertyNames: { type: 'string', minLength: 1, maxLength: max.nameChars },
      additionalProperties: { type: 'string', maxLength: max.valueChars },
    });
}

/** `map[key] = value` as an own property, `__proto__` included (the kit's putOwn). */
export const putLabel: (map: Record<string, string>, key: string, value: string) => void = putOwn;

export { ownValue };
