import { ownRecord, ToolError } from '@ravenhelm/kit';
import { RE2JS } from 're2js';
import { z } from 'zod';
import type { Item } from '../backend.js';
import { redactRouterError, redactRule, redactText } from '../redact.js';
import {
  canonicalHeaderKey,
  deniedEncoding,
  type EntryPointHttp,
  explainRule,
  malformedHost,
  matchRule,
  type RuleRequest,
  requestOf,
} from '../rules/matcher.js';
import { cidrContains, compileBudget, parseCidr, parseClientIp, parseRule, type RuleNode } from '../rules/parser.js';
import { parseRuleV2 } from '../rules/v2.js';
import { defineTool, type TraefikServices } from './define.js';
import { MAX_CHAIN_DEPTH, Priority, priorityOut, priorityRank, qualify, toService } from './shapes.js';

const Verdict = z.enum(['pass', 'refuse', 'redirect', 'unknown']);
const Step = z.object({ name: z.string(), type: z.string(), verdict: Verdict, note: z.string() });

/** The first five names, then how many more. */
const fiveOf = (names: readonly string[]) =>
  `${names.slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}`;

const HeaderValue = z.union([z.string().max(4096), z.array(z.string().max(4096)).max(20)]);

/**
 * RE2 work one call may do: the sum, over the regex matchers it runs, of program size times input length
 * (about a second in re2js). Each regexp is bounded (parser.ts), but hundreds of them on a 4 kB path add up.
 */
const REGEX_BUDGET = 30_000_000;

/** The most input a regex matcher of `node` can read for this request, times its program size. */
function regexWork(node: RuleNode, req: RuleRequest): number {
  if (node.kind === 'not') return regexWork(node.expr, req);
  if (node.kind !== 'matcher') return regexWork(node.left, req) + regexWork(node.right, req);
  if (!node.re) return 0;
  const total = (values: readonly string[] | undefined) => (values ?? []).reduce((n, v) => n + v.length + 1, 0);
  const [a] = node.args;
  const input =
    node.name === 'HostRegexp'
      ? Math.max(req.host.length, req.muxHost.length)
      : node.name === 'PathRegexp'
        ? req.path.length
        : node.name === 'HeaderRegexp'
          ? total(req.headers.get(canonicalHeaderKey(a ?? '')))
          : total(req.query.get(node.v2?.key ?? a ?? '')) + (a?.length ?? 0) + 1;
  return node.re.programSize() * (input + 1);
}

interface Candidate {
  item: Item;
  node: RuleNode;
  /** Exact, for ordering: priorities near Go's MaxInt are equal as doubles. */
  rank: bigint;
}

/** An ipAllowList's ipStrategy as Traefik's API shows it (pkg/config/dynamic IPStrategy). */
interface IpStrategy {
  depth?: number;
  excludedIPs?: string[];
  ipv6Subnet?: number;
  cloudflareDepth?: number;
}

const inRange = (range: string, ip: { family: 4 | 6; bits: bigint }) => {
  try {
    return cidrContains(parseCidr(range), ip);
  } catch {
    return false;
  }
};

/** An IPv6 address reduced to its first `subnet` bits (ipStrategy.ipv6Subnet); IPv4 as it is. */
function masked(ip: { family: 4 | 6; bits: bigint }, subnet: number | undefined) {
  if (ip.family !== 6 || subnet === undefined || subnet <= 0 || subnet >= 128) return ip;
  const drop = BigInt(128 - subnet);
  return { family: ip.family, bits: (ip.bits >> drop) << drop };
}

/**
 * The client IP an ipAllowList checks, chosen as Traefik's IPStrategy.Get and pkg/ip/strategy.go choose it:
 * without a strategy the connection's address (clientIp); with `depth` the depth-th entry from the right of
 * the first X-Forwarded-For header (none when it has fewer); else with `excludedIPs` the first entry from
 * the right that is not excluded. An empty choice is refused by the middleware (403).
 */
