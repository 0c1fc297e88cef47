import { randomUUID } from 'node:crypto';
import type { Principal } from '@ravenhelm/auth';
import type { EffectiveTool, Registry } from '@ravenhelm/registry';
import { type ErrorCode, RavenhelmError, ToolError, toRavenhelmError } from '../errors.js';
import { invokeTool } from '../invoke.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { type AnyTool, sensitiveKeysOf } from '../tool.js';
import { type AuditSink, digestArgs, redactArgs } from './audit.js';
import type { ConfirmationStore } from './confirm.js';
import type { RateLimiter } from './rate-limit.js';

/** The argument that carries a confirmation token on the second call of a confirm-policy tool. */
export const CONFIRMATION_ARG = 'confirmationToken';

export interface PipelineOptions<S extends object> {
  server: string;
  tools: readonly AnyTool<S>[];
  services: S;
  registry: Registry;
  audit: AuditSink;
  rateLimiter: RateLimiter;
  confirmations: ConfirmationStore;
  metrics: Metrics;
  logger: Logger;
  maxOutputBytes: number;
  callTimeoutMs: number;
  confirmTtlSeconds: number;
  /** stdio: HIGH tools are refused unless the operator enabled them. */
  highToolsEnabled: boolean;
}

export interface CallMeta {
  requestId?: string;
  signal?: AbortSignal;
  /** Set by the HTTP layer when it already ran authorize + rate limit for this message. */
  preflighted?: boolean;
  /** Asks the user to confirm (MCP elicitation) when the session supports it; undefined: not supported. */
  elicitConfirmation?: (plan: string) => Promise<boolean>;
}

export interface ToolResult {
  [key: string]: unknown;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

/** The MCP shape of a tool in tools/list. */
export interface ListedTool {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: EffectiveTool['annotations'] & { title: string };
  _meta: Record<string, unknown>;
}

const DENIED: ReadonlySet<ErrorCode> = new Set([
  'ERR_INSUFFICIENT_SCOPE',
  'ERR_TIER_SPIFFE_REQUIRED',
  'ERR_TOOL_DISABLED',
  'ERR_READ_ONLY',
  'ERR_UNKNOWN_TOOL',
  'ERR_RATE_LIMITED',
  'ERR_SPIFFE_BINDING',
  'ERR_CONFIRMATION_INVALID',
  'ERR_NOT_ALLOWED',
]);

/**
 * The request pipeline for tool calls, as explicit stages:
 * authorize -> rate limit -> audit attempt -> confirm -> handler -> audit outcome, with metrics throughout.
 * Both transports use it; the HTTP layer runs `preflight` itself so refusals become HTTP statuses.
 */
export class Pipeline<S extends object> {
  readonly #o: PipelineOptions<S>;
  readonly #tools: Map<string, AnyTool<S>>;
  readonly #listCache = new Map<string, ListedTool[]>();
  readonly #sensitive = new Map<string, string[]>();
  #inFlight = 0;
  #idle: (() => void)[] = [];

  constructor(opts: PipelineOptions<S>) {
    this.#o = opts;
    this.#tools = new Map(opts.tools.map((t) => [t.name, t]));
    for (const t of opts.registry.all(opts.server)) this.#sensitive.set(t.name, sensitiveKeysOf(t.inputSchema));
  }

