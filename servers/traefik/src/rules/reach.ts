/**
 * What requests a rule can match, over-approximated by host and path: a list of alternatives
 * `{ host, path }`, each "any" or a constraint. Used to tell whether two routers can match the same request
 * (one shadows the other when its priority is at least as high) and whether a rule stays within the host
 * names an operator allows. Over-approximation means: when unsure, assume the rule can match more.
 */
import type { RE2JS } from 're2js';
import { hostMatch } from './matcher.js';
import type { RuleNode } from './parser.js';

type HostC = { kind: 'any' } | { kind: 'name'; value: string } | { kind: 'regexp'; re: RE2JS };
type PathC = { kind: 'any' } | { kind: 'exact' | 'prefix'; value: string } | { kind: 'regexp'; re: RE2JS };
export interface Reach {
  host: HostC;
  path: PathC;
}

const ANY: Reach = { host: { kind: 'any' }, path: { kind: 'any' } };
/** Past this many alternatives a rule is taken to match anything (bounded work on any rule). */
const MAX_ALTERNATIVES = 64;

const matches = (re: RE2JS, text: string) => re.matcher(text).find();

/** The intersection of two host constraints; undefined when it is empty. */
function hostAnd(a: HostC, b: HostC): HostC | undefined {
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

function pathAnd(a: PathC, b: PathC): PathC | undefined {
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

function reachAnd(a: Reach, b: Reach): Reach | undefined {
  const host = hostAnd(a.host, b.host);
  const path = host && pathAnd(a.path, b.path);
  return host && path ? { host, path } : undefined;
}

/** The alternatives of a parsed rule. `!X` can match almost anything: it is taken as any host, any path. */
export function reachOf(node: RuleNode): Reach[] {
  switch (node.kind) {
    case 'or': {
      const all = [...reachOf(node.left), ...reachOf(node.right)];
      return all.length > MAX_ALTERNATIVES ? [ANY] : all;
    }
    case 'and': {
      const out: Reach[] = [];
      for (const l of reachOf(node.left))
        for (const r of reachOf(node.right)) {
          const both = reachAnd(l, r);
          if (both) out.push(both);
          if (out.length > MAX_ALTERNATIVES) return [ANY];
        }
      return out;
    }
    case 'not':
      return [ANY];
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

/** Where two rules can match the same request: a host name, or "any host"; undefined when they cannot. */
export function overlapOf(a: readonly Reach[], b: readonly Reach[]): string | undefined {
  let found: string | undefined;
  for (const x of a)
    for (const y of b) {
      const both = reachAnd(x, y);
      if (!both) continue;
      if (both.host.kind === 'name') return both.host.value;
      found ??= both.host.kind === 'any' ? 'any host' : 'hosts both regexes match';
    }
  return found;
}

/** The Host and HostRegexp matchers of a rule, wherever they are (under `!` too). */
export function hostMatchers(node: RuleNode): Extract<RuleNode, { kind: 'matcher' }>[] {
  if (node.kind === 'matcher') return node.name === 'Host' || node.name === 'HostRegexp' ? [node] : [];
  if (node.kind === 'not') return hostMatchers(node.expr);
  return [...hostMatchers(node.left), ...hostMatchers(node.right)];
}