function clientIpOf(
  strategy: IpStrategy | undefined,
  req: RuleRequest,
): { ip: string; from?: string; ipv6Subnet?: number } | { ask: string } {
  const subnet = typeof strategy?.ipv6Subnet === 'number' ? { ipv6Subnet: strategy.ipv6Subnet } : {};
  const depth = Number(strategy?.depth ?? 0);
  const excluded = strategy?.excludedIPs ?? [];
  if (depth <= 0 && Number(strategy?.cloudflareDepth ?? 0) > 0) {
    return { ask: 'the client IP comes from Cf-Connecting-Ip (cloudflareDepth), which this check does not model' };
  }
  if (depth > 0 || excluded.length > 0) {
    const xff = req.headers.get('X-Forwarded-For')?.[0];
    if (xff === undefined) {
      return {
        ask: `the client IP comes from X-Forwarded-For (${depth > 0 ? `depth ${depth}` : `excludedIPs ${excluded.join(', ')}`}); give headers {"X-Forwarded-For": "..."} to check`,
      };
    }
    const entries = xff.split(',').map((e) => e.trim());
    if (depth > 0) {
      const ip = entries.length < depth ? '' : (entries[entries.length - depth] as string);
      return { ip, from: `X-Forwarded-For depth ${depth}`, ...subnet };
    }
    const notExcluded = entries.findLast((e) => {
      if (e === '') return false;
      const ip = parseClientIp(e);
      return !(ip && excluded.some((r) => inRange(r, ip)));
    });
    return { ip: notExcluded ?? '', from: 'X-Forwarded-For, excludedIPs skipped' };
  }
  if (!req.clientIp) return { ask: 'give clientIp to check' };
  return { ip: req.clientIp, ...subnet };
}

/**
 * The status of a redirectScheme/redirectRegex answer (pkg/middlewares/redirect/redirect.go moveHandler): 302,
 * or 307 when the method is not GET; with `permanent`, 301, or 308 when the method is not GET.
 */
function redirectStatus(cfg: Record<string, unknown>, req: RuleRequest): string {
  const get = req.method === 'GET';
  if (cfg.permanent === true) return get ? '301 Moved Permanently:' : '308 Permanent Redirect:';
  return get ? '302 Found:' : '307 Temporary Redirect:';
}

/** What a middleware would do with this request, for the types whose decision depends only on the request. */
function judge(mw: Item | undefined, name: string, req: RuleRequest, scheme: string): z.infer<typeof Step> {
  if (!mw)
    return { name, type: 'missing', verdict: 'refuse', note: 'the middleware does not exist; the router is disabled' };
  const type = String(mw.type ?? 'unknown');
  const cfg = (Object.entries(mw).find(([k]) => k.toLowerCase() === type)?.[1] ?? {}) as Record<string, unknown>;
  const step = (verdict: z.infer<typeof Verdict>, note: string) => ({ name: mw.name, type, verdict, note });
  switch (type) {
    case 'ipallowlist':
    case 'ipwhitelist': {
      const ranges = (cfg.sourceRange as string[] | undefined) ?? [];
      const source = clientIpOf(cfg.ipStrategy as IpStrategy | undefined, req);
      if ('ask' in source) return step('unknown', `allows only ${ranges.join(', ')}; ${source.ask}`);
      const ip = parseClientIp(source.ip);
      const allowed = ip !== undefined && ranges.some((r) => inRange(r, masked(ip, source.ipv6Subnet)));
      const who = source.from ? `${source.ip || 'no client IP'} (${source.from})` : source.ip;
      return allowed
        ? step('pass', `${who} is in ${ranges.join(', ')}`)
        : step('refuse', `403 Forbidden: ${who} is not in ${ranges.join(', ')}`);
    }
    case 'basicauth':
    case 'digestauth': {
      const want = type === 'basicauth' ? 'basic' : 'digest';
      const auth = req.headers.get('Authorization')?.[0] ?? '';
      return auth.toLowerCase().startsWith(`${want} `)
        ? step('unknown', `credentials sent; Traefik checks them against its ${want} users`)
        : step('refuse', `401 Unauthorized: no ${want} Authorization header`);
    }
    case 'forwardauth':
      return step(
        'unknown',
        `the auth server at ${redactText(String(cfg.address ?? '?'))} decides (its non-2xx answers are returned)`,
      );
    case 'redirectscheme': {
      const target = String(cfg.scheme ?? 'https');
      return target === scheme
        ? step('pass', `already ${scheme}`)
        : step('redirect', `${redirectStatus(cfg, req)} redirects to ${target}://`);
    }
    case 'redirectregex': {
      try {
        const re = RE2JS.compile(String(cfg.regex ?? ''));
        return re.matcher(req.rawUrl).find()
          ? step('redirect', `${redirectStatus(cfg, req)} matches ${String(cfg.regex)}`)
          : step('pass', 'regex does not match');
      } catch {
        return step('unknown', 'its regex is not RE2');
      }
    }
    case 'chain':
      return step('unknown', `chains nest deeper than the ${MAX_CHAIN_DEPTH} levels followed here; its members decide`);
    case 'ratelimit':
    case 'inflightreq':
      return step('pass', 'passes unless the limit is reached (then 429/503)');
    default:
      return step('pass', 'does not refuse requests by itself');
  }
}

