import { isDeepStrictEqual } from 'node:util';
import { type PlannedContext, type ToolContext, ToolError } from '@ravenhelm/kit';
import { stringify } from 'yaml';
import { z } from 'zod';
import { clipDiff, lineDiff } from '../diff.js';
import { redactConfig, redactRouterError, redactText, shownRule } from '../redact.js';
import { OWNER_MARKER, parseYaml, ROUTE_NAME, type RouteFiles, warmYamlParser } from '../route-files.js';
import { parseRule, RuleError, type RuleNode } from '../rules/parser.js';
import type { YamlOutcome } from '../yaml-worker.js';
import { defineTool, type TraefikServices } from './define.js';
import { acceptShadowing, checkRouteHosts, shadowedBy } from './route-guard.js';
import { refuseTemplateActions, traefikYaml } from './route-yaml.js';
import { MAX_CHAIN_DEPTH, qualify } from './shapes.js';

export const RouteName = z
  .string()
  .refine((n) => ROUTE_NAME.test(n), '1-63 lower-case letters, digits and "-" (no dots or slashes)')
  .describe('Route, service and file name');
export const Rule = z.string().min(1).max(2048).describe('Traefik v3 rule');
const safe = (re: RegExp, what: string) => z.string().refine((v) => re.test(v), what);
const RefName = safe(/^[A-Za-z0-9_.-]{1,128}(@[A-Za-z0-9_.-]{1,64})?$/, 'a name or name@provider');
export const Middlewares = z.array(RefName).max(20).optional().describe('Middlewares, in order');
export const EntryPoints = z
  .array(safe(/^[A-Za-z0-9_-]{1,64}$/, 'an entrypoint name'))
  .max(10)
  .optional()
  .describe('Entrypoints (default all)');
const TlsName = safe(/^[A-Za-z0-9_@.-]{1,128}$/, 'letters, digits, "_", "-", ".", "@"');
export const Tls = z
  .object({ certResolver: TlsName.optional(), options: TlsName.optional() })
  .optional()
  .describe('Enable TLS');
const DryRun = z.boolean().default(true).describe('Only show the diff');
const TakeOver = z.boolean().default(false).describe('Allow a file we did not write');

const Result = z.object({
  name: z.string(),
  file: z.string(),
  action: z.enum(['create', 'update', 'remove', 'unchanged']),
  diff: z.string(),
  written: z.boolean(),
  loaded: z.boolean().optional(),
  status: z.string().optional(),
  errors: z.array(z.string()).optional(),
  note: z.string().optional(),
});
type Result = z.infer<typeof Result>;

const WRITE = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false } as const;

/** What a diff may take of the answer (which also carries file, name, status, errors and a note). */
const diffBudget = (ctx: ToolContext<TraefikServices>) => Math.max(1024, ctx.maxOutputBytes - 2048);

function filesOf(ctx: ToolContext<TraefikServices>): RouteFiles {
  if (!ctx.files) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      "route changes are off: set backend.dynamicDir (TRAEFIK_DYNAMIC_DIR) to the directory of Traefik's file provider",
    );
  }
  return ctx.files;
}

export function checkRule(rule: string): RuleNode {
  try {
    return parseRule(rule);
  } catch (err) {
    if (err instanceof RuleError) throw new ToolError('ERR_INVALID_INPUT', `the rule is invalid: ${err.message}`);
    throw err;
  }
}

