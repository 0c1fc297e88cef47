import { createHash } from 'node:crypto';
import type { Principal } from '@ravenhelm/auth';
import { advertisedAnnotations, type EffectiveTool, listedMeta } from '@ravenhelm/registry';
import { z } from 'zod';
import { RavenhelmError } from '../errors.js';
import { jsonSchemaOf } from '../tool.js';
import { inRedis, type RedisLike } from './redis.js';

/**
 * Dynamic toolsets (after github-mcp-server's `--dynamic-toolsets`): a session starts with a server's
 * default toolsets and an agent enables the others when it needs them, through two kit tools. Enabling
 * only changes what tools/list shows and what may be called without a refusal; every tool still needs
 * its scopes, tier and policy. In stateless HTTP "the session" is the principal (subject + client),
 * kept in the shared store (memory, or Redis for replicas) for a TTL.
 */

export const TOOLSETS_LIST_TOOL = 'toolsets_list';
export const TOOLSETS_ENABLE_TOOL = 'toolsets_enable';
export const KIT_TOOLSET = 'toolsets';
/** Principals the in-memory store keeps at most; the oldest entry goes first. */
const MEMORY_MAX_PRINCIPALS = 10_000;

/** Which toolsets a session starts with: every one (no dynamic enabling), or these. */
export type ToolsetStart = { mode: 'all' } | { mode: 'dynamic'; initial: readonly string[] };

/** Resolves `RAVENHELM_TOOLSETS` / policy `toolsets.initial`: 'all', 'default'/'dynamic', or a list. */
export function toolsetStartOf(
  value: string | readonly string[] | undefined,
  declaredDefault: readonly string[] | undefined,
  available: readonly string[],
  where: string,
): ToolsetStart {
  if (value === undefined || value === 'all') return { mode: 'all' };
  const names =
    value === 'default' || value === 'dynamic'
      ? (declaredDefault ?? available)
      : typeof value === 'string'
        ? value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : value;
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    throw new RavenhelmError(
      'ERR_BAD_REQUEST',
      `${where}: no enabled toolset named ${unknown.map((n) => `'${n}'`).join(', ')}; toolsets: ${available.join(', ')} (or 'all', 'default')`,
    );
  }
  return { mode: 'dynamic', initial: [...new Set(names)] };
}

export interface ToolsetStore {
  /** Toolsets this principal enabled on this server and that have not expired. */
  enabled(principalKey: string): Promise<string[]>;
  /** Adds a toolset for the principal; the whole set lives `ttlSeconds` from now. Returns the expiry (epoch s). */
  enable(principalKey: string, toolset: string, ttlSeconds: number): Promise<number>;
  close(): Promise<void>;
}

/** One key per principal: a hash, so a store dump does not list who works with which server. */
export function principalKeyOf(principal: Principal): string {
  return createHash('sha256')
    .update(JSON.stringify([principal.subject, principal.clientId ?? null]))
    .digest('hex');
}

const STORE = 'toolset store';
const RETRY = 'retry shortly';
const ENABLE_NEXT =
  'the toolset may or may not have been enabled: call toolsets_enable again shortly (enabling twice is harmless)';

/** In memory by default (one replica); in Redis (a set per principal, EXPIRE on every enable) when given. */
export function createToolsetStore(opts: { redis?: RedisLike; keyPrefix?: string } = {}): ToolsetStore {
  const prefix = opts.keyPrefix ?? 'ravenhelm:tls';
  const redis = opts.redis;
  const memory = new Map<string, { toolsets: Set<string>; expiresAtMs: number }>();
  return {
    async enabled(key) {
      if (redis) return (await inRedis(redis, STORE, RETRY, () => redis.smembers(`${prefix}:${key}`))).sort();
      const entry = memory.get(key);
      if (!entry) return [];
      if (entry.expiresAtMs <= Date.now()) {
        memory.delete(key);
        return [];
      }
      return [...entry.toolsets].sort();
    },
    async enable(key, toolset, ttlSeconds) {
      const ttl = Math.max(1, Math.ceil(ttlSeconds));
      const expiresAtMs = Date.now() + ttl * 1000;
      if (redis) {
        await inRedis(redis, STORE, ENABLE_NEXT, () =>
          redis.multi().sadd(`${prefix}:${key}`, toolset).expire(`${prefix}:${key}`, ttl).exec(),
        );
      } else {
        const now = Date.now();
        const live = memory.get(key);
        const toolsets = live && live.expiresAtMs > now ? live.toolsets : new Set<string>();
        toolsets.add(toolset);
        memory.delete(key); // re-insert: Map order is the eviction order
        memory.set(key, { toolsets, expiresAtMs });
        if (memory.size > MEMORY_MAX_PRINCIPALS) memory.delete(memory.keys().next().value as string);
      }
      return Math.floor(expiresAtMs / 1000);
    },
    async close() {
      memory.clear();
    },
  };
}

