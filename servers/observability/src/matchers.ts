/**
 * One label-matcher syntax for every observability tool: Alertmanager's own (`name="value"`, `name!="value"`,
 * `name=~"regex"`, `name!~"regex"`; see prometheus/alertmanager `pkg/labels/parse.go`). Anything else is
 * refused with the expected syntax; Alertmanager itself would read `alertname==foo` as `alertname="=foo"`
 * and silently match nothing. Regex values are checked with RE2 (re2js), the engine Alertmanager uses;
 * they are never compiled by the JS engine.
 */
import { randomBytes } from 'node:crypto';
import { ToolError } from '@ravenhelm/kit';
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
  const refuse = (why: string) => ({ error: `${JSON.stringify(text)}: ${why}; write ${MATCHER_SYNTAX}` });
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

/** Ordinary label values: a regex that accepts most of them (`.+`, `\w+`, `[^ ]+`) accepts every real value too. */
const PROBES = ['0', 'a', 'Z', '_', 'Rh_probe7', 'x-y.z:1/2', 'a b'];

/**
 * Whether a matcher narrows on its own: `=` with a value, or `=~` with a regex that rejects the empty value,
 * most of the ordinary values in PROBES and a random one (which a regex written to dodge the fixed probes
 * still accepts). `!=` and `!~` only exclude, and `.+`, `.*.`, `(.+)` or `\w+` accept every value a label has:
 * none of them says what a silence is for.
 */
export function narrows(m: LabelMatcher): boolean {
  if (m.op === '=') return m.value !== '';
  if (m.op !== '=~') return false;
  const re = RE2JS.compile(`^(?:${m.value})$`);
  if (re.matches('') || re.matches(randomBytes(9).toString('hex'))) return false;
  return PROBES.filter((probe) => !re.matches(probe)).length * 2 > PROBES.length;
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