const ApplyInput = z.object({
  name: RouteName,
  rule: Rule,
  servers: z
    .array(
      z
        .string()
        .max(512)
        .refine((u) => /^https?:\/\/\S+$/.test(u) && URL.canParse(u), 'an http:// or https:// URL'),
    )
    .min(1)
    .max(20)
    .describe('Backend URLs'),
  entryPoints: EntryPoints,
  middlewares: Middlewares,
  priority: z.number().int().min(1).max(1_000_000).optional(),
  tls: Tls,
  passHostHeader: z.boolean().optional(),
  dryRun: DryRun,
  takeOver: TakeOver,
  // Routers (name@provider) this route may outrank. No description: the tools/list budget is spent, and the
  // refusal that needs it names the routers and says to pass them here.
  shadows: z
    .array(safe(/^[A-Za-z0-9_.-]{1,128}@[A-Za-z0-9_.-]{1,64}$/, 'name@provider'))
    .max(20)
    .optional(),
});
type ApplyInput = z.output<typeof ApplyInput>;

export function renderRoute(input: Omit<ApplyInput, 'dryRun' | 'takeOver' | 'shadows'>): string {
  const router: Record<string, unknown> = { rule: input.rule, service: input.name };
  if (input.entryPoints?.length) router.entryPoints = input.entryPoints;
  if (input.middlewares?.length) router.middlewares = input.middlewares;
  if (input.priority) router.priority = input.priority;
  if (input.tls) router.tls = { ...input.tls };
  const loadBalancer: Record<string, unknown> = { servers: input.servers.map((url) => ({ url })) };
  if (input.passHostHeader !== undefined) loadBalancer.passHostHeader = input.passHostHeader;
  const doc = { http: { routers: { [input.name]: router }, services: { [input.name]: { loadBalancer } } } };
  return `${OWNER_MARKER} route=${input.name}; edit with the routes_apply tool\n${traefikYaml(doc)}`;
}

interface Prepared {
  file: string;
  /** The file's content when this was prepared (undefined: no file). */
  before: string | undefined;
  after: string;
  action: Result['action'];
  /** From what a caller may see of the file now (`shownContent`) to what will be written. */
  diff: string;
  /** "takes precedence over: ..." (routers this server wrote, or named in `shadows`), or empty. */
  shadowed: string;
}

/**
 * What a diff or plan shows of a file in the directory: the file as it is, or, when it holds credentials
 * (another tool's basicAuth users, a TLS key inline, header values), its YAML re-read with them redacted. A file
 * that cannot be read as YAML here (not YAML, or beyond the parser's bounds) is not shown: it may hold credentials.
 * `parsed` is what parseYaml made of it.
 */
export function shownContent(content: string, parsed: YamlOutcome): string {
  if (content === '') return content;
  const lines = content.split('\n').length;
  if (parsed.kind === 'limit') return `# ${lines} lines not shown (${parsed.why}: not checked here for credentials)\n`;
  if (parsed.kind === 'invalid')
    return `# ${lines} lines that are not valid YAML: not shown (they may hold credentials)\n`;
  const redacted = redactConfig(parsed.value);
  if (isDeepStrictEqual(redacted, parsed.value)) return content;
  return `# credentials redacted; comments and layout not shown\n${stringify(redacted, { lineWidth: 0 })}`;
}

/**
 * The first member of a chain (followed into nested chains, MAX_CHAIN_DEPTH levels) that Traefik does not have, as
 * "outer > inner > missing". Members are qualified by the chain's provider (pkg/server/middleware/
 * middlewares.go: provider.GetQualifiedName), and a missing one fails the router's handler, which disables it.
 */
async function missingChainMember(
  mw: Record<string, unknown> & { name: string },
  ctx: ToolContext<TraefikServices>,
  within: string[] = [],
): Promise<string | undefined> {
  const members = (mw.chain as { middlewares?: unknown } | undefined)?.middlewares;
  if (!Array.isArray(members) || within.includes(mw.name) || within.length >= MAX_CHAIN_DEPTH) return undefined;
  for (const m of members.map(String)) {
    const name = qualify(m, mw.name);
    const member = await ctx.api.find('api/http/middlewares', name, ctx.signal);
    if (!member) return [...within, mw.name, name].slice(1).join(' > ');
    const deeper = await missingChainMember(member, ctx, [...within, mw.name]);
    if (deeper) return deeper;
  }
  return undefined;
}

