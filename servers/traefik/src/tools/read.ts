import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { checkedAnswer, type Item, type TraefikApi } from '../backend.js';
import { redactConfig } from '../redact.js';
import { defineTool } from './define.js';
import {
  Cursor,
  Limit,
  Middleware,
  Paging,
  Protocol,
  Provider,
  pageOf,
  Router,
  Search,
  Service,
  Status,
  toMiddleware,
  toRouter,
  toService,
} from './shapes.js';

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
const Section = z.object({
  family: z.string(),
  kind: z.string(),
  total: z.number(),
  warnings: z.number(),
  errors: z.number(),
});

const KINDS = ['routers', 'services', 'middlewares'] as const;
const Count = z.number().int().min(0).optional();
const Counts = z.looseObject({ total: Count, warnings: Count, errors: Count }).optional();
const Family = z.looseObject({ routers: Counts, services: Counts, middlewares: Counts }).optional();
/** What overview_get reads of GET /api/overview (pkg/api/testdata/overview-dynamic.json). */
const OverviewShape = z.looseObject({
  http: Family,
  tcp: Family,
  udp: Family,
  providers: z.array(z.string()).optional(),
});

export const overviewGet = defineTool({
  name: 'overview_get',
  toolset: 'overview',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Traefik overview',
  description: 'Counts of routers, services and middlewares per protocol with errors and warnings; providers.',
  annotations: READ,
  input: z.object({}),
  output: z.object({ sections: z.array(Section), providers: z.array(z.string()), problems: z.number() }),
  handler: async (_input, { api, signal }) => {
    const path = 'api/overview';
    const body = checkedAnswer(OverviewShape, (await api.get<unknown>(path, {}, signal)).body, path);
    const sections: z.infer<typeof Section>[] = [];
    for (const family of ['http', 'tcp', 'udp'] as const) {
      for (const kind of family === 'udp' ? (['routers', 'services'] as const) : KINDS) {
        const s = body[family]?.[kind];
        sections.push({ family, kind, total: s?.total ?? 0, warnings: s?.warnings ?? 0, errors: s?.errors ?? 0 });
      }
    }
    const problems = sections.reduce((n, s) => n + s.errors + s.warnings, 0);
    return { sections, providers: body.providers ?? [], problems };
  },
});

export const entrypointsList = defineTool({
  name: 'entrypoints_list',
  toolset: 'entrypoints',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'List entrypoints',
  description: "Traefik's entrypoints (name and listen address).",
  annotations: READ,
  input: z.object({}),
  output: z.object({
    entryPoints: z.array(z.object({ name: z.string(), address: z.string() })),
    truncated: z.boolean(),
  }),
  handler: async (_input, { api, signal }) => {
    const { items, truncated } = await api.listAll('api/entrypoints', {}, signal, 500);
    return { entryPoints: items.map((e) => ({ name: e.name, address: String(e.address ?? '') })), truncated };
  },
});

const byProvider = (provider: string | undefined) => (item: Item) =>
  !provider || (item.provider ?? item.name.split('@')[1]) === provider;

/** The filters every list tool takes; `protocol` differs (middlewares exist for http and tcp only). */
const listInput = <P extends z.ZodType>(protocol: P) =>
  z.object({
    protocol,
    provider: Provider,
    status: Status.optional(),
    search: Search,
    limit: Limit,
    cursor: Cursor,
  });

type ListInput = z.output<ReturnType<typeof listInput<typeof Protocol>>>;

/**
 * One page of a Traefik list: every item of `api/<protocol>/<kind>` (Traefik filters by name and status),
 * filtered by provider here (the API cannot), mapped, and paged within the output budget.
 */
async function listPage<T extends { name: string }>(
  tool: string,
  kind: 'routers' | 'services' | 'middlewares',
  input: ListInput,
  { api, signal, maxOutputBytes }: { api: TraefikApi; signal: AbortSignal; maxOutputBytes: number },
  map: (item: Item) => T,
) {
  const { items, truncated } = await api.listAll(
    `api/${input.protocol}/${kind}`,
    { search: input.search, status: input.status },
    signal,
  );
  const all = items.filter(byProvider(input.provider)).map(map);
  const { protocol, provider, status, search } = input;
  const bind = JSON.stringify([protocol, provider ?? '', status ?? '', search ?? '']);
  const what = `The ${kind.slice(0, -1)} list`;
  const page = { tool, what, bind, cursor: input.cursor, limit: input.limit, maxBytes: maxOutputBytes };
  return pageOf(all, page, truncated);
}

export const routersList = defineTool({
  name: 'routers_list',
  toolset: 'routers',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'List routers',
  description: 'Routers with rule, priority, service, status, errors; filter by provider, status, name.',
  annotations: READ,
  input: listInput(Protocol),
  output: z.object({ routers: z.array(Router), ...Paging }),
  handler: async (input, ctx) => {
    const { items: routers, ...paging } = await listPage('routers_list', 'routers', input, ctx, toRouter);
    return { routers, ...paging };
  },
});

// A name may hold spaces and slashes (a file-provider router "GET /dump/request@file"; Traefik's API serves
// them escaped, pkg/api/handler_http_test.go "one router by id containing slash").
const RouterName = z
  .string()
  .min(3)
  .max(255)
  .refine((n) => /^[^@]+@[A-Za-z0-9_.-]+$/.test(n), 'must be the full name "<name>@<provider>", e.g. "web@docker"')
  .describe('name@provider');

export const routersGet = defineTool({
  name: 'routers_get',
  toolset: 'routers',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Get a router',
  description: 'One router: rule, priority, entrypoints, middlewares, service, TLS, status, errors.',
  annotations: READ,
  input: z.object({ protocol: Protocol, name: RouterName }),
  output: Router,
  handler: async ({ protocol, name }, { api, signal }) => {
    const item = await api.find(`api/${protocol}/routers`, name, signal);
    if (item) return toRouter(item);
    const base = name.split('@')[0] as string;
    const { items } = await api.listAll(`api/${protocol}/routers`, { search: base }, signal, 200);
    const near = items.map((i) => i.name).slice(0, 5);
    throw new ToolError(
      'ERR_NOT_FOUND',
      `Traefik has no ${protocol} router ${name}${near.length ? `; similar: ${near.join(', ')}` : '; call routers_list to see the names'}`,
    );
  },
});

export const servicesList = defineTool({
  name: 'services_list',
  toolset: 'services',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'List services',
  description: 'Services with status, errors and each server UP/DOWN; filter by provider, status, name.',
  annotations: READ,
  input: listInput(Protocol),
  output: z.object({ services: z.array(Service), ...Paging }),
  handler: async (input, ctx) => {
    const { items: services, ...paging } = await listPage('services_list', 'services', input, ctx, toService);
    return { services, ...paging };
  },
});

export const middlewaresList = defineTool({
  name: 'middlewares_list',
  toolset: 'middlewares',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'List middlewares',
  description: 'Middlewares with type, config (credentials redacted), status, users.',
  annotations: READ,
  input: listInput(z.enum(['http', 'tcp']).default('http')),
  output: z.object({ middlewares: z.array(Middleware), ...Paging }),
  handler: async (input, ctx) => {
    const { items: middlewares, ...paging } = await listPage('middlewares_list', 'middlewares', input, ctx, (item) => {
      const m = toMiddleware(item);
      return { ...m, ...(m.config !== undefined ? { config: redactConfig(m.config) } : {}) };
    });
    return { middlewares, ...paging };
  },
});

export const readTools = [overviewGet, entrypointsList, routersList, routersGet, servicesList, middlewaresList];