/** A HostSNI(`value`) matcher alone, as written (backquotes or double quotes, any spacing, any case of the name). */
const hostSniOnly = (rule: string) => /^\s*hostsni\s*\(\s*[`"]([^`"]*)[`"]\s*\)\s*$/i.exec(rule)?.[1];

/**
 * TCP routers that take the connection before HTTP routing: on an entrypoint with both, TCP routers apply first
 * and HTTP routers only get what none of them matches (docs: routing-configuration/tcp/router/rules-and-priority.md).
 * `sure`: an enabled one on these entrypoints, on the request's side of TLS, whose rule is HostSNI(`*`) alone (for
 * TLS also HostSNI of the request's host): it takes the connection. `maybe`: the others there whose rule could
 * (a HostSNI of `*` or of the host, or a HostSNIRegexp, with other matchers), named as not evaluated here.
 */
async function tcpFirst(
  api: TraefikServices['api'],
  entryPoints: readonly string[],
  tls: boolean,
  host: string,
  signal: AbortSignal,
): Promise<{ sure?: string; maybe: string[] }> {
  const { items } = await api.listAll('api/tcp/routers', {}, signal);
  const maybe: string[] = [];
  for (const item of items) {
    const on = (item.using ?? item.entryPoints) as string[] | undefined;
    if (entryPoints.length > 0 && on && !on.some((e) => entryPoints.includes(e))) continue;
    if (item.status === 'disabled' || Boolean(item.tls) !== tls || typeof item.rule !== 'string') continue;
    const only = hostSniOnly(item.rule);
    if (only === '*' || (tls && only?.toLowerCase() === host))
      return { sure: `${item.name} (${redactRule(item.rule)})`, maybe };
    if (only !== undefined) continue;
    const rule = item.rule.toLowerCase();
    if (/hostsniregexp/.test(rule) || rule.includes('`*`') || rule.includes('"*"') || (tls && rule.includes(host)))
      maybe.push(item.name);
  }
  return { maybe };
}

