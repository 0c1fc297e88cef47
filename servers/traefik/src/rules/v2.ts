/**
 * Traefik's v2 rule syntax, which v3 still routes for a router with `ruleSyntax: v2` (pkg/muxer/http/parser.go
 * picks the parser by the router's syntax; pkg/muxer/http/matcher_v2.go httpFuncsV2). The grammar is v3's; each
 * v2 matcher takes any number of arguments and is rewritten into v3 leaves with the same meaning, so one
 * evaluator serves both:
 * - Host/HostHeader(h...): hostV2, the canonical host equal to a lower-cased h, or to it with a trailing dot
 *   removed on either side: Host(h) || ... (a `*` is a literal character in v2, not a wildcard);
 * - HostRegexp(t...): a gorilla mux host template per t (router.Host), any of them matching the request's Host
 *   without its port (mux parseHost, not the canonical host);
 * - Path/PathPrefix(t...): gorilla mux path templates on the routing path (UseRoutingPath): Path(p) or
 *   PathPrefix(p) when t has no `{`, else the template's regexp;
 * - Method(m...): gorilla's method matcher, upper-cased: Method(m) || ...;
 * - Headers / HeadersRegexp(k, v, ...): gorilla's map matchers: pairs into a map (a repeated key keeps its last
 *   value), each canonical key present with a value equal to v / matching the unanchored regexp v (an empty v
 *   is refused first by pkg/rules CheckRule);
 * - Query(kv...): each argument split once on `=`, the parts paired into route.Queries templates `k=v`, each
 *   matched against `k=<first value of k>` (mux getURLQuery), or against "" when the request has no k;
 * - ClientIP(ip...): ip.NewChecker against the connection's address: ClientIP(ip) || ....
 * Templates are compiled as github.com/containous/mux (Traefik's gorilla fork, go.mod replace) regexp.go
 * newRouteRegexp does: braceIndices, `{name}` / `{name:pattern}` (default `[^.]+` for a host, `[^/]+` for a
 * path, `.*` for a query), the text between quoted (regexp.QuoteMeta), anchored `^...$` (no `$` for a prefix),
 * `(?i)` for a host, `.*` appended to a query template with an empty value; braces unbalanced, an empty name or
 * pattern, or a pattern that does not compile alone (`^pattern$`) or in the whole fail the router.
 */
import type { RE2JS } from 're2js';
import {
  argsOfCalls,
  type CompileBudget,
  compileRegex,
  parseCidr,
  parseWith,
  type ReadNode,
  RuleError,
  type RuleNode,
  readWith,
  type Syntax,
} from './parser.js';

const V2_MATCHERS = [
  'Host',
  'HostHeader',
  'HostRegexp',
  'ClientIP',
  'Path',
  'PathPrefix',
  'Method',
  'Headers',
  'HeadersRegexp',
  'Query',
] as const;

type V2Name = (typeof V2_MATCHERS)[number];

const V2_FORMS = new Map<string, V2Name>();
for (const name of V2_MATCHERS) {
  const lower = name.toLowerCase();
  for (const form of [name, lower, name.toUpperCase(), lower[0]?.toUpperCase() + lower.slice(1)]) {
    V2_FORMS.set(form, name);
  }
}

type Leaf = Extract<RuleNode, { kind: 'matcher' }>;

const anyOf = (nodes: RuleNode[]): RuleNode => nodes.reduce((left, right) => ({ kind: 'or', left, right }));
const allOf = (nodes: RuleNode[]): RuleNode => nodes.reduce((left, right) => ({ kind: 'and', left, right }));

/** Go's regexp.QuoteMeta. */
const quoteMeta = (s: string) => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

/** mux braceIndices: the first-level `{...}` spans, or undefined when the braces are unbalanced. */
function braceIndices(s: string): number[] | undefined {
  let level = 0;
  let start = 0;
  const idxs: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '{') {
      if (++level === 1) start = i;
    } else if (s[i] === '}') {
      if (--level === 0) idxs.push(start, i + 1);
      else if (level < 0) return undefined;
    }
  }
  return level === 0 ? idxs : undefined;
}

type TemplateKind = 'host' | 'path' | 'prefix' | 'query';

/**
 * A gorilla mux template as one RE2 regexp (mux newRouteRegexp) and its variable names. Errors name the
 * matcher, never the template (a Query value or a header pattern may carry a secret).
 */
function muxTemplate(matcher: string, tpl: string, kind: TemplateKind, col: number): { re: RE2JS; vars: string[] } {
  const idxs = braceIndices(tpl);
  if (!idxs) throw new RuleError(`${matcher} template has unbalanced braces`, col);
  const fallback = kind === 'query' ? '.*' : kind === 'host' ? '[^.]+' : '[^/]+';
  let pattern = kind === 'host' ? '(?i)^' : '^';
  const vars: string[] = [];
  let end = 0;
  for (let i = 0; i < idxs.length; i += 2) {
    const open = idxs[i] as number;
    const raw = tpl.slice(end, open);
    end = idxs[i + 1] as number;
    const inner = tpl.slice(open + 1, end - 1);
    const colon = inner.indexOf(':');
    const name = colon < 0 ? inner : inner.slice(0, colon);
    const patt = colon < 0 ? fallback : inner.slice(colon + 1);
    if (name === '' || patt === '') throw new RuleError(`${matcher} template has a {} without a name or pattern`, col);
    compileRegex(matcher, `^${patt}$`, col);
    pattern += `${quoteMeta(raw)}(?:${patt})`;
    vars.push(name);
  }
  pattern += quoteMeta(tpl.slice(end));
  if (kind === 'query' && tpl.slice(tpl.indexOf('=') + 1) === '') pattern += fallback;
  if (kind !== 'prefix') pattern += '$';
  return { re: compileRegex(matcher, pattern, col), vars };
}

