import { pageByKey, type ToolContext, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { type CompileBudget, compileBudget, hostCallsOf, hostsOf, LimitError, readRule } from '../rules/parser.js';
import { hostCallsOfV2, readRuleV2 } from '../rules/v2.js';
import type { ProbeResult } from '../tls-probe.js';
import { defineTool, type TraefikServices } from './define.js';
import { Cursor } from './shapes.js';

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const Host = z
  .string()
  .max(253)
  .refine((h) => HOSTNAME.test(h) || /^[\d.]+$/.test(h) || /^[0-9a-fA-F:]+$/.test(h), 'must be a hostname or IP')
  .describe('Host or IP');

const Chain = z.array(z.object({ subject: z.string(), issuer: z.string(), validTo: z.string() }));

/** A tls.probeAllow entry: a host name or IP, or `*.` and a domain, with an optional port. */
export const PROBE_TARGET = /^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/;

function allowedBy(entry: string, host: string, port: number): boolean {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry) ?? /^([^:]+)(?::(\d+))?$/.exec(entry);
  if (!m) return false;
  if (m[2] !== undefined && Number(m[2]) !== port) return false;
  const pattern = (m[1] as string).replace(/\.$/, '');
  return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern;
}

/**
 * The names a TLS router serves: its rule's Host() names and the lower-cased names of its `tls.domains`;
 * undefined for a router without TLS or rule. `unread` says why the rule was not read whole: beyond this
 * server's bounds (its Host() names are then taken from the rule's text, as Traefik's ParseDomains takes them
 * from the whole rule), or not parsing (no Host() name taken).
 */
function tlsNamesOf(
  r: Record<string, unknown>,
  compiling: CompileBudget,
): { ruleHosts: string[]; domains: string[]; unread?: { overLimit: boolean; reason: string } } | undefined {
  if (!r.tls || typeof r.rule !== 'string') return undefined;
  const domains = ((r.tls as { domains?: { main?: string; sans?: string[] }[] }).domains ?? [])
    .flatMap((d) => [...(d.main ? [d.main] : []), ...(d.sans ?? [])])
    .map((d) => d.toLowerCase());
  const v2 = r.ruleSyntax === 'v2';
  try {
    // a ruleSyntax v2 rule takes several hosts per Host() (pkg/muxer/http/mux.go ParseDomains reads both syntaxes);
    // a regexp beyond this server's bounds is left unread, which no Host() name depends on
    return { ruleHosts: hostsOf(v2 ? readRuleV2(r.rule, compiling) : readRule(r.rule, compiling)), domains };
  } catch (err) {
    if (!(err instanceof LimitError)) return { ruleHosts: [], domains, unread: { overLimit: false, reason: '' } };
    const hosts = (v2 ? hostCallsOfV2(r.rule) : hostCallsOf(r.rule)) ?? [];
    return { ruleHosts: hosts, domains, unread: { overLimit: true, reason: err.limit } };
  }
}

/**
 * Where certificates_inspect may connect: Traefik's TLS address, the host names its TLS routers serve
 * (on 443 or the TLS address's port), and what the operator allows (tls.probeAllow). Anything else
 * would let any reader probe arbitrary hosts and ports from the server's network (a port scanner: a
 * refused port and a port that speaks no TLS answer differently). Refused before any connection.
 */
async function checkProbeTarget(host: string, port: number, ctx: ToolContext<TraefikServices>): Promise<void> {
  const h = host
    .toLowerCase()
    .replace(/\.$/, '')
    .replace(/^\[|\]$/g, '');
  const { tlsAddress, probeAllow } = ctx;
  if (h === tlsAddress.host.toLowerCase() && port === tlsAddress.port) return;
  if (probeAllow.some((entry) => allowedBy(entry, h, port))) return;
  if (port === 443 || port === tlsAddress.port) {
    const { items } = await ctx.api.listAll('api/http/routers', {}, ctx.signal);
    const compiling = compileBudget();
    for (const r of items) {
      // (a rule that does not parse names no host; its TLS domains still count)
      const names = tlsNamesOf(r, compiling);
      if (names && [...names.ruleHosts, ...names.domains].some((n) => n.toLowerCase() === h)) return;
    }
  }
  throw new ToolError(
    'ERR_NOT_ALLOWED',
    `certificates_inspect connects only to Traefik's TLS address (${tlsAddress.host}:${tlsAddress.port}), the host names its TLS routers serve (on port 443 or ${tlsAddress.port}) and the targets an operator allows (tls.probeAllow, TRAEFIK_TLS_PROBE_ALLOW); ${h}:${port} is none of them. To check the certificate Traefik serves for a name, pass host ${tlsAddress.host}, port ${tlsAddress.port} and that name as servername`,
  );
}

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true } as const;

export const certificatesInspect = defineTool({
  name: 'certificates_inspect',
  toolset: 'certificates',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Inspect a TLS certificate',
  description: 'TLS handshake with SNI: chain, SANs, issuer, days to expiry, and whether it validates (why not).',
  annotations: READ,
  input: z.object({
    host: Host,
    port: z.number().int().min(1).max(65535).default(443),
    servername: Host.optional().describe('SNI name (default: host)'),
  }),
  output: z.object({
    servername: z.string(),
    chain: Chain,
    sans: z.array(z.string()),
    issuer: z.string(),
    validTo: z.string(),
    daysToExpiry: z.number(),
    validates: z.boolean(),
    reason: z.string().optional(),
  }),
  handler: async ({ host, port, servername }, ctx) => {
    const { tls, signal } = ctx;
    await checkProbeTarget(host, port, ctx);
    const { host: _h, port: _p, ...result } = await tls.probe(host, port, servername ?? host, signal);
    return { ...result, chain: result.chain.map(({ subject, issuer, validTo }) => ({ subject, issuer, validTo })) };
  },
});