const ListInput = z.object({}).strict();
const ListOutput = z.object({
  toolsets: z.array(
    z.object({ name: z.string(), description: z.string(), enabled: z.boolean(), tools: z.array(z.string()) }),
  ),
});
const EnableInput = z
  .object({
    toolset: z
      .string()
      .regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a toolset name from toolsets_list')
      .describe('A name from toolsets_list'),
  })
  .strict();
const EnableOutput = z.object({
  toolset: z.string(),
  tools: z.array(z.string()),
  enabled: z.array(z.string()),
  expiresAt: z.string(),
});

const KIT_ANNOTATIONS = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

/** A tool the kit adds to every server, as authorize() hands it to preflight: LOW, no scope beyond a valid caller. */
export function kitTool(name: string, title: string, toolset: string, readOnly: boolean): EffectiveTool {
  return {
    server: '',
    name,
    title,
    description: '',
    toolset,
    tier: 'LOW',
    declaredTier: 'LOW',
    scopes: [],
    annotations: { ...KIT_ANNOTATIONS, readOnlyHint: readOnly },
    inputSchema: { type: 'object' },
    outputSchema: { type: 'object' },
    confirm: false,
    spiffeAllow: [],
    options: {},
    approval: null,
  };
}

export function kitToolsetTool(name: string): EffectiveTool {
  const list = name === TOOLSETS_LIST_TOOL;
  return kitTool(name, list ? 'List toolsets' : 'Enable a toolset', KIT_TOOLSET, list);
}

/** The two kit tools as tools/list shows them. */
export function toolsetToolListings() {
  const meta = listedMeta({ tier: 'LOW', scopes: [] });
  return [
    {
      name: TOOLSETS_LIST_TOOL,
      title: 'List toolsets',
      description: 'Toolsets of this server with their tools and whether each is enabled for you.',
      inputSchema: jsonSchemaOf(ListInput, 'input'),
      outputSchema: jsonSchemaOf(ListOutput, 'output'),
      annotations: advertisedAnnotations(KIT_ANNOTATIONS),
      _meta: meta,
    },
    {
      name: TOOLSETS_ENABLE_TOOL,
      title: 'Enable a toolset',
      description: "Adds a toolset's tools to your tools/list (list again afterwards); see toolsets_list.",
      inputSchema: jsonSchemaOf(EnableInput, 'input'),
      outputSchema: jsonSchemaOf(EnableOutput, 'output'),
      annotations: advertisedAnnotations({ ...KIT_ANNOTATIONS, readOnlyHint: false }),
      _meta: meta,
    },
  ];
}

export interface DynamicToolsetsOptions {
  initial: readonly string[];
  store: ToolsetStore;
  ttlSeconds: number;
  /** Optional one-line descriptions per toolset (default: its tools' titles). */
  descriptions?: Readonly<Record<string, string>>;
}

interface KitResult {
  [key: string]: unknown;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

/** Per-principal toolset state and the two kit tools' handlers. */
export class DynamicToolsets {
  readonly #o: DynamicToolsetsOptions;

  constructor(opts: DynamicToolsetsOptions) {
    this.#o = opts;
  }

  get initial(): readonly string[] {
    return this.#o.initial;
  }

