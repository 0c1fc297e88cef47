/**
 * One label-matcher syntax for every observability tool: Alertmanager's own (`name="value"`, `name!="value"`,
 * `name=~"regex"`, `name!~"regex"`; see prometheus/alertmanager `pkg/labels/parse.go`). Anything else is
 * refused with the expected syntax; Alertmanager itself would read `alertname==foo` as `alertname="=foo"`
 * and silently match nothing. Regex values are checked with RE2 (re2js), the engine Alertmanager uses;
 * they are never compiled by the JS engine.
 */
import { randomBytes } from 'node:crypto';
import { clipChars, MAX_PATTERN_SIZE, repeatedSize, ToolError } from '@ravenhelm/kit';
import { RE2JS } from 're2js';
import { z } from 'zod';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

export const MATCHER_SYNTAX = 'name="value", name!="value", name=~"regex" or name!~"regex" (e.g. severity="critical")';

const SHAPE = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/s;
const BARE_VALUE = /^[^"'`\s,{}=~!\\]+$/;

/** Parses one matcher, or returns why it is not one (the message names the expected syntax). */
export function parseMatcher(text: string): LabelMatcher | { error: string } {
  const m = SHAPE.exec(text);
  // The matcher is quoted short: a long one pushed the reason past the length an error message keeps.
  const refuse = (why: string) => ({
    error: `${JSON.stringify(clipChars(text, 80))}: ${why}; write ${MATCHER_SYNTAX}`,
  });
  if (!m) return refuse('not a label matcher');
  const [, name, op, rawValue] = m as unknown as [string, string, MatchOp, string];
  let value: string;
  if (rawValue.startsWith('"')) {
    const unquoted = unquote(rawValue);
    if (unquoted === undefined) return refuse('the value has an unterminated quote (write \\" for a quote inside it)');
    value = unquoted;
  } else if (rawValue === '') {
    return refuse('the value is missing (use "" to match an absent label)');
  } else if (/^[=~!]/.test(rawValue)) {
    return refuse(`"${op}${rawValue[0]}" is not an operator`);
  } else if (!BARE_VALUE.test(rawValue)) {
    return refuse('an unquoted value may hold no spaces, quotes, commas or braces: quote it');
  } else {
    value = rawValue;
  }
  if (op === '=~' || op === '!~') {
    const size = repeatedSize(value);
    if (size > MAX_PATTERN_SIZE) {
      return refuse(
        `the regex's repeats make it ${size} steps long, over ${MAX_PATTERN_SIZE}: use fewer or smaller {n} repeats (+ or * where any count will do)`,
      );
    }
    try {
      RE2JS.compile(value);
    } catch (err) {
      return refuse(`the regex does not compile (${(err as Error).message})`);
    }
  }
  return { name, op, value };
}

/**
 * `"..."` read as Alertmanager's matcher parser reads it (pkg/labels/parse.go, OpenMetrics escapes): `\"`,
 * `\\` and `\n` are escapes, any other backslash is kept as it is (so `job=~"api\.v1"` is the regex
 * `api\.v1`, as in amtool); undefined when a quote is unterminated or unescaped inside.
 */
function unquote(raw: string): string | undefined {
  if (raw.length < 2 || !raw.endsWith('"')) return undefined;
  let out = '';
  for (let i = 1; i < raw.length - 1; i++) {
    const ch = raw[i] as string;
    if (ch === '"') return undefined;
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    if (i === raw.length - 2) return undefined; // the closing quote is escaped
    const next = raw[++i] as string;
    out += next === 'n' ? '\n' : next === '"' || next === '\\' ? next : `\\${next}`;
  }
  return out;
}

/**
 * The canonical text of a matcher, `name="value"`, quoted as Alertmanager's parser reads it back: only `\`,
 * `"` and a line feed are escaped, every other character (tabs, control characters) goes in as it is. JSON
 * quoting would send `\t` or `\u0001`, which Alertmanager reads as those characters literally, so a filter
 * on such a value matched nothing.
 */
export function formatMatcher(m: LabelMatcher): string {
  return `${m.name}${m.op}"${m.value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`;
}

/** Alertmanager API v2's object form (silences). */
export function toAmMatcher(m: LabelMatcher): { name: string; value: string; isRegex: boolean; isEqual: boolean } {
  return { name: m.name, value: m.value, isRegex: m.op.endsWith('~'), isEqual: !m.op.startsWith('!') };
}

export function fromAmMatcher(m: { name: string; value: string; isRegex: boolean; isEqual?: boolean }): LabelMatcher {
  const neg = m.isEqual === false;
  return { name: m.name, op: m.isRegex ? (neg ? '!~' : '=~') : neg ? '!=' : '=', value: m.value };
}

/**
 * Whether a label set satisfies a matcher, as Alertmanager decides it (pkg/labels/matcher.go Matches; an absent
 * label is the empty value, as model.LabelSet lookups give; regexes anchored `^(?:...)$`, RE2).
 */
export function matcherTest(m: LabelMatcher): (labels: Readonly<Record<string, string>>) => boolean {
  // own keys only: a label named "constructor" must not read Object.prototype's
  const labelValue = (labels: Readonly<Record<string, string>>) =>
    Object.hasOwn(labels, m.name) ? (labels[m.name] as string) : '';
  if (m.op === '=' || m.op === '!=') {
    const equal = m.op === '=';
    return (labels) => (labelValue(labels) === m.value) === equal;
  }
  let re: RE2JS | undefined;
  try {
    re = RE2JS.compile(`^(?:${m.value})$`);
  } catch {
    return () => false; // Alertmanager refuses a silence whose regex does not compile: it mutes nothing
  }
  const equal = m.op === '=~';
  return (labels) => (re as RE2JS).matches(labelValue(labels)) === equal;
}

/** A regex matcher too large to compile here (MAX_PATTERN_SIZE): a backend's, which parseMatcher never saw. */
export function tooLargeToTest(m: LabelMatcher): boolean {
  return m.op.endsWith('~') && repeatedSize(m.value) > MAX_PATTERN_SIZE;
}

/** Most exact values a regex matcher may list and still narrow a silence (`A|B|C`). */
export const MAX_REGEX_VALUES = 100;

/**
 * Whether a matcher narrows on its own: `=` with a value, or `=~` with a regex that is provably a short list of
 * non-empty exact values (`DiskFull|HighLoad`, `disk[12]`, `(api|web)-(eu|us)`): every value it accepts can be
 * listed, at most MAX_REGEX_VALUES of them. Any other regex (`.`, `*`, `+`, `\w`, open repeats, negated classes,
 * flags, values over 1,000 chars) is not proven narrow however it looks: `[A-Z][A-Za-z0-9]*` accepts every alert name. `!=` and `!~` only
 * exclude. Decided on the regex's text (RE2 syntax); the values are then checked against RE2 itself.
 */
export function narrows(m: LabelMatcher): boolean {
  if (m.op === '=') return m.value !== '';
  if (m.op !== '=~') return false;
  const values = regexValues(m.value, MAX_REGEX_VALUES);
  if (!values || values.size === 0 || values.has('')) return false;
  // Cross-check with the engine Alertmanager uses: it accepts each listed value and no near miss.
  const re = RE2JS.compile(`^(?:${m.value})$`);
  for (const v of values) if (!re.matches(v)) return false;
  const misses = ['', randomBytes(9).toString('hex'), ...[...values].flatMap((v) => [`${v}x`, `x${v}`, v.slice(1)])];
  return misses.every((v) => values.has(v) || !re.matches(v));
}

const NOT_FINITE = Symbol('not finite');
/** The longest value a finite regex may list: as long as a matcher's whole text (MatcherText). */
const MAX_VALUE_CHARS = 1000;

/**
 * Every value an RE2 regex accepts in full, when its text proves them few: literals, `\` + ASCII punctuation,
 * `|`, `(...)`/`(?:...)`, `[...]` sets and ranges (not negated), `?`, `{n}`, `{n,m}`, and `^`/`$` (read as
 * nothing: the set can only grow). Undefined for anything else, or more than `max` values.
 */
export function regexValues(src: string, max: number): Set<string> | undefined {
  if (src.length > MAX_VALUE_CHARS) return undefined;
  const cs = Array.from(src);
  let i = 0;
  const fail = (): never => {
    throw NOT_FINITE;
  };
  const capped = (s: Set<string>) => (s.size > max ? fail() : s);
  // A value longer than a matcher may be written is no exact value anyone listed; building `(x{990}){1000}`'s
  // million characters blocked the event loop for seconds.
  const product = (a: ReadonlySet<string>, b: ReadonlySet<string>) => {
    const out = new Set<string>();
    for (const x of a) for (const y of b) capped(out.add(x.length + y.length > MAX_VALUE_CHARS ? fail() : x + y));
    return out;
  };
  const escaped = (): string => {
    const c = cs[i++];
    // \d, \w, \pL, \Q..\E, \x41, \1: classes and forms not read here
    return c === undefined || c.length !== 1 || c.charCodeAt(0) >= 0x80 || /[A-Za-z0-9]/.test(c) ? fail() : c;
  };
  const classChar = (): string => {
    const c = cs[i++];
    if (c === '\\') return escaped();
    return c === undefined || c === '[' ? fail() : c;
  };
  const charClass = (): Set<string> => {
    if (cs[i] === '^' || cs[i] === ']') fail();
    const out = new Set<string>();
    while (cs[i] !== ']') {
      const lo = classChar();
      if (cs[i] === '-' && cs[i + 1] !== ']' && cs[i + 1] !== undefined) {
        i++;
        const [a, b] = [lo.codePointAt(0) as number, classChar().codePointAt(0) as number];
        if (b < a || b - a >= max) fail();
        for (let cp = a; cp <= b; cp++) capped(out.add(String.fromCodePoint(cp)));
      } else capped(out.add(lo));
    }
    i++;
    return out;
  };
  const atom = (): Set<string> => {
    const c = cs[i++] as string;
    if (c === '(') {
      if (cs[i] === '?') {
        if (cs[i + 1] !== ':') fail(); // flags, named groups
        i += 2;
      }
      const inner = alternation();
      if (cs[i++] !== ')') fail();
      return inner;
    }
    if (c === '[') return charClass();
    if (c === '\\') return new Set([escaped()]);
    if (c === '^' || c === '$') return new Set(['']);
    if ('.*+?{}[]'.includes(c)) fail();
    return new Set([c]);
  };
  const repeat = (set: Set<string>): Set<string> => {
    let min = 1;
    let most = 1;
    if (cs[i] === '?') {
      i++;
      min = 0;
    } else if (cs[i] === '{') {
      const m = /^\{(\d{1,4})(,(\d{1,4}))?\}/.exec(cs.slice(i, i + 11).join(''));
      if (!m) fail(); // {n,} is open; a brace that is no repeat is left unread
      const bounds = m as RegExpExecArray;
      min = Number(bounds[1]);
      most = bounds[2] === undefined ? min : Number(bounds[3]);
      if (most < min || most > 1000) fail();
      i += bounds[0].length;
    } else return set;
    if (cs[i] === '?') i++; // non-greedy: the same values
    const out = new Set<string>();
    let power = new Set(['']);
    for (let k = 0; k <= most; k++) {
      if (k >= min) for (const v of power) capped(out.add(v));
      if (k < most) power = product(power, set);
    }
    return out;
  };
  const concatenation = (): Set<string> => {
    let out = new Set(['']);
    while (i < cs.length && cs[i] !== '|' && cs[i] !== ')') out = product(out, repeat(atom()));
    return out;
  };
  function alternation(): Set<string> {
    const out = concatenation();
    while (cs[i] === '|') {
      i++;
      for (const v of concatenation()) capped(out.add(v));
    }
    return out;
  }
  try {
    const values = alternation();
    return i === cs.length ? values : undefined;
  } catch (err) {
    if (err === NOT_FINITE) return undefined;
    throw err;
  }
}

/** A zod string that must parse as a matcher; the refusal names the expected syntax. */
export const MatcherText = z
  .string()
  .max(1000)
  .superRefine((text, ctx) => {
    const parsed = parseMatcher(text);
    if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
  });

/** The matcher syntax in an argument description: said once on the list, not on every item. */
export const MATCHER_HINT = 'e.g. job="api"; also !=, =~, !~';

/** Optional matchers that narrow a list (alerts, groups, silences). */
export const Matchers = z.array(MatcherText).max(20).optional().describe(`All must match; ${MATCHER_HINT}`);

/** Parses matchers already checked by MatcherText. */
export function parseMatchers(texts: readonly string[] | undefined): LabelMatcher[] {
  return (texts ?? []).map((t) => {
    const m = parseMatcher(t);
    if ('error' in m) throw new ToolError('ERR_INVALID_INPUT', `matchers: ${m.error}`);
    return m;
  });
}
