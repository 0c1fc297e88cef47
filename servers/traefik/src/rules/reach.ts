/**
 * What requests a rule can match, over-approximated by host and path: a list of alternatives
 * `{ host, path }`, each "any" or a constraint. Used to tell whether two routers can match the same request
 * (one shadows the other when its priority is at least as high) and whether a rule stays within the host
 * names an operator allows. Over-approximation means: when unsure, assume the rule can match more.
 */
import type { RE2JS } from 're2js';
import { hostMatch } from './matcher.js';
import { opaqueIn, type ReadNode, type RuleNode } from './parser.js';

type HostC = { kind: 'any' } | { kind: 'name'; value: string } | { kind: 'regexp'; re: RE2JS };
type PathC = { kind: 'any' } | { kind: 'exact' | 'prefix'; value: string } | { kind: 'regexp'; re: RE2JS };
export interface Reach {
  host: HostC;
  path: PathC;
  /** Why this alternative was widened over a matcher this server did not evaluate (an opaque one): it may not match. */
  unknown?: string;
}

const ANY: Reach = { host: { kind: 'any' }, path: { kind: 'any' } };
/** Past this many alternatives a rule is taken to match anything (bounded work on any rule). */
const MAX_ALTERNATIVES = 64;

/**
 * RE2 work one check may spend matching regexps against names and paths: program size times input length,
 * summed (as requests_diagnose counts it; about a second in re2js). Each regexp is bounded, but a rule's
 * alternatives multiply, and so do Traefik's routers: past the budget a regexp is taken to match, `unknown`.
 */
export const REACH_REGEX_BUDGET = 30_000_000;
export const OVER_BUDGET = "regex work beyond this call's budget";

/** What is left of a call's regexp budget; one per call, shared by every reachOf and overlapOf of it. */
export interface RegexWork {
  left: number;
}
export const regexWork = (): RegexWork => ({ left: REACH_REGEX_BUDGET });

/** Whether re matches text, within the budget; past it, true (assume they overlap) and `over` is called. */
type Test = (re: RE2JS, text: string) => boolean;

function tester(work: RegexWork, over: () => void): Test {
  return (re, text) => {
    const cost = re.programSize() * (text.length + 1);
    if (cost > work.left) {
      over();
      return true;
    }
    work.left -= cost;
    return re.matcher(text).find();
  };
}

/** The intersection of two host constraints; undefined when it is empty. */
function hostAnd(a: HostC, b: HostC, matches: Test): HostC | undefined {
  if (a.kind === 'any') return b;
  if (b.kind === 'any') return a;
  if (a.kind === 'name' && b.kind === 'name') {
    if (a.value === b.value || hostMatch(a.value, b.value)) return a;
    return hostMatch(b.value, a.value) ? b : undefined;
  }
  if (a.kind === 'name' && b.kind === 'regexp') return matches(b.re, a.value) ? a : undefined;
  if (a.kind === 'regexp' && b.kind === 'name') return matches(a.re, b.value) ? b : undefined;
  return a; // two regexes: assume they overlap
}

function pathAnd(a: PathC, b: PathC, matches: Test): PathC | undefined {
  if (a.kind === 'any') return b;
  if (b.kind === 'any') return a;
  if (a.kind === 'regexp' || b.kind === 'regexp') {
    const [re, other] = a.kind === 'regexp' ? [a.re, b] : [(b as { re: RE2JS }).re, a];
    if (other.kind === 'exact') return matches(re, other.value) ? other : undefined;
    return other; // a prefix or another regex: assume they overlap
  }
  if (a.kind === 'exact' && b.kind === 'exact') return a.value === b.value ? a : undefined;
  if (a.kind === 'exact') return a.value.startsWith(b.value) ? a : undefined;
  if (b.kind === 'exact') return b.value.startsWith(a.value) ? b : undefined;
  if (a.value.startsWith(b.value)) return a;
  return b.value.startsWith(a.value) ? b : undefined;
}