/**
 * Everything checked before anything is written: rule, allowed hosts, names, entrypoints, middlewares,
 * ownership, and the routers the new one would take precedence over.
 */
async function prepareApply(input: ApplyInput, ctx: ToolContext<TraefikServices>): Promise<Prepared> {
  const files = filesOf(ctx);
  warmYamlParser(); // for the file's diff, and the blocking-file scan should Traefik not load it
  refuseTemplateActions(
    [['rule', input.rule], ...input.servers.map((u, i) => [`servers[${i}]`, u] as const)],
    renderRoute(input),
  );
  const node = checkRule(input.rule);
  checkRouteHosts(node, ctx.routeHostsAllow);
  const existing = await files.read(input.name);
  if (existing && !existing.owned && !input.takeOver) {
    throw new ToolError(
      'ERR_CONFLICT',
      `${existing.path} was not written by this server (no "${OWNER_MARKER}" line); pass takeOver: true to replace it`,
    );
  }
  const { api, signal } = ctx;
  const { items: eps } = await api.listAll('api/entrypoints', {}, signal, 500);
  const epNames = eps.map((e) => e.name);
  const unknownEps = (input.entryPoints ?? []).filter((e) => !epNames.includes(e));
  if (unknownEps.length > 0) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `unknown entrypoint(s) ${unknownEps.join(', ')}; Traefik has ${epNames.join(', ')}`,
    );
  }
  for (const m of input.middlewares ?? []) {
    const full = m.includes('@') ? m : `${m}@file`;
    const mw = await api.find('api/http/middlewares', full, signal);
    if (!mw) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `middleware ${full} does not exist in Traefik; create it first or fix the name`,
      );
    }
    const missing = await missingChainMember(mw, ctx);
    if (missing) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `middleware ${full} is a chain whose member ${missing} does not exist; Traefik would disable the router (middleware "${missing.split(' > ').at(-1)}" does not exist). Create it or fix the chain first`,
      );
    }
  }
  if (!existing) {
    for (const kind of ['routers', 'services'] as const) {
      if (await api.find(`api/http/${kind}`, `${input.name}@file`, signal)) {
        throw new ToolError(
          'ERR_CONFLICT',
          `${kind.slice(0, -1)} ${input.name}@file is already defined in another file of the directory; Traefik would drop both copies. Choose another name`,
        );
      }
    }
  }
  const shadowed = acceptShadowing(await shadowedBy(input, node, epNames, ctx, files), input.shadows ?? []);
  const after = renderRoute(input);
  const before = existing?.content ?? '';
  const shownBefore = before === '' ? '' : shownContent(before, await parseYaml(before));
  const action = !existing ? 'create' : before === after ? 'unchanged' : 'update';
  // Both sides as a caller may see them: a shared key the new rule routes on is not echoed either.
  const afterShown = renderRoute({ ...input, rule: shownRule(input.rule), servers: input.servers.map(redactText) });
  const diff = clipDiff(lineDiff(shownBefore, afterShown), diffBudget(ctx));
  return { file: await files.pathOf(input.name), before: existing?.content, after, action, diff, shadowed };
}

/** Changes to one route file, one at a time in this process: the file is read, checked and written in turn. */
const changing = new Map<string, Promise<unknown>>();

async function oneAtATime<T>(key: string, run: () => Promise<T>): Promise<T> {
  const mine = (changing.get(key) ?? Promise.resolve()).then(run, run);
  const tail = mine.catch(() => undefined);
  changing.set(key, tail);
  try {
    return await mine;
  } finally {
    if (changing.get(key) === tail) changing.delete(key);
  }
}

/**
 * A confirmed call acts only on the file people confirmed a plan for: `planned` is the plan the kit checked (the
 * file as it was then); `now` is read again under the file's turn. Another call (or process) that wrote or removed
 * the file in between makes the confirmed diff a lie: nothing is done.
 */
