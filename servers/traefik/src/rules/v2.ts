/**
 * Traefik's v2 rule syntax, which v3 still routes for a router with `ruleSyntax: v2` (pkg/muxer/http/parser.go
 * picks the parser by the router's syntax; pkg/muxer/http/matcher_v2.go httpFuncsV2). The grammar is v3's; each
 * v2 matcher takes any number of arguments. Those whose v2 meaning is a combination of v3 matchers are
 * rewritten into them, so one evaluator serves both:
 * - Host/HostHeader(h...): hostV2, the canonical host equal to a lower-cased h, or to it with a trailing dot
 *   removed on either side: Host(h) || ... (a `*` is not a wildcard in v2; such a rule is not rewritten);
 * - Path/PathPrefix(p...): gorilla mux templates on the routing path. A template without `{...}` is the literal
 *   path, quoted into `^p$` (Path) or `^p` (PathPrefix): Path(p) || ...; `{name:re}` templates are not rewritten;
 * - Method(m...): gorilla's method matcher, upper-cased: Method(m) || ...;
 * - Headers(k, v, ...): gorilla's header matcher, each canonical key present with the value v (an empty v, which
 *   gorilla reads as any value, is refused first by pkg/rules CheckRule): Header(k, v) && ...;
 * - ClientIP(ip...): ip.NewChecker against the connection's address: ClientIP(ip) || ....
 * HostRegexp, HeadersRegexp and Query (gorilla regexp templates and its own query lookup) are not rewritten.
 */
import { parseCidr, parseWith, RuleError, type RuleNode, type Syntax } from './parser.js';

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
];

const V2_FORMS = new Map<string, string>();
for (const name of V2_MATCHERS) {
  const lower = name.toLowerCase();
  for (const form of [name, lower, name.toUpperCase(), lower[0]?.toUpperCase() + lower.slice(1)]) {
    V2_FORMS.set(form, name);
  }
}

/** A v2 rule this module cannot evaluate exactly (the router's answer stays uncertain). */
export class V2Unsupported extends Error {
  constructor(readonly matcher: string) {
    super(`${matcher} is not evaluated here`);
    this.name = 'V2Unsupported';
  }
}

type Leaf = Extract<RuleNode, { kind: 'matcher' }>;

const anyOf = (nodes: RuleNode[]): RuleNode => nodes.reduce((left, right) => ({ kind: 'or', left, right }));
const allOf = (nodes: RuleNode[]): RuleNode => nodes.reduce((left, right) => ({ kind: 'and', left, right }));

function build(name: string, args: string[], col: number): RuleNode {
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
  switch (name) {
    case 'Host':
    case 'HostHeader':
      for (const h of args) {
        // hostV2: `invalid value "h" for "Host" matcher, non-ASCII characters are not allowed`.
        if ([...h].some((c) => c.charCodeAt(0) > 127))
          throw new RuleError(`${name} value must be ASCII (use the punycode form)`, col);
        if (h.includes('*')) throw new V2Unsupported(name);
      }
      return anyOf(args.map((h) => leaf('Host', [h.toLowerCase()])));
    case 'Path':
    case 'PathPrefix':
      for (const p of args) {
        // gorilla mux addRegexpMatcher: "mux: path must start with a slash".
        if (!p.startsWith('/')) throw new RuleError(`${name} value ${JSON.stringify(p)} must start with "/"`, col);
        if (p.includes('{')) throw new V2Unsupported(`${name} with a {name:regexp} template`);
      }
      return anyOf(args.map((p) => leaf(name, [p])));
    case 'Method':
      return anyOf(args.map((m) => leaf('Method', [m.toUpperCase()])));
    case 'Headers': {
      // gorilla mux mapFromPairsToString: "mux: number of parameters must be multiple of 2".
      if (args.length % 2 !== 0) throw new RuleError('Headers takes header/value pairs (an even count)', col);
      const pairs: RuleNode[] = [];
      for (let i = 0; i < args.length; i += 2) {
        const [k, v] = [args[i] as string, args[i + 1] as string];
        pairs.push(leaf('Header', [k, v]));
      }
      return allOf(pairs);
    }
    case 'ClientIP':
      return anyOf(args.map((ip) => leaf('ClientIP', [ip], { cidrs: [parseCidr(ip, col)] })));
    default:
      throw new V2Unsupported(name);
  }
}

const V2: Syntax = { names: V2_FORMS, label: 'v2', build };

/**
 * A `ruleSyntax: v2` rule as v3 matchers with the same meaning. Throws RuleError when Traefik would refuse the
 * rule (the router is then disabled), V2Unsupported when a matcher is not evaluated here.
 */
export function parseRuleV2(rule: string): RuleNode {
  return parseWith(rule, V2);
}
