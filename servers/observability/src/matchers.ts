/**
 * One label-matcher syntax for every observability tool: Alertmanager's own (`name="value"`, `name!="value"`,
 * `name=~"regex"`, `name!~"regex"`; see prometheus/alertmanager `pkg/labels/parse.go`). Anything else is
 * refused with the expected syntax; Alertmanager itself would read `alertname==foo` as `alertname="=foo"`
 * and silently match nothing. Regex values are checked with RE2 (re2js), the engine Alertmanager uses;
 * they are never compiled by the JS engine.
 */
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
    if (unquoted === undefined) return refuse('the value has an unterminated quote or a bad escape');
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

/** `"..."` with Go-style escapes `\"`, `\\`, `\n`, `\t`; undefined when the quoting is broken. */
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
    const next = raw[++i];
    if (next === '"' || next === '\\') out += next;
    else if (next === 'n') out += '\n';
    else if (next === 't') out += '\t';
    else return undefined;
  }
  return out;
}

/** The canonical text of a matcher: `name="value"` with the value quoted. */
export function formatMatcher(m: LabelMatcher): string {
  return `${m.name}${m.op}${JSON.stringify(m.value)}`;
}

/** Alertmanager API v2's object form (silences). */
export function toAmMatcher(m: LabelMatcher): { name: string; value: string; isRegex: boolean; isEqual: boolean } {
  return { name: m.name, value: m.value, isRegex: m.op.endsWith('~'), isEqual: !m.op.startsWith('!') };
}

export function fromAmMatcher(m: { name: string; value: string; isRegex: boolean; isEqual?: boolean }): LabelMatcher {
  const neg = m.isEqual === false;
  return { name: m.name, op: m.isRegex ? (neg ? '!~' : '=~') : neg ? '!=' : '=', value: m.value };
}

/** Whether a matcher accepts the empty string, i.e. also matches alerts that lack the label. */
export function matchesEmpty(m: LabelMatcher): boolean {
  if (m.op === '=') return m.value === '';
  if (m.op === '!=') return m.value !== '';
  const hit = RE2JS.compile(`^(?:${m.value})$`).matches('');
  return m.op === '=~' ? hit : !hit;
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
