/**
 * What routes_apply checks about the hosts a new router claims, before anything is written:
 * - the operator's host allowlist (routeHostsAllow, TRAEFIK_ROUTE_HOSTS_ALLOW): every Host/HostRegexp of the
 *   rule allowed, and no branch of the rule that can match any host;
 * - shadowing: which routers Traefik already has (any provider) the new one would take precedence over for
 *   an overlapping host and path, on a shared entrypoint and the same side of TLS. Traefik sorts each
 *   entrypoint's routers by priority only (pkg/muxer/http/mux.go: routes.Less compares priority; ties are in no
 *   defined order), the priority being the configured one or else the rule's length in bytes
 *   (docs: routing-configuration/http/router/rules-and-priority.md); TLS and non-TLS routers are built into
 *   separate handlers (pkg/server/router/router.go: getHTTPRouters(ctx, entryPoints, tls)).
 */
import { type ToolContext, ToolError } from '@ravenhelm/kit';
import { type Item, MAX_ITEMS } from '../backend.js';
import { ROUTE_NAME, type RouteFiles } from '../route-files.js';
import { type CompileBudget, compileBudget, LimitError, type RuleNode, readRule } from '../rules/parser.js';
import { hostMatchers, overlapOf, type Reach, type RegexWork, reachOf, regexWork } from '../rules/reach.js';
import { readRuleV2 } from '../rules/v2.js';
import type { TraefikServices } from './define.js';
import { priorityOf } from './shapes.js';

/** A routeHostsAllow entry: a host name, or `*.` and a domain (any depth below it, not the domain itself). */
export const ROUTE_HOST =
  /^(?=.{1,253}$)(\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const SETTING = 'TRAEFIK_ROUTE_HOSTS_ALLOW (backend.routeHostsAllow)';

const underDomain = (allow: readonly string[], domain: string) =>
  allow.some((e) => e.startsWith('*.') && (domain === e.slice(2) || domain.endsWith(e.slice(1))));

/** A Host() value (lower case; `*.x` is Traefik's one-label wildcard) within the allowlist. */
function nameAllowed(allow: readonly string[], host: string): boolean {
  if (allow.includes(host)) return true;
  if (host.startsWith('*.')) return underDomain(allow, host.slice(2));
  return allow.some((e) => e.startsWith('*.') && host.endsWith(e.slice(1)));
}

/**
 * What a HostRegexp can match, when that is provable by reading it: one host (`^api\.example\.com$`) or the
 * names under one domain (`^[a-z]+\.example\.com$`): anchored at both ends, no `|` outside a group, ending in
 * a literal `\.domain`. Anything else (quoting with \Q, POSIX classes, other flags) is not judged: undefined.
 */
export function regexpScope(pattern: string): { host: string } | { domain: string } | undefined {
  const p = pattern.replace(/^\(\?i\)/, '');
  if (!p.startsWith('^') || !p.endsWith('$') || p.includes('\\Q') || p.includes('[:')) return undefined;
  const body = p.slice(1, -1);
  // tokens: a literal host character (letters, digits, "-", or an escaped "." or "-"), or something else
  const lits: (string | undefined)[] = [];
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c === '\\') {
      const next = body[++i];
      if (next === undefined) return undefined; // the closing "$" was escaped: "\\$"
      lits.push(next === '.' || next === '-' ? next : undefined);
    } else if (c === '[') {
      let j = i + 1;
      if (body[j] === '^') j++;
      if (body[j] === ']') j++;
      while (j < body.length && body[j] !== ']') j += body[j] === '\\' ? 2 : 1;
      if (j >= body.length) return undefined;
      i = j;
      lits.push(undefined);
    } else {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (c === '|' && depth === 0) return undefined;
      lits.push(/^[A-Za-z0-9-]$/.test(c) ? c : undefined);
    }
  }
  if (depth !== 0) return undefined;
  let start = lits.length;
  while (start > 0 && lits[start - 1] !== undefined) start--;
  const tail = lits.slice(start).join('').toLowerCase();
  if (start === 0) return tail ? { host: tail } : undefined;
  return tail.length > 1 && tail.startsWith('.') ? { domain: tail.slice(1) } : undefined;
}

/** Refuses a rule that claims a host outside the allowlist, or any host; a no-op when no allowlist is set. */
export function checkRouteHosts(node: RuleNode, allow: readonly string[]): void {
  if (allow.length === 0) return;
  for (const m of hostMatchers(node)) {
    const arg = m.args[0] as string;
    if (m.name === 'Host') {
      const host = arg.toLowerCase().replace(/\.$/, '');
      if (!nameAllowed(allow, host)) {
        throw new ToolError(
          'ERR_NOT_ALLOWED',
          `host ${JSON.stringify(host)} is not allowed by ${SETTING}: ${allow.join(', ')}; use an allowed host, or ask the operator to add it`,
        );
      }
      continue;
    }
    const scope = regexpScope(arg);
    const ok = scope && ('host' in scope ? nameAllowed(allow, scope.host) : underDomain(allow, scope.domain));
    if (!ok) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `HostRegexp(${JSON.stringify(arg)}) can match hosts outside ${SETTING}: ${allow.join(', ')}; use Host(), or a regexp anchored ^...$ that ends with an allowed domain such as \`^[a-z]+\\.example\\.com$\``,
      );
    }
  }
  if (reachOf(node).some((r) => r.host.kind === 'any')) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      `the rule can match any host (a branch without Host(), or a negated one) while ${SETTING} is set; require an allowed Host() in every branch`,
    );
  }
}

export interface Shadowed {
  /** name@provider */
  name: string;
  priority: number;
  /** Where both can match: a host name, "any host", or "hosts both regexes match". */
  where: string;
  /** Set when they only may: part or all of the router's rule was not evaluated here, and why. */
  unknown?: string;
  /** A file of the route directory this server wrote. */
  owned: boolean;
}

