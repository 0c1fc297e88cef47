import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { Item } from '../backend.js';
import { defineTool } from './define.js';
import {
  Middleware,
  Page,
  Paging,
  PerPage,
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
const Section = z.object({ total: z.number().int(), warnings: z.number().int(), errors: z.number().int() });
const Family = z.object({ routers: Section, services: Section, middlewares: Section.optional() });

export const overviewGet = defineTool({
  name: 'overview_get',
  toolset: 'overview',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Traefik overview',
  description:
    'Counts of HTTP, TCP and UDP routers, services and middlewares with their errors and warnings; providers.',
  annotations: READ,
  input: z.object({}),
  output: z.object({
    http: Family,
    tcp: Family,
    udp: Family,
    providers: z.array(z.string()),
    problems: z.number().int(),
  }),
  handler: async (_input, { api, signal }) => {
    const { body } = await api.get<Record<string, unknown>>('api/overview', {}, signal);
    const zero = { total: 0, warnings: 0, errors: 0 };
    const family = (v: unknown, withMiddlewares: boolean) => {
      const f = (v ?? {}) as Record<string, z.infer<typeof Section> | undefined>;
      const pick = (s: z.infer<typeof Section> | undefined) => ({
        total: s?.total ?? 0,
        warnings: s?.warnings ?? 0,
        errors: s?.errors ?? 0,
      });
      return {
        routers: pick(f.routers),
        services: pick(f.services),
        ...(withMiddlewares ? { middlewares: pick(f.middlewares ?? zero) } : {}),
      };
    };
    const http = family(body.http, true);
    const tcp = family(body.tcp, true);
    const udp = family(body.udp, false);
    const problems = [http, tcp, udp]
      .flatMap((f) => Object.values(f))
      .reduce((n, s) => n + (s?.errors ?? 0) + (s?.warnings ?? 0), 0);
    const providers = Array.isArray(body.providers) ? body.providers.map(String) : [];
    return { http, tcp, udp, providers, problems };
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

export const routersList = defineTool({
  name: 'routers_list',
  toolset: 'routers',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'List routers',
  description:
    'HTTP, TCP or UDP routers with rule, priority, service, status and errors; filter by provider, status, name; paged.',
  annotations: READ,
  input: z.object({
    protocol: Protocol,
    provider: Provider,
    status: Status.optional().describe('Only routers in this status'),
    search: Search,
    page: Page,
    perPage: PerPage,
  }),
  output: z.object({ routers: z.array(Router), ...Paging }),
  handler: async (input, { api, signal }) => {
    const { items, truncated } = await api.listAll(
      `api/${input.protocol}/routers`,
      { search: input.search, status: input.status },
      signal,
    );
    const all = items.filter(byProvider(input.provider)).map(toRouter);
    const { items: routers, ...paging } = pageOf(all, input.page, input.perPage, truncated);
    return { routers, ...paging };
  },
});

const RouterName = z
  .string()
  .min(3)
  .max(255)
  .regex(/^[^@\s/]+@[A-Za-z0-9_.-]+$/, 'must be the full name "<name>@<provider>", e.g. "web@docker"')
  .describe('Full router name: name@provider');

export const routersGet = defineTool({
  name: 'routers_get',
  toolset: 'routers',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Get a router',
  description:
    'One router by full name (name@provider): rule, priority, entrypoints, middlewares, service, TLS, status, errors.',
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
  description:
    'Services with type, status, errors and each server with its health (UP/DOWN); filter by provider, status, name; paged.',
  annotations: READ,
  input: z.object({
    protocol: Protocol,
    provider: Provider,
    status: Status.optional().describe('Only services in this status'),
    search: Search,
    page: Page,
    perPage: PerPage,
  }),
  output: z.object({ services: z.array(Service), ...Paging }),
  handler: async (input, { api, signal }) => {
    const { items, truncated } = await api.listAll(
      `api/${input.protocol}/services`,
      { search: input.search, status: input.status },
      signal,
    );
    const all = items.filter(byProvider(input.provider)).map(toService);
    const { items: services, ...paging } = pageOf(all, input.page, input.perPage, truncated);
    return { services, ...paging };
  },
});

/** Password hashes in basicAuth/digestAuth users never leave the server. */
function redactUsers(config: unknown): unknown {
  if (!config || typeof config !== 'object') return config;
  const c = { ...(config as Record<string, unknown>) };
  if (Array.isArray(c.users)) c.users = c.users.map((u) => `${String(u).split(':')[0]}:[redacted]`);
  return c;
}

export const middlewaresList = defineTool({
  name: 'middlewares_list',
  toolset: 'middlewares',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'List middlewares',
  description: 'HTTP or TCP middlewares with type, configuration (credentials redacted), status and users; paged.',
  annotations: READ,
  input: z.object({
    protocol: z.enum(['http', 'tcp']).default('http').describe('Middleware family'),
    provider: Provider,
    status: Status.optional().describe('Only middlewares in this status'),
    search: Search,
    page: Page,
    perPage: PerPage,
  }),
  output: z.object({ middlewares: z.array(Middleware), ...Paging }),
  handler: async (input, { api, signal }) => {
    const { items, truncated } = await api.listAll(
      `api/${input.protocol}/middlewares`,
      { search: input.search, status: input.status },
      signal,
    );
    const all = items
      .filter(byProvider(input.provider))
      .map(toMiddleware)
      .map((m) => ({ ...m, ...(m.config !== undefined ? { config: redactUsers(m.config) } : {}) }));
    const { items: middlewares, ...paging } = pageOf(all, input.page, input.perPage, truncated);
    return { middlewares, ...paging };
  },
});

export const readTools = [overviewGet, entrypointsList, routersList, routersGet, servicesList, middlewaresList];