  /** Arguments safe to show in plans and logs: secret-looking and declared-sensitive fields redacted. */
  #shown(name: string, args: unknown): string {
    return JSON.stringify(redactArgs(args, undefined, this.#sensitive.get(name)));
  }

  /** Resolves when no tool call is running (graceful shutdown). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #callerFacts(principal: Principal) {
    return { scopes: principal.scopes, spiffeId: principal.spiffeId };
  }

  /** tools/list: exactly the tools this caller may call. */
  listTools(principal: Principal): ListedTool[] {
    const key = `${principal.scopes.join(' ')}|${principal.spiffeId ?? ''}`;
    const cached = this.#listCache.get(key);
    if (cached) return cached;
    const visible = this.#o.registry
      .visibleTo(this.#o.server, this.#callerFacts(principal))
      .filter((t) => this.#o.highToolsEnabled || t.tier !== 'HIGH')
      .map((t) => this.#listed(t));
    if (this.#listCache.size > 1000) this.#listCache.clear();
    this.#listCache.set(key, visible);
    return visible;
  }

  #listed(t: EffectiveTool): ListedTool {
    const inputSchema = t.confirm ? withConfirmationArg(t.inputSchema) : t.inputSchema;
    return {
      name: t.name,
      title: t.title,
      description: t.confirm
        ? `${t.description} Needs confirmation: the first call returns a plan and a token.`
        : t.description,
      inputSchema,
      outputSchema: t.outputSchema,
      annotations: { title: t.title, ...t.annotations },
      _meta: { 'ravenhelm/tier': t.tier, 'ravenhelm/scopes': t.scopes, 'ravenhelm/toolset': t.toolset },
    };
  }

  /** Stage: authorize. Throws the refusal with every scope the call needs. */
  authorize(principal: Principal, name: string): EffectiveTool {
    const d = this.#o.registry.decide(this.#o.server, name, this.#callerFacts(principal));
    if (d.allowed) {
      if (d.tool.tier === 'HIGH' && !this.#o.highToolsEnabled) {
        throw new RavenhelmError(
          'ERR_TOOL_DISABLED',
          `${name} is a HIGH-tier tool and HIGH tools are off on this transport`,
        );
      }
      return d.tool;
    }
    switch (d.reason) {
      case 'unknown-tool':
        throw new RavenhelmError(
          'ERR_UNKNOWN_TOOL',
          `no tool named '${name}'; call tools/list to see the tools you may call`,
        );
      case 'toolset-disabled':
      case 'policy-disabled':
        throw new RavenhelmError('ERR_TOOL_DISABLED', `${name} is disabled by this server's policy`);
      case 'read-only':
        throw new RavenhelmError('ERR_READ_ONLY', `${name} changes state and this server is in read-only mode`);
      case 'insufficient-scope': {
        const tool = d.tool as EffectiveTool;
        throw new RavenhelmError('ERR_INSUFFICIENT_SCOPE', `${name} needs scope ${tool.scopes.join(' ')}`, {
          requiredScopes: [...tool.scopes],
          missingScopes: d.missingScopes ?? [],
        });
      }
      case 'spiffe-required':
        throw new RavenhelmError(
          'ERR_TIER_SPIFFE_REQUIRED',
          principal.spiffeId
            ? `${name} is HIGH tier and your workload identity is not on its allowlist`
            : `${name} is HIGH tier: connect with mTLS using an X.509-SVID on the tool's allowlist`,
        );
    }
  }

  /** False when this server has the tool and authorize would refuse this caller (no side effects). */
  permits(principal: Principal, name: string): boolean {
    if (!this.#o.registry.get(this.#o.server, name)) return true;
    try {
      this.authorize(principal, name);
      return true;
    } catch {
      return false;
    }
  }

  /** Stages authorize + rate limit. Records denials (metrics + audit outcome). */
  async preflight(principal: Principal, name: string, args: unknown, requestId: string): Promise<EffectiveTool> {
    let tool: EffectiveTool | undefined;
    try {
      tool = this.authorize(principal, name);
      if (tool.tier !== 'LOW') await this.#o.rateLimiter.consume(`${this.#o.server}:${principal.subject}`);
      return tool;
    } catch (err) {
      const e = toRavenhelmError(err);
      this.#o.metrics.reject(e.code);
      const known = tool ?? this.#o.registry.get(this.#o.server, name);
      if (known) {
        this.#o.metrics.toolCalls.inc({
          server: this.#o.server,
          tool: known.name,
          tier: known.tier,
          outcome: 'denied',
        });
        await this.#auditSafe(principal, known, args, requestId, 'outcome', { outcome: 'denied', errorCode: e.code });
      }
      throw e;
    }
  }

  /**
   * Records a tools/call refused before preflight because the message itself was malformed (bad
   * params, nesting too deep): a denied outcome for a tool this server has, without the arguments.
   */
  async refused(principal: Principal, name: string, requestId: string, code: ErrorCode): Promise<void> {
    const known = this.#o.registry.get(this.#o.server, name);
    if (!known) return;
    this.#o.metrics.toolCalls.inc({ server: this.#o.server, tool: known.name, tier: known.tier, outcome: 'denied' });
    await this.#auditSafe(principal, known, {}, requestId, 'outcome', { outcome: 'denied', errorCode: code });
  }

  /** Both stages for transports without an HTTP status to map (stdio), then execute. */
  async call(
    principal: Principal,
    name: string,
    args: Record<string, unknown> | undefined,
    meta: CallMeta = {},
  ): Promise<ToolResult> {
    const requestId = meta.requestId ?? randomUUID();
    if (!meta.preflighted) {
      try {
        await this.preflight(principal, name, args, requestId);
      } catch (err) {
        const e = toRavenhelmError(err);
        if (e.mapping.kind === 'tool' || DENIED.has(e.code)) return errorResult(e);
        throw e;
      }
    }
    return this.execute(principal, name, args ?? {}, { ...meta, requestId });
  }

  /** Stages after preflight: audit attempt (durable for HIGH) -> confirm -> handler -> audit outcome. */
  async execute(
    principal: Principal,
    name: string,
    rawArgs: Record<string, unknown>,
    meta: CallMeta & { requestId: string },
  ): Promise<ToolResult> {
    const tool = this.#tools.get(name);
    const eff = this.#o.registry.get(this.#o.server, name);
    if (!tool || !eff) throw new RavenhelmError('ERR_UNKNOWN_TOOL', `no tool named '${name}'`);
    const { [CONFIRMATION_ARG]: confirmationToken, ...args } = rawArgs;
    const labels = { server: this.#o.server, tool: name, tier: eff.tier };
    const started = performance.now();
    this.#inFlight++;
    this.#o.metrics.inFlight.inc({ server: this.#o.server });
    let outcome: 'success' | 'denied' | 'error' = 'error';
    let errorCode: string | undefined;
    try {
      if (eff.tier === 'HIGH') {
        try {
          await this.#o.audit.write(this.#event(principal, eff, args, meta.requestId, 'attempt'), { durable: true });
        } catch (err) {
          this.#o.logger.error({ err, tool: name }, 'audit attempt write failed; refusing HIGH call');
          throw new RavenhelmError(
            'ERR_AUDIT_UNAVAILABLE',
            `${name} was not run: the audit log cannot be written; try again later`,
          );
        }
      }
      if (eff.confirm) {
        const confirmed = await this.#confirm(principal, tool, eff, args, confirmationToken, meta);
        if (confirmed !== true) {
          outcome = 'denied';
          errorCode = 'ERR_CONFIRMATION_REQUIRED';
          return confirmed;
        }
      } else if (confirmationToken !== undefined) {
        throw new ToolError('ERR_INVALID_INPUT', `${name} takes no ${CONFIRMATION_ARG}`);
      }
      const data = await invokeTool(
        tool,
        args,
        this.#o.services,
        {
          signal: meta.signal ?? new AbortController().signal,
          logger: this.#o.logger.child({ tool: name, requestId: meta.requestId }),
          principal,
          requestId: meta.requestId,
          maxOutputBytes: this.#o.maxOutputBytes,
          options: eff.options,
        },
        { timeoutMs: this.#o.callTimeoutMs },
      );
      outcome = 'success';
      return { content: [{ type: 'text', text: JSON.stringify(data) }], structuredContent: data };
    } catch (err) {
      const e = toRavenhelmError(err);
      errorCode = e.code;
      outcome = DENIED.has(e.code) ? 'denied' : 'error';
      if (e.code === 'ERR_INTERNAL')
        this.#o.logger.error({ err, tool: name, requestId: meta.requestId }, 'tool failed');
      if (e.mapping.kind === 'tool' || DENIED.has(e.code)) return errorResult(e);
      throw e;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.#o.metrics.toolDuration.observe(labels, seconds);
      this.#o.metrics.toolCalls.inc({ ...labels, outcome });
      await this.#auditSafe(principal, eff, args, meta.requestId, 'outcome', {
        outcome,
        ...(errorCode ? { errorCode } : {}),
        durationMs: Math.round(seconds * 1000),
      });
      this.#inFlight--;
      this.#o.metrics.inFlight.dec({ server: this.#o.server });
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #confirm(
    principal: Principal,
    tool: AnyTool<S>,
    eff: EffectiveTool,
    args: Record<string, unknown>,
    token: unknown,
    meta: CallMeta,
  ): Promise<true | ToolResult> {
    const binding = { subject: principal.subject, tool: eff.name, argsDigest: digestArgs(args) };
    if (token !== undefined) {
      if (typeof token !== 'string' || !(await this.#o.confirmations.redeem(token, binding))) {
        throw new ToolError(
          'ERR_CONFIRMATION_INVALID',
          `the ${CONFIRMATION_ARG} is unknown, expired, already used, or was issued for other arguments; call ${eff.name} again without it to get a new one`,
        );
      }
      return true;
    }
    const plan = await this.#plan(tool, eff, args);
    if (meta.elicitConfirmation) {
      if (await meta.elicitConfirmation(plan)) return true;
      throw new ToolError('ERR_CONFIRMATION_INVALID', `the user declined: ${eff.name} was not run`);
    }
    const { token: issued, expiresAt } = await this.#o.confirmations.issue(binding, this.#o.confirmTtlSeconds);
    const text =
      `ERR_CONFIRMATION_REQUIRED: nothing was changed yet. Plan: ${plan}\n` +
      `To proceed, call ${eff.name} again with the same arguments plus "${CONFIRMATION_ARG}": "${issued}" ` +
      `(single use, expires in ${this.#o.confirmTtlSeconds} s).`;
    return {
      isError: true,
      content: [{ type: 'text', text }],
      _meta: { 'ravenhelm/confirmation': { token: issued, expiresAt, plan } },
    };
  }

  async #plan(tool: AnyTool<S>, eff: EffectiveTool, args: Record<string, unknown>): Promise<string> {
    const generic = `${eff.title} (${eff.name}) with ${this.#shown(eff.name, args)}`;
    if (!tool.plan) return generic;
    const parsed = tool.input.safeParse(args);
    if (!parsed.success) return generic;
    const ctx = {
      ...this.#o.services,
      signal: AbortSignal.timeout(this.#o.callTimeoutMs),
      logger: this.#o.logger,
      principal: { subject: 'planner', scopes: [], roles: [], source: 'stdio' as const },
      requestId: 'plan',
      maxOutputBytes: this.#o.maxOutputBytes,
      options: eff.options,
    };
    return tool.plan(parsed.data, ctx);
  }

  #event(principal: Principal, eff: EffectiveTool, args: unknown, requestId: string, phase: 'attempt' | 'outcome') {
    return {
      server: this.#o.server,
      tool: eff.name,
      tier: eff.tier,
      principal: {
        subject: principal.subject,
        ...(principal.clientId ? { clientId: principal.clientId } : {}),
        ...(principal.spiffeId ? { spiffeId: principal.spiffeId } : {}),
      },
      requestId,
      phase,
      args,
      sensitiveKeys: this.#sensitive.get(eff.name) ?? [],
    };
  }

  async #auditSafe(
    principal: Principal,
    eff: EffectiveTool,
    args: unknown,
    requestId: string,
    phase: 'outcome',
    extra: { outcome: 'success' | 'denied' | 'error'; errorCode?: string; durationMs?: number },
  ): Promise<void> {
    try {
      await this.#o.audit.write(
        { ...this.#event(principal, eff, args, requestId, phase), ...extra },
        { durable: eff.tier === 'HIGH' },
      );
    } catch (err) {
      this.#o.logger.error({ err, tool: eff.name }, 'audit outcome write failed');
    }
  }
}

export function errorResult(e: RavenhelmError): ToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${e.code}: ${e.message}` }],
    _meta: { 'ravenhelm/error': { code: e.code, ...e.details } },
  };
}

function withConfirmationArg(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = { ...((schema.properties as Record<string, unknown>) ?? {}) };
  properties[CONFIRMATION_ARG] = {
    type: 'string',
    description: 'The single-use token returned by the first call; only send it to carry out the confirmed plan.',
  };
  return { ...schema, properties };
}
