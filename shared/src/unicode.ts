/**
 * Well-formed text in and out. A JavaScript string is UTF-16, and cutting it at a code-unit index can
 * split a surrogate pair (an emoji, most CJK extension characters). The half left over is a lone
 * surrogate: JSON.stringify writes it as an escape such as "\ud83d", which strict parsers refuse.
 * serde_json (Rust clients) rejects the whole message, and the Anthropic API answers 400 "no low surrogate
 * in string" for every later request of the conversation that carries the tool result (anthropics/claude-code
 * issues 1762, 1939, 6273, 60394). So every cut of text made here keeps pairs whole, arguments holding a
 * lone surrogate are refused by name, and the pipeline makes any result well-formed before it leaves.
 */

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The index of the first lone surrogate in `text`, or -1 (String.prototype.isWellFormed, with a position). */
export function loneSurrogateAt(text: string): number {
  LONE_SURROGATE.lastIndex = 0;
  const m = LONE_SURROGATE.exec(text);
  return m ? m.index : -1;
}

/** `text` with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed). */
export function wellFormed(text: string): string {
  return loneSurrogateAt(text) < 0 ? text : text.replace(LONE_SURROGATE, '\uFFFD');
}

/**
 * The first `max` UTF-16 code units of `text`, one fewer when the cut would split a surrogate pair, so
 * the result is never longer than `max` and never ends in half a character.
 */
export function sliceChars(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** `text` cut by sliceChars to `max` code units with "…" appended when anything was cut. */
export function clipChars(text: string, max: number): string {
  return text.length > max ? `${sliceChars(text, max)}…` : text;
}

/**
 * A JSON-like value with every string (keys too) made well-formed. Returns the value itself when nothing
 * needed it, and copies only the objects and arrays on the path to a change.
 */
export function wellFormedValue<T>(value: T): T {
  return fix(value, 0) as T;
}

/** Deeper than any result a tool builds; beyond it values are returned as they are. */
const MAX_DEPTH = 64;

function fix(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const w = fix(v, depth + 1);
      if (w !== v) {
        out ??= value.slice();
        out[i] = w;
      }
    });
    return out ?? value;
  }
  let changed = false;
  const entries = Object.entries(value).map(([k, v]) => {
    const key = wellFormed(k);
    const w = fix(v, depth + 1);
    if (key !== k || w !== v) changed = true;
    return [key, w] as const;
  });
  return changed ? Object.fromEntries(entries) : value;
}

/**
 * Where a JSON-like value (tool arguments) holds a lone surrogate: the path ("a.b.0", "(key) a.x") and the
 * character index, or undefined when every string is well-formed.
 */
export function findLoneSurrogate(value: unknown): { path: string; index: number } | undefined {
  const stack: [unknown, string[], number][] = [[value, [], 0]];
  while (stack.length > 0) {
    const [v, path, depth] = stack.pop() as [unknown, string[], number];
    if (typeof v === 'string') {
      const index = loneSurrogateAt(v);
      if (index >= 0) return { path: path.join('.') || '(arguments)', index };
      continue;
    }
    if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) continue;
    for (const [k, child] of Array.isArray(v) ? v.map((c, i) => [String(i), c] as const) : Object.entries(v)) {
      const index = loneSurrogateAt(k);
      if (index >= 0) return { path: `(key) ${[...path, wellFormed(k)].join('.')}`, index };
      stack.push([child, [...path, k], depth + 1]);
    }
  }
  return undefined;
}

/**
 * JSON.stringify of a JSON-RPC message with every lone surrogate in it replaced by U+FFFD, except in the
 * message's own `id`, which is echoed exactly as the request sent it (its sender matches answers by it).
 * The last guard on the way out (HTTP bodies, stdio lines), whatever built the message. JSON.stringify
 * writes surrogate pairs raw and only lone ones as \udXXX escapes, so a text without "\ud" is returned
 * as it is, serialized once.
 */
export function stringifyWellFormed(message: unknown): string {
  const json = JSON.stringify(message);
  if (json === undefined || !json.includes('\\ud')) return json;
  return JSON.stringify(message, function (this: unknown, key: string, value: unknown) {
    if (this === message && key === 'id') return value;
    if (typeof value === 'string') return wellFormed(value);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const keys = Object.keys(value);
    if (keys.every((k) => loneSurrogateAt(k) < 0)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), v]));
  });
}
