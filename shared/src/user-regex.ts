import { RE2JS } from 're2js';
import { ToolError } from './errors.js';

/**
 * Regular expressions written by callers or operators run here, on RE2 (linear time in the input,
 * whatever the pattern), never on the JS engine: a pattern like `(.|.)*Z` backtracks exponentially
 * there and would freeze the whole process.
 */
export interface UserPattern {
  /** True when the pattern matches somewhere in `text`. */
  test(text: string): boolean;
  /** True when the pattern matches all of `text` (anchored at both ends). */
  matchesWhole(text: string): boolean;
  readonly source: string;
}

/** Constructs RE2 refuses, with the name a reader recognises; checked in order on the pattern text. */
const UNSUPPORTED: readonly { test: RegExp; name: string }[] = [
  { test: /\(\?<[=!]/, name: 'lookbehind "(?<=" / "(?<!"' },
  { test: /\(\?[=!]/, name: 'lookahead "(?=" / "(?!"' },
  { test: /\\[1-9]|\\k</, name: 'backreference ("\\1", "\\k<name>")' },
  { test: /[*+?}][+]/, name: 'possessive quantifier ("a++", "a*+")' },
  { test: /\{\s*\d{4,}|\{\s*\d+\s*,\s*\d{4,}|\{\s*(?:1[0-9]{3}|[2-9]\d{3})/, name: 'repeat count above 1000' },
];

/**
 * Compiles a caller's pattern for RE2, or throws ERR_INVALID_INPUT that names the field, the construct
 * RE2 does not have (lookaround, backreferences...) and what to do instead.
 */
export function compileUserPattern(pattern: string, opts: { field: string; ignoreCase?: boolean }): UserPattern {
  const size = repeatedSize(pattern);
  if (size > MAX_PATTERN_SIZE) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `${opts.field}: the pattern's repeats make it ${size} steps long, over ${MAX_PATTERN_SIZE}; use fewer or smaller {n} repeats (+ or * where any count will do)`,
      { field: opts.field },
    );
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern, opts.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    const construct = UNSUPPORTED.find((u) => u.test.test(pattern))?.name;
    const reason = construct
      ? `uses ${construct}, which the linear-time regex engine (RE2 syntax) does not support`
      : `is not a valid RE2 regular expression (${reParseMessage(err)})`;
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `${opts.field}: the pattern ${reason}; rewrite it without that construct or match a plain substring instead`,
      { field: opts.field },
    );
  }
  return {
    source: pattern,
    test: (text) => re.test(text),
    matchesWhole: (text) => re.matches(text),
  };
}

function reParseMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/^error parsing regexp:\s*/, '').slice(0, 200);
}

/**
 * The most a pattern may grow by its repeats (an upper bound of the RE2 program it compiles to). re2js compiles
 * `(x{970}){1000}` (978 characters, repeats RE2 allows) into a million instructions: seconds of one core per
 * pattern, before anything was asked of a backend.
 */
export const MAX_PATTERN_SIZE = 5000;

/**
 * An upper bound of a regex's size once its repeats are expanded: each character, class or escape counts 1, a
 * group its contents, and `x{n,m}` counts x (max(n, m) + 1) times. Read on the text; it never compiles it.
 */
export function repeatedSize(src: string): number {
  const frames: { total: number; last: number }[] = [{ total: 0, last: 0 }];
  let top = frames[0] as { total: number; last: number };
  const atom = (size: number) => {
    top.total += size;
    top.last = size;
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (c === '\\') {
      const next = src[i + 1];
      if (next === 'Q') {
        const end = src.indexOf('\\E', i + 2);
        const stop = end < 0 ? src.length : end + 2;
        atom(stop - i);
        i = stop;
      } else if ((next === 'p' || next === 'P' || next === 'x') && src[i + 2] === '{') {
        const end = src.indexOf('}', i + 3);
        i = end < 0 ? src.length : end + 1;
        atom(1);
      } else {
        i += 2;
        atom(1);
      }
    } else if (c === '[') {
      let j = i + 1;
      if (src[j] === '^') j++;
      if (src[j] === ']') j++; // a ] first is a literal
      while (j < src.length && src[j] !== ']') {
        if (src[j] === '\\') j++;
        else if (src[j] === '[' && src[j + 1] === ':') {
          const end = src.indexOf(':]', j + 2);
          if (end >= 0) j = end + 1;
        }
        j++;
      }
      i = j + 1;
      atom(1);
    } else if (c === '(') {
      top = { total: 0, last: 0 };
      frames.push(top);
      i++;
    } else if (c === ')' && frames.length > 1) {
      const inner = (frames.pop() as { total: number }).total;
      top = frames[frames.length - 1] as { total: number; last: number };
      atom(Math.max(1, inner));
      i++;
    } else if (c === '{') {
      const m = /^\{(\d+)(?:,(\d*))?\}/.exec(src.slice(i, i + 24));
      if (m && top.last > 0) {
        const times = Math.max(Number(m[1]), Number(m[2] || 0)) + 1;
        top.total += top.last * (times - 1);
        top.last *= times;
        i += m[0].length;
      } else {
        atom(1);
        i++;
      }
    } else if (c === '|') {
      top.last = 0;
      i++;
    } else {
      atom(1);
      i++;
    }
  }
  while (frames.length > 1) {
    const inner = (frames.pop() as { total: number }).total;
    top = frames[frames.length - 1] as { total: number; last: number };
    atom(inner);
  }
  return top.total;
}
