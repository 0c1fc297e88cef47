/** Shapes shared by the Traefik tools: defined once, no per-field prose (tools/list bytes count). */
import { changedNote, pageByKey } from '@ravenhelm/kit';
import { z } from 'zod';
import type { Item } from '../backend.js';
import { redactRouterError, redactRule, redactText } from '../redact.js';

/** A name as Traefik resolves it from `owner`'s config: without "@provider", it is in the owner's provider. */
export const qualify = (name: string, owner: string) =>
  name.includes('@') ? name : `${name}@${owner.split('@')[1] ?? ''}`;

/** Chains inside chains followed this deep (Traefik refuses a chain that contains itself). */
export const MAX_CHAIN_DEPTH = 8;

export const Protocol = z.enum(['http', 'tcp', 'udp']).default('http');
export const Status = z.enum(['enabled', 'warning', 'disabled']);
export const Limit = z.number().int().min(1).max(100).default(50);
export const Cursor = z.string().max(64).optional().describe('Previous nextCursor');
export const Provider = z
  .string()
  .refine((p) => /^[A-Za-z0-9_.-]{1,64}$/.test(p), 'letters, digits, "_", "." and "-"')
  .optional()
  .describe('e.g. "docker", "file"');
export const Search = z.string().min(1).max(200).optional().describe('Name or rule substring');

const Strings = z.array(z.string());

/**
 * A priority as an agent reads it: a JSON number while a double holds it exactly, else Go's exact decimal
 * (Traefik's internal routers sit at math.MaxInt, beyond 2^53). Compare by the number or the digits.
 */
export const Priority = z.union([z.number().int(), z.string().regex(/^-?\d+$/)]);

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** An exact priority as `Priority` writes it. */
export const priorityOut = (rank: bigint): z.infer<typeof Priority> =>
  rank <= SAFE && rank >= -SAFE ? Number(rank) : rank.toString();

export const Router = z.object({
  name: z.string(),
  provider: z.string(),
  status: z.string(),
  rule: z.string().optional(),
  priority: Priority,
  service: z.string().optional(),
  middlewares: Strings.optional(),
  entryPoints: Strings.optional(),
  tls: z.unknown().optional(),
  errors: Strings.optional(),
});

export const Server = z.object({ url: z.string(), status: z.string() });

export const Service = z.object({
  name: z.string(),
  provider: z.string(),
  status: z.string(),
  type: z.string().optional(),
  servers: z.array(Server),
  up: z.number(),
  usedBy: Strings.optional(),
  errors: Strings.optional(),
});

export const Middleware = z.object({
  name: z.string(),
  provider: z.string(),
  status: z.string(),
  type: z.string().optional(),
  config: z.unknown().optional(),
  usedBy: Strings.optional(),
  errors: Strings.optional(),
});

export const Paging = {
  total: z.number(),
  returned: z.number(),
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
  /** Set when Traefik had more than MAX_ITEMS: narrow with search or status. */
  capped: z.boolean().optional(),
  note: z.string().optional(),
};

const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.length > 0 ? v.filter((x): x is string => typeof x === 'string') : undefined;

const providerOf = (item: Item): string =>
  typeof item.provider === 'string' ? item.provider : (item.name.split('@')[1] ?? '');

/**
 * The effective priority Traefik sorts by: the configured one (negative ones too: a fallback router below
 * every default), else, for 0 or none, the rule's length in bytes (pkg/server/router/router.go, Go's len).
 */
export function priorityOf(item: Item): number {
  return Number(priorityRank(item));
}

/**
 * The same priority, exact. Traefik's is a Go int (64 bits): its internal routers use math.MaxInt, MaxInt-1 and
 * MaxInt-2 (pkg/provider/traefik/internal.go), which a JSON number read into a double makes equal; the API
 * also gives each router `priorityStr` (pkg/api/handler_http.go, strconv.FormatInt), read first.
 */