const SWEEP_CONCURRENCY = 5;

export const certificatesSweep = defineTool({
  name: 'certificates_sweep',
  toolset: 'certificates',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Sweep router certificates',
  description: "Probe every TLS router's Host() names; list certificates expiring within N days or failing.",
  annotations: READ,
  input: z.object({
    withinDays: z.number().int().min(0).max(3650).default(30).describe('Expiry horizon in days'),
    maxHosts: z.number().int().min(1).max(200).default(50),
    cursor: Cursor,
  }),
  output: z.object({
    checked: z.number(),
    hosts: z.number(),
    expiring: z.array(
      z.object({
        host: z.string(),
        routers: z.array(z.string()),
        daysToExpiry: z.number().optional(),
        validTo: z.string().optional(),
        validates: z.boolean(),
        reason: z.string().optional(),
      }),
    ),
    skipped: z.array(z.string()),
    truncated: z.boolean(),
    nextCursor: z.string().optional(),
  }),
  handler: async ({ withinDays, maxHosts, cursor }, { api, tls, tlsAddress, sweepBudgetMs, signal }) => {
    const { items } = await api.listAll('api/http/routers', {}, signal);
    const byHost = new Map<string, string[]>();
    const skipped: string[] = [];
    const compiling = compileBudget();
    for (const r of items) {
      const names = tlsNamesOf(r, compiling);
      if (!names) continue;
      if (names.unread && !names.unread.overLimit) {
        skipped.push(`${r.name}: rule does not parse`);
        continue;
      }
      if (names.unread) {
        const read = names.ruleHosts.length ? names.ruleHosts.join(', ') : 'none';
        skipped.push(
          `${r.name}: rule not evaluated (over this server's limits: ${names.unread.reason}); the Host() names read from its text: ${read}`,
        );
      }
      // one probe per name as Traefik picks certificates: lower case, no trailing dot (tls-probe.ts drops it)
      for (const h of new Set([...names.ruleHosts, ...names.domains].map((n) => n.toLowerCase().replace(/\.$/, '')))) {
        if (h.includes('*')) {
          if (!skipped.includes(`${h}: wildcard, no single name to probe`))
            skipped.push(`${h}: wildcard, no single name to probe`);
          continue;
        }
        byHost.set(h, [...(byHost.get(h) ?? []), r.name]);
      }
    }
    // paged by host name (pageByKey): a host that comes or goes before the cursor between two pages shifts
    // nothing, so none is skipped or probed twice. Probes start in name order and stop starting when the time
    // budget is spent: the cursor continues after the last host whose probe started.
    const entries = [...byHost.keys()].map((h) => ({ key: h, item: h }));
    const paging = { tool: 'certificates_sweep', cursor, maxBytes: Number.POSITIVE_INFINITY };
    const { items: todo, total, changed } = pageByKey(entries, { ...paging, limit: maxHosts });
    if (changed) {
      skipped.push(
        'the hosts before the cursor changed since the previous page: any added there are not probed on this pass; omit the cursor to sweep them all',
      );
    }
    const results: { host: string; result?: ProbeResult; error?: string }[] = [];
    let next = 0;
    const stopAt = Date.now() + sweepBudgetMs;
    const worker = async () => {
      while (next < todo.length && Date.now() < stopAt) {
        const host = todo[next++] as string;
        try {
          results.push({ host, result: await tls.probe(tlsAddress.host, tlsAddress.port, host, signal) });
        } catch (err) {
          if (signal.aborted) throw err;
          results.push({ host, error: err instanceof ToolError ? err.message : String(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SWEEP_CONCURRENCY, todo.length) }, worker));
    const expiring = results
      .filter((r) => r.error || !r.result?.validates || (r.result?.daysToExpiry ?? 0) <= withinDays)
      .map((r) => ({
        host: r.host,
        routers: byHost.get(r.host) ?? [],
        ...(r.result ? { daysToExpiry: r.result.daysToExpiry, validTo: r.result.validTo } : {}),
        validates: r.result?.validates ?? false,
        ...(r.error || r.result?.reason ? { reason: r.error ?? r.result?.reason } : {}),
      }))
      .sort((a, b) => (a.daysToExpiry ?? -1e9) - (b.daysToExpiry ?? -1e9) || a.host.localeCompare(b.host));
    // the same page cut after the hosts probed; no probe started (no time at all): the same cursor again
    const done = next > 0 ? pageByKey(entries, { ...paging, limit: next }) : { truncated: true, nextCursor: cursor };
    return {
      checked: results.length,
      hosts: total,
      expiring,
      skipped,
      truncated: done.truncated,
      ...(done.nextCursor ? { nextCursor: done.nextCursor } : {}),
    };
  },
});

export const certificateTools = [certificatesInspect, certificatesSweep];