function reachAnd(a: Reach, b: Reach, work: RegexWork): Reach | undefined {
  let unknown = a.unknown ?? b.unknown;
  const matches = tester(work, () => {
    unknown ??= OVER_BUDGET;
  });
  const host = hostAnd(a.host, b.host, matches);
  const path = host && pathAnd(a.path, b.path, matches);
  return host && path ? { host, path, ...(unknown ? { unknown } : {}) } : undefined;
}

/** Any host, any path; unknown when that stands for alternatives of which one had an opaque matcher. */
const anyOf = (from: readonly Reach[]): Reach[] => {
  const unknown = from.find((r) => r.unknown)?.unknown;
  return [unknown ? { ...ANY, unknown } : ANY];
};

/**
 * The alternatives of a parsed rule. `!X` can match almost anything: it is taken as any host, any path. A
 * matcher this server did not evaluate (opaque) may match anything: its alternatives carry `unknown`.
 */
export function reachOf(node: ReadNode, work: RegexWork = regexWork()): Reach[] {
  switch (node.kind) {
    case 'or': {
      const all = [...reachOf(node.left, work), ...reachOf(node.right, work)];
      return all.length > MAX_ALTERNATIVES ? anyOf(all) : all;
    }
    case 'and': {
      const out: Reach[] = [];
      // each side once: read inside the loop, nested `&&`s would read the right side 2^depth times
      const right = reachOf(node.right, work);
      for (const l of reachOf(node.left, work))
        for (const r of right) {
          const both = reachAnd(l, r, work);
          if (both) out.push(both);
          if (out.length > MAX_ALTERNATIVES) return anyOf(out);
        }
      return out;
    }
    case 'not': {
      const [unknown] = opaqueIn(node.expr);
      return [unknown ? { ...ANY, unknown } : ANY];
    }
    case 'opaque':
      return [{ ...ANY, unknown: node.reason }];
    case 'matcher': {
      const [arg] = node.args as [string];
      if (node.name === 'Host') {
        const value = arg.toLowerCase().replace(/\.$/, '');
        return [{ ...ANY, host: value === '*' ? { kind: 'any' } : { kind: 'name', value } }];
      }
      if (node.name === 'HostRegexp' && node.re) return [{ ...ANY, host: { kind: 'regexp', re: node.re } }];
      if (node.name === 'Path') return [{ ...ANY, path: { kind: 'exact', value: arg } }];
      if (node.name === 'PathPrefix') return [{ ...ANY, path: { kind: 'prefix', value: arg } }];
      if (node.name === 'PathRegexp' && node.re) return [{ ...ANY, path: { kind: 'regexp', re: node.re } }];
      return [ANY];
    }
  }
}

/**
 * Where two rules can match the same request (`where`: a host name, "any host" or "hosts both regexes match"),
 * undefined when they cannot. `unknown` says why that is only possible: every overlap found passes through a
 * matcher this server did not evaluate. An overlap without one is preferred, a host name first.
 */
export function overlapOf(
  a: readonly Reach[],
  b: readonly Reach[],
  work: RegexWork = regexWork(),
): { where: string; unknown?: string } | undefined {
  let found: { where: string; unknown?: string } | undefined;
  for (const x of a)
    for (const y of b) {
      const both = reachAnd(x, y, work);
      if (!both) continue;
      const where =
        both.host.kind === 'name'
          ? both.host.value
          : both.host.kind === 'any'
            ? 'any host'
            : 'hosts both regexes match';
      const here = both.unknown ? { where, unknown: both.unknown } : { where };
      if (!both.unknown && both.host.kind === 'name') return here;
      if (!found || (found.unknown && !both.unknown)) found = here;
    }
  return found;
}

/** The Host and HostRegexp matchers of a rule, wherever they are (under `!` too). */
export function hostMatchers(node: RuleNode): Extract<RuleNode, { kind: 'matcher' }>[] {
  if (node.kind === 'matcher') return node.name === 'Host' || node.name === 'HostRegexp' ? [node] : [];
  if (node.kind === 'not') return hostMatchers(node.expr);
  return [...hostMatchers(node.left), ...hostMatchers(node.right)];
}