/** mux mapFromPairsToString / ToRegex: key/value pairs into a map, a repeated key keeping its last value. */
function pairsOf(name: string, args: string[], col: number): Map<string, string> {
  if (args.length % 2 !== 0) throw new RuleError(`${name} takes header/value pairs (an even count)`, col);
  const map = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) map.set(args[i] as string, args[i + 1] as string);
  return map;
}

function build(name: V2Name, args: string[], col: number): RuleNode {
  // pkg/rules/parser.go CheckRule, run for both syntaxes (pkg/muxer/http/mux.go addRule).
  if (args.length === 0) throw new RuleError(`${name} has no arguments`, col);
  if (args.some((a) => a === '')) throw new RuleError(`${name} has an empty argument`, col);
  const leaf = (n: Leaf['name'], a: string[], extra: Partial<Leaf> = {}): Leaf => ({
    kind: 'matcher',
    name: n,
    args: a,
    col,
    ...extra,
  });
  const ascii = (values: string[]) => {
    // hostV2 / hostRegexpV2: `invalid value "h" for "Host" matcher, non-ASCII characters are not allowed`.
    if (values.some((h) => [...h].some((c) => c.charCodeAt(0) > 127)))
      throw new RuleError(`${name} value must be ASCII (use the punycode form)`, col);
  };
  switch (name) {
    case 'Host':
    case 'HostHeader':
      ascii(args);
      return anyOf(
        args.map((h) => {
          const host = h.toLowerCase();
          if (!host.includes('*')) return leaf('Host', [host]);
          // v3's Host reads a leading `*` as a wildcard; v2 compares it literally (with the trailing-dot forms).
          const forms = new Set([host, `${host}.`, ...(host.endsWith('.') ? [host.slice(0, -1)] : [])]);
          const re = compileRegex(name, `^(?:${[...forms].map(quoteMeta).join('|')})$`, col);
          return leaf('HostRegexp', [host], { re, v2: { name: 'Host' } });
        }),
      );
    case 'HostRegexp':
      ascii(args);
      return anyOf(
        args.map((t) =>
          leaf('HostRegexp', [t], { re: muxTemplate(name, t, 'host', col).re, v2: { name, muxHost: true } }),
        ),
      );
    case 'Path':
    case 'PathPrefix':
      return anyOf(
        args.map((p) => {
          // gorilla mux addRegexpMatcher: "mux: path must start with a slash".
          if (!p.startsWith('/')) throw new RuleError(`${name} value ${JSON.stringify(p)} must start with "/"`, col);
          if (!p.includes('{') && !p.includes('}')) return leaf(name, [p]);
          const { re } = muxTemplate(name, p, name === 'Path' ? 'path' : 'prefix', col);
          return leaf('PathRegexp', [p], { re, v2: { name } });
        }),
      );
    case 'Method':
      return anyOf(args.map((m) => leaf('Method', [m.toUpperCase()])));
    case 'Headers':
      return allOf([...pairsOf(name, args, col)].map(([k, v]) => leaf('Header', [k, v])));
    case 'HeadersRegexp':
      return allOf(
        [...pairsOf(name, args, col)].map(([k, v]) =>
          leaf('HeaderRegexp', [k, v], { re: compileRegex(name, v, col), v2: { name } }),
        ),
      );
    case 'Query': {
      // queryV2: strings.SplitN(arg, "=", 2) for each argument, the parts paired by route.Queries.
      const parts = args.flatMap((a) =>
        a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a],
      );
      if (parts.length % 2 !== 0)
        throw new RuleError('Query takes key=value arguments (mux: number of parameters must be multiple of 2)', col);
      const seen: string[] = [];
      const leaves: Leaf[] = [];
      for (let i = 0; i < parts.length; i += 2) {
        const template = `${parts[i]}=${parts[i + 1]}`;
        const { re, vars } = muxTemplate(name, template, 'query', col);
        // mux addRegexpMatcher uniqueVars: one route's query templates may not reuse a variable name.
        if (vars.some((v) => seen.includes(v))) throw new RuleError('Query templates repeat a variable name', col);
        seen.push(...vars);
        leaves.push(
          leaf('QueryRegexp', [template], { re, v2: { name, key: template.slice(0, template.indexOf('=')) } }),
        );
      }
      return allOf(leaves);
    }
    case 'ClientIP':
      return anyOf(args.map((ip) => leaf('ClientIP', [ip], { cidrs: [parseCidr(ip, col)] })));
    default:
      // Every v2 matcher is evaluated: the parser calls build only with a name of V2_FORMS, so a matcher added
      // there without a case here fails to compile (no runtime branch that no input can reach).
      return name satisfies never;
  }
}

const V2: Syntax<V2Name> = { names: V2_FORMS, label: 'v2', build };

/**
 * A `ruleSyntax: v2` rule as v3 matchers with the same meaning. Throws RuleError when Traefik would refuse the
 * rule (the router is then disabled) or when it exceeds this parser's own bounds.
 */
export function parseRuleV2(rule: string, budget?: CompileBudget): RuleNode {
  return parseWith(rule, V2, budget);
}

/** hostCallsOf (parser.ts) for a `ruleSyntax: v2` rule: the arguments of Host and HostHeader, lower-cased. */
export function hostCallsOfV2(rule: string): string[] | undefined {
  return argsOfCalls(rule, V2, ['Host', 'HostHeader'])?.map((h) => h.toLowerCase());
}

/** readWith (parser.ts) for a `ruleSyntax: v2` rule. */
export function readRuleV2(rule: string, budget?: CompileBudget): ReadNode {
  return readWith(rule, V2, budget);
}