export interface NewRouter {
  name: string;
  rule: string;
  priority?: number | undefined;
  entryPoints?: readonly string[] | undefined;
  tls?: object | undefined;
}

const MAX_OWNER_READS = 200;
const strings = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined);

/**
 * A router's reach, its rule read in its own syntax (ruleSyntax v2 through the v2 matchers). A matcher beyond
 * this server's bounds (regexp size) leaves only its own part unknown; a rule it cannot read at all (too long,
 * nested too deep, or not parsing here) may match anything, and says why.
 */
function reachOfItem(item: Item, work: RegexWork, compiling: CompileBudget): Reach[] {
  const any = (unknown: string): Reach[] => [{ host: { kind: 'any' }, path: { kind: 'any' }, unknown }];
  if (typeof item.rule !== 'string') return any('it has no rule');
  try {
    const rule = item.ruleSyntax === 'v2' ? readRuleV2(item.rule, compiling) : readRule(item.rule, compiling);
    return reachOf(rule, work);
  } catch (err) {
    return any(err instanceof LimitError ? err.limit : `it does not parse here: ${(err as Error).message}`);
  }
}

async function writtenByUs(item: Item, files: RouteFiles): Promise<boolean> {
  const [base, provider] = item.name.split('@') as [string, string | undefined];
  if (provider !== 'file' || !ROUTE_NAME.test(base)) return false;
  try {
    return (await files.read(base))?.owned === true;
  } catch {
    return false;
  }
}

/** The routers the new one would take precedence over, sorted by name; `partial` when Traefik has more than we read. */
export async function shadowedBy(
  router: NewRouter,
  node: RuleNode,
  entryPoints: readonly string[],
  ctx: ToolContext<TraefikServices>,
  files: RouteFiles,
): Promise<{ shadowed: Shadowed[]; partial: boolean; priority: number }> {
  const priority = router.priority ?? Buffer.byteLength(router.rule);
  const work = regexWork();
  const compiling = compileBudget();
  const mine = reachOf(node, work);
  const myEps = router.entryPoints?.length ? router.entryPoints : entryPoints;
  const { items, truncated } = await ctx.api.listAll('api/http/routers', {}, ctx.signal);
  const shadowed: Shadowed[] = [];
  let reads = 0; // files read to tell ours from others': at most MAX_OWNER_READS (the rest count as others')
  for (const item of items) {
    if (item.name === `${router.name}@file` || Array.isArray(item.parentRefs)) continue;
    if (Boolean(item.tls) !== Boolean(router.tls)) continue;
    const eps = strings(item.using ?? item.entryPoints) ?? entryPoints;
    const theirs = priorityOf(item);
    if (theirs > priority || !eps.some((e) => myEps.includes(e))) continue;
    const overlap = overlapOf(mine, reachOfItem(item, work, compiling), work);
    if (!overlap) continue;
    const owned = reads++ < MAX_OWNER_READS && (await writtenByUs(item, files));
    shadowed.push({ name: item.name, priority: theirs, ...overlap, owned });
  }
  shadowed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { shadowed, partial: truncated, priority };
}

/** One line per shadowed router, for the plan and the result. */
function describeShadowed(s: Shadowed, priority: number): string {
  const order =
    s.priority === priority
      ? `same priority ${priority}: Traefik's order is undefined`
      : `priority ${s.priority} < ${priority}`;
  const where = s.unknown
    ? `may conflict on ${s.where}: rule of router ${s.name} was not evaluated (${s.unknown})`
    : s.where;
  return `${s.name} (${order}; ${where})${s.owned ? ', written by this server' : ''}`;
}

/** How many outranked routers a refusal or a plan names one by one; the rest are counted. */
const LISTED = 10;

function listed(list: readonly Shadowed[], priority: number): string {
  const named = list.slice(0, LISTED).map((s) => describeShadowed(s, priority));
  if (list.length > LISTED) named.push(`and ${list.length - LISTED} more`);
  return named.join('; ');
}

/**
 * Refuses outranking a router this server did not write unless the call names it in `shadows`; otherwise the
 * line the plan and the result show (empty when nothing is outranked). A router that only may be outranked (its
 * rule not evaluated here) is refused the same way, as every other doubt of this check is (two regexps, a
 * negation): taking another team's traffic needs the caller to name the router; the refusal says it is a "may".
 */
export function acceptShadowing(found: Awaited<ReturnType<typeof shadowedBy>>, accepted: readonly string[]): string {
  const { shadowed, partial, priority } = found;
  const refused = shadowed.filter((s) => !s.owned && !accepted.includes(s.name));
  if (refused.length > 0) {
    const fix =
      refused.length > 20
        ? 'at most 20 can be accepted in shadows: narrow the rule or set a lower priority'
        : `narrow the rule or set a lower priority; or, to take that traffic on purpose, pass shadows: ${JSON.stringify(refused.map((s) => s.name))}`;
    const unsure = refused.filter((s) => s.unknown).length;
    const verb = unsure === refused.length ? 'may take' : 'would take';
    const some = unsure > 0 && unsure < refused.length ? ` (${unsure} of them only may)` : '';
    throw new ToolError(
      'ERR_CONFLICT',
      `the new router (priority ${priority}) ${verb} precedence over ${refused.length} router(s) this server did not write${some}: ${listed(refused, priority)}. To fix: ${fix}`,
    );
  }
  const partly = partial ? ` (only the first ${MAX_ITEMS} routers of Traefik were checked)` : '';
  return shadowed.length > 0 ? `takes precedence over: ${listed(shadowed, priority)}${partly}` : '';
}