export const requestsDiagnose = defineTool({
  name: 'requests_diagnose',
  toolset: 'requests',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Diagnose a request',
  description:
    'Which router a request matches (v2/v3 rules, priority), its middlewares and service health, why 404/401/403/503.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    url: z
      .string()
      .url()
      .max(4096)
      .refine((u) => /^https?:/i.test(u), 'must be an http:// or https:// URL')
      .describe('Request URL'),
    method: z
      .string()
      .refine((m) => /^[A-Za-z]{1,16}$/.test(m), 'letters only')
      .default('GET')
      .describe('HTTP method'),
    // a header named __proto__ is a valid HTTP token: every own key kept (z.record drops that one)
    headers: ownRecord(HeaderValue, { key: z.string().max(256) }).optional(),
    clientIp: z.string().max(64).optional().describe('Source address for IP allowlists'),
    entryPoint: z.string().max(64).optional().describe('Entrypoint (default: by URL port)'),
  }),
  output: z.object({
    router: z.string().optional(),
    rule: z.string().optional(),
    priority: Priority.optional(),
    ties: z.array(z.string()),
    middlewares: z.array(z.string()),
    service: z.object({ name: z.string(), status: z.string(), up: z.number(), total: z.number() }).optional(),
    status: z.number().optional(),
    cause: z.string(),
    nearMisses: z.array(z.object({ router: z.string(), failed: z.array(z.string()) })),
    skipped: z.array(z.string()),
  }),
  handler: async (input, { api, signal }) => {
    if (input.clientIp && !parseClientIp(input.clientIp)) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `clientIp ${JSON.stringify(input.clientIp)} is not an IPv4 or IPv6 address`,
      );
    }
    const scheme = new URL(input.url).protocol.replace(':', '');
    const { items } = await api.listAll('api/http/routers', {}, signal);
    // Without an explicit entrypoint, the URL's port picks the entrypoints listening on it (when any does:
    // behind a port mapping none may, and then every entrypoint is considered). An address is
    // `[host]:port[/tcp|/udp]` (docs: install-configuration/entrypoints.md), and HTTP is served over TCP.
    const { items: eps } = await api.listAll('api/entrypoints', {}, signal, 500);
    if (input.entryPoint && !eps.some((e) => e.name === input.entryPoint)) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `entryPoint ${JSON.stringify(input.entryPoint)} does not exist; Traefik has ${eps.map((e) => e.name).join(', ') || 'no entrypoints'} (or omit entryPoint to pick by the URL's port)`,
      );
    }
    let entryPoints = input.entryPoint ? [input.entryPoint] : [];
    if (!input.entryPoint) {
      const url = new URL(input.url);
      const port = url.port || (scheme === 'https' ? '443' : '80');
      const listensOn = new RegExp(`:${port}(/tcp)?$`, 'i');
      entryPoints = eps.filter((e) => listensOn.test(String(e.address ?? ''))).map((e) => e.name);
    }
    // The entrypoint's http settings change the path and query before routing (normalizePath, sanitizePath,
    // semicolons in the query); with several entrypoints on the port, the first one's.
    const epHttp = eps.find((e) => entryPoints.includes(e.name))?.http as EntryPointHttp | undefined;
    const req = requestOf({ ...input, entryPoint: epHttp });
    const tcp = await tcpFirst(api, entryPoints, scheme === 'https', req.host, signal);
    if (tcp.sure) {
      return {
        ties: [],
        middlewares: [],
        cause: `the connection goes to TCP router ${tcp.sure} before any HTTP router: on a shared entrypoint TCP routers apply first, and its rule takes every ${scheme === 'https' ? `TLS connection for ${req.host}` : 'non-TLS connection'}`,
        nearMisses: [],
        skipped: [],
      };
    }
    const hostRefusal = malformedHost(input.headers);
    if (hostRefusal) {
      return { ties: [], middlewares: [], status: 400, cause: hostRefusal, nearMisses: [], skipped: [] };
    }
    if (req.badPath) {
      return {
        ties: [],
        middlewares: [],
        status: 400,
        cause:
          '400: the path has a % not followed by two hex digits; Go refuses the request before Traefik routes it (write a literal % as %25)',
        nearMisses: [],
        skipped: [],
      };
    }
    const skipped: string[] = [];
    const MAX_SKIPPED = 20;
    const active: Candidate[] = [];
    const disabled: Candidate[] = [];
    // A router Traefik serves (not disabled) whose rule this server cannot evaluate (beyond its own bounds:
    // nesting, length, regexp size) may still take the request: the answer must not name another router, or
    // a 404, as certain. A disabled one failed in Traefik too and serves nothing.
    const unevaluated: { name: string; rank: bigint }[] = [];
    const compiling = compileBudget();
    for (const item of items) {
      const on = (item.using ?? item.entryPoints) as string[] | undefined;
      if (entryPoints.length > 0 && on && !on.some((e) => entryPoints.includes(e))) continue;
      // A router with TLS serves HTTPS only; one without serves plain HTTP only.
      if (Boolean(item.tls) !== (scheme === 'https')) continue;
      if (typeof item.rule !== 'string' || Array.isArray(item.parentRefs)) continue;
      let node: RuleNode;
      try {
        node = item.ruleSyntax === 'v2' ? parseRuleV2(item.rule, compiling) : parseRule(item.rule, compiling);
      } catch (err) {
        const served = item.status !== 'disabled';
        if (served) unevaluated.push({ name: item.name, rank: priorityRank(item) });
        if (skipped.length < MAX_SKIPPED)
          skipped.push(`${item.name}: ${served ? 'not evaluated here: ' : ''}${(err as Error).message}`);
        continue;
      }
      const rank = priorityRank(item);
      (item.status === 'disabled' ? disabled : active).push({ item, node, rank });
    }
    active.sort((a, b) => (a.rank === b.rank ? 0 : a.rank > b.rank ? -1 : 1));
    // Highest priority first, each router's regex work counted twice (matched, then explained if it misses);
    // a router that would overrun the budget stays unevaluated (one without regexes always fits), and a
    // disabled one that would is not looked at.
    let work = 0;
    const withinBudget = (c: Candidate) => {
      const mine = 2 * regexWork(c.node, req);
      if (work + mine > REGEX_BUDGET) return false;
      work += mine;
      return true;
    };
    const evaluated = active.filter((c) => {
      if (withinBudget(c)) return true;
      unevaluated.push({ name: c.item.name, rank: c.rank });
      if (skipped.length < MAX_SKIPPED)
        skipped.push(`${c.item.name}: not evaluated here: regex work beyond this call's budget`);
      return false;
    });
    disabled.splice(0, disabled.length, ...disabled.filter(withinBudget));
    const matches = evaluated.filter((c) => matchRule(c.node, req));
    const nearMisses = evaluated
      .filter((c) => !matches.includes(c))
      .map((c) => ({ c, steps: explainRule(c.node, req) }))
      .filter(({ steps }) => steps.some((s) => s.matched && /^Host/.test(s.matcher)))
      .slice(0, 5)
      .map(({ c, steps }) => ({
        router: c.item.name,
        failed: steps.filter((s) => !s.matched).map((s) => redactRule(s.matcher)),
      }));
    const winner = matches[0];
    if (!winner) {
      const dead = disabled.find((c) => matchRule(c.node, req));
      const cause = dead
        ? `404: router ${dead.item.name} would match but is disabled: ${((dead.item.error as string[]) ?? []).map(redactRouterError).join('; ')}`
        : `404: no ${scheme === 'https' ? 'TLS ' : 'non-TLS '}router${entryPoints.length ? ` on ${entryPoints.join(', ')}` : ''} matches ${req.method} ${req.host}${req.path}`;
      const notEvaluated = [...tcp.maybe, ...unevaluated.map((u) => u.name)];
      const unless = notEvaluated.length ? `; unless a router not evaluated here matches: ${fiveOf(notEvaluated)}` : '';
      return { ties: [], middlewares: [], status: 404, cause: cause + unless, nearMisses, skipped };
    }
    const outranking = [...tcp.maybe, ...unevaluated.filter((u) => u.rank >= winner.rank).map((u) => u.name)];
    // Traefik leaves a disabled router out of the muxer (pkg/server/router/router.go: AddError, continue), so
    // the request falls through to the winner; the router meant to take it is named with its errors.
    const passedOver = disabled.find((c) => c.rank >= winner.rank && matchRule(c.node, req));
    const caveat =
      (outranking.length
        ? `; but router(s) ${fiveOf(outranking)} (not evaluated here${tcp.maybe.length ? '; TCP routers apply before HTTP ones' : ''}) have priority >= ${winner.rank} and take the request if their rule matches it`
        : '') +
      (passedOver
        ? `; router ${passedOver.item.name} (priority ${passedOver.rank}) also matches but is disabled, so it serves nothing: ${((passedOver.item.error as string[]) ?? []).map(redactRouterError).join('; ')}`
        : '');
    const ties = matches.filter((c) => c !== winner && c.rank === winner.rank).map((c) => c.item.name);
    const middlewares: z.infer<typeof Step>[] = [];
    // A chain runs its middlewares in order, their names qualified by the chain's provider
    // (pkg/middlewares/chain/chain.go New: provider.GetQualifiedName), so each member is judged in its place.
    const walk = async (names: string[], owner: string, within: string[]): Promise<void> => {
      for (const m of names) {
        const name = qualify(m, owner);
        const mw = await api.find('api/http/middlewares', name, signal);
        const members = (mw?.chain as { middlewares?: unknown } | undefined)?.middlewares;
        if (
          mw?.type === 'chain' &&
          Array.isArray(members) &&
          !within.includes(name) &&
          within.length < MAX_CHAIN_DEPTH
        ) {
          await walk(members.map(String), name, [...within, name]);
          continue;
        }
        const step = judge(mw, name, req, scheme);
        middlewares.push(within.length ? { ...step, name: [...within, step.name].join(' > ') } : step);
      }
    };
    await walk((winner.item.middlewares as string[] | undefined) ?? [], winner.item.name, []);
    const base = {
      router: winner.item.name,
      rule: redactRule(winner.item.rule as string),
      priority: priorityOut(winner.rank),
      ties,
      middlewares: middlewares.map((s) => `${s.name} (${s.type}): ${s.verdict}: ${s.note}`),
      nearMisses: [],
      skipped,
    };
    // The entrypoint's encodedCharacters check runs before the router's middlewares (pkg/server/router/router.go).
    const denied = deniedEncoding(req.escapedPath, epHttp);
    if (denied) {
      const ep = eps.find((e) => entryPoints.includes(e.name))?.name;
      return {
        ...base,
        status: 400,
        cause: `400: the path holds ${denied.encoding}, which entrypoint ${ep} refuses (http.encodedCharacters.${denied.option} is not true); Traefik answers 400 Bad Request before the router's middlewares${caveat}`,
      };
    }
    const stop = middlewares.find((s) => s.verdict === 'refuse' || s.verdict === 'redirect');
    if (stop) {
      const code = Number(/^(\d{3})/.exec(stop.note)?.[1] ?? (stop.verdict === 'redirect' ? 302 : 403));
      return { ...base, status: code, cause: `${code}: middleware ${stop.name} (${stop.type}): ${stop.note}${caveat}` };
    }
    const svcName = qualify(String(winner.item.service ?? ''), winner.item.name);
    const svcItem = await api.find('api/http/services', svcName, signal);
    if (!svcItem) return { ...base, status: 404, cause: `404: the service ${svcName} does not exist${caveat}` };
    const svc = toService(svcItem);
    const service = { name: svc.name, status: svc.status, up: svc.up, total: svc.servers.length };
    if (svc.type === 'loadbalancer' && svc.servers.length > 0 && svc.up === 0) {
      return {
        ...base,
        service,
        status: 503,
        cause: `503: no server of ${svc.name} is UP (health checks fail)${caveat}`,
      };
    }
    if (svc.type === 'loadbalancer' && svc.servers.length === 0) {
      return { ...base, service, status: 503, cause: `503: ${svc.name} has no servers${caveat}` };
    }
    const unsure =
      middlewares.some((s) => s.verdict === 'unknown') || svc.type !== 'loadbalancer' || outranking.length > 0;
    const note = ties.length
      ? `; same priority as ${ties.join(', ')}: providers.precedence decides if set, else the order between them is not guaranteed`
      : '';
    return {
      ...base,
      service,
      cause: `${unsure ? 'likely forwarded' : 'forwarded'} to ${svc.name} (${svc.up}/${svc.servers.length} servers UP); a 502 would come from the backend itself${note}${caveat}`,
    };
  },
});