function refuseIfChanged(planned: { before: string | undefined } | undefined, now: string | undefined, file: string) {
  if (planned === undefined || planned.before === now) return;
  throw new ToolError(
    'ERR_CONFLICT',
    `${file} changed after the plan was confirmed (another change wrote or removed it meanwhile): nothing was done; call again without the confirmation token to see the new plan`,
  );
}

const joinNotes = (...notes: (string | undefined)[]) => notes.filter(Boolean).join('. ') || undefined;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

/**
 * Polls the API until Traefik shows the router as `want` (or gone), or the load timeout passes; then the note
 * names the file of the directory that likely blocks it (`file` is the one just written or removed).
 */
async function waitForLoad(
  item: { path: string; name: string },
  want: { rule: string } | 'gone',
  file: string,
  ctx: ToolContext<TraefikServices>,
): Promise<Pick<Result, 'loaded' | 'status' | 'errors' | 'note'>> {
  const deadline = Date.now() + ctx.loadTimeoutMs;
  let last: Record<string, unknown> | undefined;
  while (Date.now() < deadline && !ctx.signal.aborted) {
    last = await ctx.api.find(item.path, item.name, ctx.signal);
    if (want === 'gone' && !last) return { loaded: true };
    if (want !== 'gone' && last && last.rule === want.rule) {
      const status = String(last.status ?? 'unknown');
      const errors = Array.isArray(last.error) ? (last.error as string[]).map(redactRouterError) : [];
      return {
        loaded: status !== 'disabled',
        status,
        ...(errors.length ? { errors } : {}),
        ...(status === 'disabled' ? { note: 'Traefik loaded the file but disabled the router; see errors' } : {}),
      };
    }
    await sleep(150, ctx.signal);
  }
  const blocker = await filesOf(ctx)
    .blocker(file)
    .catch(() => undefined);
  const waited = `Traefik did not show the change within ${ctx.loadTimeoutMs} ms`;
  return {
    loaded: false,
    note: blocker
      ? `${waited} (one bad file blocks the whole directory): ${blocker}; also check that its file provider watches this directory`
      : `${waited}: check that its file provider watches this directory and that every file in it parses (one bad file blocks the whole directory)`,
  };
}

export const routesApply = defineTool({
  name: 'routes_apply',
  toolset: 'routes',
  tier: 'HIGH',
  scopes: ['mcp:traefik:admin'],
  title: 'Add or update a route',
  description:
    "Write a router + service as <name>.yaml for Traefik's file provider: checked, diff first, atomic; waits for load.",
  annotations: WRITE,
  input: ApplyInput,
  output: Result,
  // Audit records and approval requests show the rule and backend URLs as readers see them.
  shownArgs: (args) => ({
    ...args,
    ...(typeof args.rule === 'string' ? { rule: shownRule(args.rule) } : {}),
  }),
  plan: async (input, ctx) => {
    const p = await prepareApply(input, ctx);
    return { text: `${p.action} ${p.file}:\n${p.diff}${p.shadowed ? `\n${p.shadowed}` : ''}`, bound: p };
  },
  handler: async (input, ctx) => oneAtATime(`${filesOf(ctx).directory}\0${input.name}`, () => apply(input, ctx)),
});

async function apply(input: ApplyInput, ctx: ToolContext<TraefikServices> & PlannedContext<Prepared>): Promise<Result> {
  const p = await prepareApply(input, ctx);
  if (!input.dryRun) refuseIfChanged(ctx.planned, p.before, p.file);
  const base = { name: input.name, file: p.file, action: p.action, diff: p.diff };
  if (input.dryRun) {
    const note = joinNotes(p.shadowed, 'dry run: nothing written; call again with dryRun: false');
    return { ...base, written: false, note };
  }
  if (p.action !== 'unchanged') await filesOf(ctx).write(input.name, p.after);
  const router = { path: 'api/http/routers', name: `${input.name}@file` };
  const loaded = await waitForLoad(router, { rule: input.rule }, p.file, ctx);
  const note = joinNotes(p.shadowed, loaded.note);
  return { ...base, written: p.action !== 'unchanged', ...loaded, ...(note ? { note } : {}) };
}