export function priorityRank(item: Item): bigint {
  const str = typeof item.priorityStr === 'string' && /^-?\d{1,19}$/.test(item.priorityStr) ? item.priorityStr : '';
  const n = Number(item.priority ?? 0);
  const p = str ? BigInt(str) : Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
  return p !== 0n ? p : typeof item.rule === 'string' ? BigInt(Buffer.byteLength(item.rule)) : 0n;
}

export function toRouter(item: Item): z.infer<typeof Router> {
  return {
    name: item.name,
    provider: providerOf(item),
    status: String(item.status ?? 'unknown'),
    ...(typeof item.rule === 'string' ? { rule: redactRule(item.rule) } : {}),
    priority: priorityOut(priorityRank(item)),
    ...(typeof item.service === 'string' ? { service: item.service } : {}),
    ...(strings(item.middlewares) ? { middlewares: strings(item.middlewares) } : {}),
    ...(strings(item.using ?? item.entryPoints) ? { entryPoints: strings(item.using ?? item.entryPoints) } : {}),
    ...(item.tls && typeof item.tls === 'object' ? { tls: item.tls } : {}),
    // Traefik's errors quote the rule ("error while parsing rule ...")
    ...(strings(item.error) ? { errors: strings(item.error)?.map(redactRouterError) } : {}),
  };
}

export function toService(item: Item): z.infer<typeof Service> {
  const status = (item.serverStatus ?? {}) as Record<string, string>;
  const lb = (item.loadBalancer ?? {}) as { servers?: { url?: string; address?: string }[] };
  const urls = new Set<string>(Object.keys(status));
  for (const s of lb.servers ?? []) {
    const u = s.url ?? s.address;
    if (u) urls.add(u);
  }
  // Traefik reports server status only for services it built (used by a router); others are "unknown".
  // A password in a server URL (`http://user:pw@10.0.0.5`) is cut out; the status is looked up by the real URL.
  const servers = [...urls].map((url) => ({ url: redactText(url), status: status[url] ?? 'unknown' }));
  return {
    name: item.name,
    provider: providerOf(item),
    status: String(item.status ?? 'unknown'),
    ...(typeof item.type === 'string' ? { type: item.type } : {}),
    servers,
    up: servers.filter((s) => s.status === 'UP').length,
    ...(strings(item.usedBy) ? { usedBy: strings(item.usedBy) } : {}),
    ...(strings(item.error) ? { errors: strings(item.error) } : {}),
  };
}

const META = new Set(['name', 'provider', 'status', 'type', 'usedBy', 'error']);

export function toMiddleware(item: Item): z.infer<typeof Middleware> {
  const configKey = Object.keys(item).find((k) => !META.has(k));
  return {
    name: item.name,
    provider: providerOf(item),
    status: String(item.status ?? 'unknown'),
    ...(typeof item.type === 'string' ? { type: item.type } : {}),
    ...(configKey ? { config: item[configKey] } : {}),
    ...(strings(item.usedBy) ? { usedBy: strings(item.usedBy) } : {}),
    ...(strings(item.error) ? { errors: strings(item.error) } : {}),
  };
}

/**
 * Local paging over a filtered list (the API has no provider filter, so paging happens here), by key: the Traefik
 * name, unique per protocol and kind (pkg/config/runtime keys its maps by `name@provider`), so an item that comes or
 * goes between two pages is neither skipped nor repeated, and the page says the list changed. Bounded by count and
 * by the output budget; the cursor is bound to `bind` (the filters); `capped`: Traefik's list was cut at MAX_ITEMS.
 */
export function pageOf<T extends { name: string }>(
  all: T[],
  opts: { tool: string; what: string; bind: string; cursor?: string | undefined; limit: number; maxBytes: number },
  capped: boolean,
) {
  const { changed, ...page } = pageByKey(
    all.map((item) => ({ key: item.name, item })),
    { tool: opts.tool, bind: opts.bind, cursor: opts.cursor, limit: opts.limit, maxBytes: opts.maxBytes - 1024 },
  );
  return {
    ...page,
    ...(capped ? { capped: true, truncated: true } : {}),
    ...(changed ? { note: changedNote(opts.what) } : {}),
  };
}
