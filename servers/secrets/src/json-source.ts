/**
 * The source text of a JSON secret's top-level members, for what JSON.parse loses: a number literal is read into a
 * double, so `12345678901234567890` comes back as 12345678901234567000 and `1e400` as Infinity (written `null` by
 * JSON.stringify). A tool that rewrites one key of a JSON secret through JSON.parse and JSON.stringify would store
 * every other such number changed; one that shows a key would show other digits than the ones stored.
 */

// A JSON text already accepted by JSON.parse, as tokens: strings, punctuation, and the rest (numbers, literals).
const TOKEN = /\s*("(?:[^"\\]|\\.)*"|[{}[\],:]|[^\s{}[\],:"]+)/y;
const STRING_OR_NUMBER = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
const NUMBER = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Each top-level key of a JSON object text and the source of its value(s), in order (a repeated key has several). */
export function memberSources(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let depth = 0;
  let key = '';
  // -1: no value begun; -2: the next token begins one; else where it began
  let from = -1;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m; m = TOKEN.exec(text)) {
    const tok = m[1] as string;
    const end = TOKEN.lastIndex;
    if (depth === 1 && from === -1) {
      if (tok === ':') {
        from = -2;
        continue;
      }
      if (tok.startsWith('"')) {
        key = JSON.parse(tok) as string;
        continue;
      }
      if (tok === ',') continue;
    }
    if (from === -2) from = end - tok.length;
    if (tok === '{' || tok === '[') depth++;
    else if (tok === '}' || tok === ']') depth--;
    if (from >= 0 && depth === 1) {
      const list = out.get(key) ?? [];
      list.push(text.slice(from, end));
      out.set(key, list);
      from = -1;
    }
  }
  return out;
}

/** A number literal's exact decimal value, written one way: sign, digits without leading or trailing zeros, exponent. */
function exact(literal: string): string | undefined {
  const m = NUMBER.exec(literal);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  let digits = `${m[2]}${frac}`.replace(/^0+/, '');
  if (digits === '') return '0';
  let exp = BigInt(m[4] ?? '0') - BigInt(frac.length);
  const trimmed = digits.replace(/0+$/, '');
  exp += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return `${m[1]}${digits}e${exp}`;
}

/** Whether a JSON source holds a number that JSON.parse cannot hold exactly (too many digits, out of range). */
export function hasInexactNumber(source: string): boolean {
  for (const m of source.matchAll(STRING_OR_NUMBER)) {
    const literal = m[0];
    if (literal.startsWith('"')) continue;
    const read = Number(literal);
    if (!Number.isFinite(read) || exact(String(read)) !== exact(literal)) return true;
  }
  return false;
}

/** The top-level keys (but `except`) whose value a JSON.parse and JSON.stringify round trip would change. */
export function inexactKeys(text: string, except?: string): string[] {
  return [...memberSources(text)]
    .filter(([key, sources]) => key !== except && sources.some(hasInexactNumber))
    .map(([key]) => key);
}

/** The source of a top-level key's value as JSON.parse reads it (the last, when repeated). */
export function memberSource(text: string, key: string): string | undefined {
  return memberSources(text).get(key)?.at(-1);
}