const RemoveInput = z.object({ name: RouteName, dryRun: DryRun, takeOver: TakeOver });

async function prepareRemove(input: z.output<typeof RemoveInput>, ctx: ToolContext<TraefikServices>) {
  const files = filesOf(ctx);
  warmYamlParser();
  const existing = await files.read(input.name);
  if (!existing) {
    throw new ToolError(
      'ERR_NOT_FOUND',
      `no route file ${input.name}.yaml in ${files.directory}; call routers_list with provider "file"`,
    );
  }
  if (!existing.owned && !input.takeOver) {
    throw new ToolError(
      'ERR_CONFLICT',
      `${existing.path} was not written by this server; pass takeOver: true to remove it`,
    );
  }
  const parsed = await parseYaml(existing.content);
  return {
    before: existing.content as string | undefined,
    file: existing.path,
    diff: clipDiff(lineDiff(shownContent(existing.content, parsed), ''), diffBudget(ctx)),
    watched: watchedItem(parsed.kind === 'value' ? parsed.value : undefined, input.name),
  };
}

/**
 * What shows that Traefik dropped a file: one item it defines (Traefik applies a file's removal in one
 * reload, so all its items go together). A file this server wrote defines the router named like the file;
 * a hand-written one taken over may name its routers (or only services) otherwise. `doc` is the file's
 * YAML value (undefined when it could not be read).
 */
export function watchedItem(doc: unknown, name: string): { path: string; name: string } {
  const fallback = { path: 'api/http/routers', name: `${name}@file` };
  const section = (proto: string, kind: string): string[] => {
    const p = (doc as Record<string, unknown> | null)?.[proto] as Record<string, unknown> | null | undefined;
    const items = p?.[kind];
    return items && typeof items === 'object' && !Array.isArray(items) ? Object.keys(items) : [];
  };
  if (section('http', 'routers').includes(name)) return fallback;
  for (const [proto, kind] of [
    ['http', 'routers'],
    ['tcp', 'routers'],
    ['udp', 'routers'],
    ['http', 'services'],
    ['tcp', 'services'],
    ['udp', 'services'],
    ['http', 'middlewares'],
    ['tcp', 'middlewares'],
  ] as const) {
    const first = section(proto, kind)[0];
    if (first !== undefined) return { path: `api/${proto}/${kind}`, name: `${first}@file` };
  }
  return fallback;
}

export const routesRemove = defineTool({
  name: 'routes_remove',
  toolset: 'routes',
  tier: 'HIGH',
  scopes: ['mcp:traefik:admin'],
  title: 'Remove a route',
  description: 'Delete a route file this server wrote (diff first with dryRun); waits until Traefik drops it.',
  annotations: WRITE,
  input: RemoveInput,
  output: Result,
  plan: async (input, ctx) => {
    const p = await prepareRemove(input, ctx);
    return { text: `remove ${p.file}:\n${p.diff}`, bound: p };
  },
  handler: async (input, ctx) =>
    oneAtATime(`${filesOf(ctx).directory}\0${input.name}`, async () => {
      const p = await prepareRemove(input, ctx);
      if (!input.dryRun) refuseIfChanged(ctx.planned, p.before, p.file);
      const base = { name: input.name, file: p.file, action: 'remove' as const, diff: p.diff };
      if (input.dryRun)
        return { ...base, written: false, note: 'dry run: nothing removed; call again with dryRun: false' };
      await filesOf(ctx).remove(input.name);
      return { ...base, written: true, ...(await waitForLoad(p.watched, 'gone', p.file, ctx)) };
    }),
});

export const routeTools = [routesApply, routesRemove];