  /** The toolsets on for this principal: the initial ones plus those it enabled. */
  async on(principal: Principal): Promise<Set<string>> {
    let enabled: string[];
    try {
      enabled = await this.#o.store.enabled(principalKeyOf(principal));
    } catch (err) {
      const where = err instanceof RavenhelmError ? err.details.redis : undefined;
      throw new RavenhelmError(
        'ERR_BACKEND_UNAVAILABLE',
        `the toolset store (Redis) did not answer${typeof where === 'string' ? ` at ${where}` : ''}, so the toolsets enabled for you are unknown; retry shortly`,
        typeof where === 'string' ? { redis: where } : {},
        { cause: err },
      );
    }
    return new Set([...this.#o.initial, ...enabled]);
  }

  /** Refusal for a tool whose toolset is off for this caller; undefined when it is on. */
  async refusal(principal: Principal, tool: EffectiveTool): Promise<RavenhelmError | undefined> {
    // The initial toolsets are on for everyone: they need no store (and keep working while it is down).
    if (tool.toolset === KIT_TOOLSET || this.#o.initial.includes(tool.toolset)) return undefined;
    if ((await this.on(principal)).has(tool.toolset)) return undefined;
    return new RavenhelmError(
      'ERR_TOOLSET_NOT_ENABLED',
      `${tool.name} is in toolset '${tool.toolset}', which is not enabled for you; call ${TOOLSETS_ENABLE_TOOL} with {"toolset": "${tool.toolset}"} first (${TOOLSETS_LIST_TOOL} shows every toolset)`,
      { toolset: tool.toolset, enableWith: { tool: TOOLSETS_ENABLE_TOOL, arguments: { toolset: tool.toolset } } },
    );
  }

  /**
   * Runs toolsets_list / toolsets_enable over the tools this caller may call. A store that does not
   * answer is a tool error the agent reads and retries on (ERR_BACKEND_UNAVAILABLE), not a protocol error.
   */
  async call(
    principal: Principal,
    name: string,
    rawArgs: Record<string, unknown>,
    visible: readonly EffectiveTool[],
  ): Promise<{ result: KitResult; changed: boolean }> {
    try {
      return await this.#call(principal, name, rawArgs, visible);
    } catch (err) {
      if (!(err instanceof RavenhelmError)) throw err;
      return {
        result: {
          isError: true,
          content: [{ type: 'text', text: `${err.code}: ${err.message}` }],
          _meta: { 'ravenhelm/error': { code: err.code, ...err.details } },
        },
        changed: false,
      };
    }
  }

  async #call(
    principal: Principal,
    name: string,
    rawArgs: Record<string, unknown>,
    visible: readonly EffectiveTool[],
  ): Promise<{ result: KitResult; changed: boolean }> {
    const groups = new Map<string, EffectiveTool[]>();
    for (const t of visible) groups.set(t.toolset, [...(groups.get(t.toolset) ?? []), t]);
    if (name === TOOLSETS_LIST_TOOL) {
      const input = ListInput.safeParse(rawArgs);
      if (!input.success) return { result: invalid('toolsets_list takes no arguments; pass {}'), changed: false };
      const on = await this.on(principal);
      const toolsets = [...groups].map(([ts, tools]) => ({
        name: ts,
        description: this.#o.descriptions?.[ts] ?? tools.map((t) => t.title).join('; '),
        enabled: on.has(ts),
        tools: tools.map((t) => t.name),
      }));
      return { result: ok({ toolsets }), changed: false };
    }
    const input = EnableInput.safeParse(rawArgs);
    const names = [...groups.keys()].join(', ');
    if (!input.success) return { result: invalid(`pass {"toolset": "<name>"}, one of: ${names}`), changed: false };
    const { toolset } = input.data;
    const tools = groups.get(toolset);
    if (!tools) {
      return {
        result: invalid(`no toolset '${toolset}' with tools you may call; toolsets: ${names}`),
        changed: false,
      };
    }
    const before = await this.on(principal);
    const expiresAt = await this.#o.store.enable(principalKeyOf(principal), toolset, this.#o.ttlSeconds);
    const enabled = [...new Set([...before, toolset])].sort();
    return {
      result: ok({
        toolset,
        tools: tools.map((t) => t.name),
        enabled,
        expiresAt: new Date(expiresAt * 1000).toISOString(),
      }),
      changed: !before.has(toolset),
    };
  }

  close(): Promise<void> {
    return this.#o.store.close();
  }
}

function ok(data: Record<string, unknown>): KitResult {
  return { content: [{ type: 'text', text: JSON.stringify(data) }], structuredContent: data };
}

function invalid(text: string): KitResult {
  return { isError: true, content: [{ type: 'text', text: `ERR_INVALID_INPUT: ${text}` }] };
}

/**
 * The dynamic toolsets of one server from configuration: RAVENHELM_TOOLSETS (config `toolsets.start`)
 * wins over the policy's `toolsets.initial`; 'all' or neither gives undefined (every toolset listed, as
 * before). Toolsets named must be enabled by the policy; errors stop startup.
 */
export function dynamicToolsetsOf(opts: {
  server: string;
  start: string | undefined;
  policyInitial: string | readonly string[] | undefined;
  available: readonly string[];
  defaultToolsets?: readonly string[] | undefined;
  descriptions?: Readonly<Record<string, string>> | undefined;
  ttlSeconds: number;
  redis?: RedisLike | undefined;
}): DynamicToolsets | undefined {
  const where = opts.start !== undefined ? 'RAVENHELM_TOOLSETS' : `policy servers.${opts.server}.toolsets.initial`;
  const declared = opts.defaultToolsets?.filter((t) => opts.available.includes(t));
  const start = toolsetStartOf(opts.start ?? opts.policyInitial, declared, opts.available, where);
  if (start.mode === 'all') return undefined;
  return new DynamicToolsets({
    initial: start.initial,
    ttlSeconds: opts.ttlSeconds,
    store: createToolsetStore({
      keyPrefix: `ravenhelm:tls:${opts.server}`,
      ...(opts.redis ? { redis: opts.redis } : {}),
    }),
    ...(opts.descriptions ? { descriptions: opts.descriptions } : {}),
  });
}
