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
