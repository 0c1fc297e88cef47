import { createHash, randomUUID } from 'node:crypto';
import type { Principal } from '@ravenhelm/auth';
import { advertisedAnnotations, type EffectiveTool, listedMeta, type Registry } from '@ravenhelm/registry';
import { clipHead, dataBudgetOf, jsonBytes } from '../budget.js';
import { type ErrorCode, RavenhelmError, ToolError, toRavenhelmError } from '../errors.js';
import { invokeTool, parseToolInput } from '../invoke.js';
import type { Logger } from '../logging.js';
import type { Metrics } from '../metrics.js';
import { hashSubject, parseTraceparent, SpanKind, type Tracer, withSpan } from '../telemetry/trace.js';
import { type AnyTool, sensitiveKeysOf } from '../tool.js';
import { wellFormed, wellFormedValue } from '../unicode.js';
import { visible } from '../visible.js';
import { type AdmissionLimits, CallAdmission, DEFAULT_ADMISSION } from './admission.js';
import { ApprovalDesk } from './approval-desk.js';
import {
  APPROVAL_ARG,
  APPROVAL_STATUS_TOOL,
  approvalGate,
  approvalStatusListing,
  type ResolvedPlan,
  statusResult,
} from './approval-flow.js';
import { type ApprovalRequest, type ApprovalStore, createApprovalStore } from './approvals.js';
import {
  type AuditApproval,
  type AuditEvent,
  type AuditOutcome,
  type AuditResult,
  type AuditSink,
  digestArgs,
  redactArgs,
} from './audit.js';
import { DenialAggregator } from './audit-denials.js';
import { AUDIT_LOG_EVERY_MS, limitLines } from './audit-log-limit.js';
import type { ConfirmationStore } from './confirm.js';
import type { RateLimiter } from './rate-limit.js';
import {
  type DynamicToolsets,
  KIT_TOOLSET,
  kitTool,
  kitToolsetTool,
  TOOLSETS_ENABLE_TOOL,
  TOOLSETS_LIST_TOOL,
  toolsetToolListings,
} from './toolsets.js';

/** How the local operator turns on a HIGH tool over stdio (named in refusals, since mTLS cannot apply there). */
const LOCAL_HIGH_HOWTO =
  "to allow it, set RAVENHELM_LOCAL_ALLOW_HIGH=true and RAVENHELM_LOCAL_SPIFFE_ID to an ID on the tool's allowlist (policy: servers.<server>.spiffe)";

/** approvals_get_status as authorize() hands it to preflight: LOW, no scope beyond a valid caller. */
const STATUS_TOOL: EffectiveTool = kitTool(APPROVAL_STATUS_TOOL, 'Approval request status', 'approvals', true);

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
  /** Repeated denials (same principal, tool and reason) within this window share one summary record. */
  denialWindowMs?: number;
  /** Human-approval requests; default: an in-memory store (one replica). */
  approvals?: ApprovalStore;
  /** Told about every new pending request (the webhook notifier); must not throw. */
  onApprovalRequested?: (request: ApprovalRequest) => void;
  /** Tool-call spans (OTLP), when traces are configured. */
  tracer?: Tracer | undefined;
  /** Dynamic toolsets: sessions start with some toolsets and enable others. Absent: every toolset is listed. */
  toolsets?: DynamicToolsets;
  /** Tool calls running at once, in all and per caller; default DEFAULT_ADMISSION. */
  admission?: AdmissionLimits;
}

export interface CallMeta {
  requestId?: string;
  signal?: AbortSignal;
  /** The controller behind `signal` when it belongs to this call alone: the handler's deadline reuses it. */
  controller?: AbortController | undefined;
  /** Set by the HTTP layer when it already ran authorize + rate limit for this message. */
  preflighted?: boolean;
  /** Asks the user to confirm (MCP elicitation) when the session supports it; undefined: not supported. */
  elicitConfirmation?: (plan: string) => Promise<boolean>;
  /** The caller's W3C traceparent header: the call's span joins that trace. */
  traceparent?: string | undefined;
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
  /** The hints that differ from the MCP defaults (advertisedAnnotations); the title is the tool's own `title`. */
  annotations: Partial<EffectiveTool['annotations']>;
  /** `{ravenhelm: {tier, scopes}}`: what the registry requires, one compact key (listedMeta). */
  _meta: { ravenhelm: { tier: string; scopes: readonly string[] } };
  /** MCP 2025-11-25 Tasks: present when the tool may run as a task. */
  execution?: { taskSupport: 'optional' | 'required' };
}

/** Bytes of `{"content":[{"type":"text","text":…}],"structuredContent":…}` besides the two copies (58), rounded up. */
const RESULT_FRAMING_BOUND = 64;

const DENIED: ReadonlySet<ErrorCode> = new Set([
  'ERR_INSUFFICIENT_SCOPE',
  'ERR_TIER_SPIFFE_REQUIRED',
  'ERR_TOOL_DISABLED',
  'ERR_READ_ONLY',
  'ERR_UNKNOWN_TOOL',
  'ERR_RATE_LIMITED',
  'ERR_SPIFFE_BINDING',
  'ERR_CONFIRMATION_INVALID',
  'ERR_APPROVAL_INVALID',
  'ERR_NOT_ALLOWED',
  'ERR_TOOLSET_NOT_ENABLED',
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
  readonly #shownMemo = new WeakMap<object, unknown>();
  /** Each tool's declared argument names (its input schema's properties and the kit's own two). */
  readonly #known = new Map<string, Set<string>>();
  #inFlight = 0;
  #idle: (() => void)[] = [];
  readonly #denials: DenialAggregator;
  readonly #admission: CallAdmission;
  /** What a handler may return so that the whole result (both copies) fits maxOutputBytes. */
  readonly #dataBudget: number;
  /** Rejects (ERR_OUTCOME_UNKNOWN) when shutdown stops waiting for the calls still running. */
  /** Rejecters of the calls running now; shutdown's abandon rejects them (per call: see #execute). */
  readonly #abandonRejects = new Set<(err: Error) => void>();
  /** Set once shutdown stopped waiting: calls that have not reached their handler are refused. */
  #abandoned = false;
  readonly #approvals: ApprovalStore;
  readonly #desk: ApprovalDesk;
  /** Whether any tool of this server is under human approval: then approvals_get_status is offered. */
  readonly #approvalsOn: boolean;
  readonly #toolsetListeners = new Set<(principal: Principal) => void>();
  /** Audit write failures, logged bounded (a full disk under load): each line has how many it stands for. */
  readonly #auditFailed = {
    attempt: this.#failureLines('audit attempt write failed; refusing the call'),
    outcome: this.#failureLines('audit outcome write failed'),
  };

  constructor(opts: PipelineOptions<S>) {
    this.#o = opts;
    this.#dataBudget = dataBudgetOf(opts.maxOutputBytes);
    this.#admission = new CallAdmission(opts.admission ?? DEFAULT_ADMISSION);
    this.#denials = new DenialAggregator({
      sink: opts.audit,
      windowMs: opts.denialWindowMs ?? 60_000,
      onError: (err) => opts.logger.error({ err }, 'audit write of aggregated denials failed'),
    });
    this.#tools = new Map(opts.tools.map((t) => [t.name, t]));
    this.#approvals = opts.approvals ?? createApprovalStore({ server: opts.server });
    this.#desk = new ApprovalDesk({
      server: opts.server,
      store: this.#approvals,
      registry: opts.registry,
      audit: opts.audit,
      logger: opts.logger,
    });
    this.#approvalsOn = opts.registry.enabled(opts.server).some((t) => t.approval !== null);
    for (const t of opts.registry.all(opts.server)) {
      this.#sensitive.set(t.name, sensitiveKeysOf(t.inputSchema));
      const props = (t.inputSchema as { properties?: Record<string, unknown> }).properties ?? {};
      this.#known.set(t.name, new Set([...Object.keys(props), CONFIRMATION_ARG, APPROVAL_ARG]));
    }
  }

  /** Arguments safe to show in plans and logs: the tool's view, secret-looking and sensitive fields redacted. */
  #shown(name: string, args: unknown): string {
    return JSON.stringify(redactArgs(this.#argsShown(name, args) ?? args, undefined, this.#sensitive.get(name)));
  }

  /**
   * The arguments as audit records, plans and logs show them, once per arguments object (the attempt, the
   * outcome and a plan share it): those the tool does not declare masked (knownOnly), then the tool's own view
   * (its `shownArgs`); undefined when neither changes anything. A view that throws shows no argument at all
   * rather than the raw ones.
   */
  #argsShown(name: string, args: unknown): unknown {
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return undefined;
    const hit = this.#shownMemo.get(args);
    if (hit !== undefined) return hit;
    const view = this.#tools.get(name)?.shownArgs;
    const masked = this.#knownOnly(name, args as Record<string, unknown>);
    let shown: unknown = masked;
    if (view) {
      try {
        shown = view(masked ?? (args as Record<string, unknown>));
      } catch {
        shown = undefined;
      }
      // A view that failed, or returned nothing, must not fall back to the raw arguments.
      if (shown === undefined || shown === null) shown = '[arguments not shown: the tool could not redact them]';
    }
    if (shown !== undefined) this.#shownMemo.set(args, shown);
    return shown;
  }

  /**
   * The arguments with the value of each one the tool does not declare replaced (its name kept), or undefined
   * when all are declared. Such a call is refused, but its attempt is audited (and logged) first, and no
   * `sensitive` mark or secret-looking name covers an argument sent to the wrong tool: a secret value given
   * as `value` to a tool without that argument would be recorded as it was.
   */
  #knownOnly(name: string, args: Record<string, unknown>): Record<string, unknown> | undefined {
    const known = this.#known.get(name);
    if (!known || Object.keys(args).every((k) => known.has(k))) return undefined;
    const masked: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args))
      Object.defineProperty(masked, k, {
        value: known.has(k) ? v : UNKNOWN_NOT_SHOWN,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return masked;
  }

  /** Resolves when no tool call is running (graceful shutdown). */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Shutdown's grace is over: every call still running answers now with ERR_OUTCOME_UNKNOWN, and its
   * outcome record says 'unknown' (its handler may still finish, or not, before the process exits).
   * Resolves when those answers and records are done.
   */
  abandonInFlight(): Promise<void> {
    this.#abandoned = true;
    if (this.#inFlight === 0) return Promise.resolve();
    const idle = this.idle();
    const err = new ToolError(
      'ERR_OUTCOME_UNKNOWN',
      'the server shut down before this call finished: it may or may not have taken effect; check the current state before retrying',
    );
    for (const reject of this.#abandonRejects) reject(err);
    return idle;
  }

  /** Writes the summaries of aggregated denials; call before closing the audit sink. */
  async close(): Promise<void> {
    await this.#denials.flush();
    await this.#o.toolsets?.close();
    this.#auditFailed.attempt.flush();
    this.#auditFailed.outcome.flush();
  }

  #failureLines(msg: string) {
    return limitLines<{ err: unknown; tool: string }>(AUDIT_LOG_EVERY_MS, (fields, { count }) =>
      this.#o.logger.error({ ...fields, count }, msg),
    );
  }

  /** The approval requests of this server (the operator API reads and decides through it). */
  get approvals(): ApprovalStore {
    return this.#approvals;
  }

  /** The operators' side: list, show, approve, reject (the HTTP API and console use it). */
  get approvalDesk(): ApprovalDesk {
    return this.#desk;
  }

  #callerFacts(principal: Principal) {
    return { scopes: principal.scopes, spiffeId: principal.spiffeId };
  }

  /** Whether sessions grow their toolsets at run time (toolsets_list / toolsets_enable are offered). */
  get dynamicToolsets(): boolean {
    return this.#o.toolsets !== undefined;
  }

  /**
   * Called after a principal enabled a toolset that was off (stdio sends notifications/tools/list_changed).
   * Returns the unsubscribe function.
   */
  onToolListChanged(listener: (principal: Principal) => void): () => void {
    this.#toolsetListeners.add(listener);
    return () => this.#toolsetListeners.delete(listener);
  }

  /**
   * tools/list as the caller sees it now: with dynamic toolsets, the tools of the toolsets enabled for
   * this principal plus toolsets_list and toolsets_enable; otherwise the same as listTools. While the
   * shared store does not answer, the list degrades to the initial toolsets (which need no store)
   * instead of failing: calls into toolsets the principal enabled earlier say why they are refused.
   */
  async listToolsFor(principal: Principal): Promise<ListedTool[]> {
    const all = this.listTools(principal);
    if (!this.#o.toolsets) return all;
    let on: Set<string>;
    try {
      on = await this.#o.toolsets.on(principal);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'toolset store unavailable: listing the initial toolsets');
      on = new Set(this.#o.toolsets.initial);
    }
    on.add(KIT_TOOLSET);
    // The kit's own listings (toolsets_*, approvals_get_status) are not in the registry.
    const toolsetOf = (name: string) => this.#o.registry.get(this.#o.server, name)?.toolset ?? KIT_TOOLSET;
    return all.filter((t) => on.has(toolsetOf(t.name)) || t.name === APPROVAL_STATUS_TOOL);
  }

  /** Every tool this caller may call, whatever toolsets its session has enabled. */
  listTools(principal: Principal): ListedTool[] {
    // JSON, not a joined string: ['a b'] and ['a', 'b'] must never share an entry (order does not matter).
    const key = JSON.stringify([[...principal.scopes].sort(), principal.spiffeId ?? null]);
    const cached = this.#listCache.get(key);
    if (cached) return cached;
    const visible = this.#o.registry
      .visibleTo(this.#o.server, this.#callerFacts(principal))
      .filter((t) => this.#o.highToolsEnabled || t.tier !== 'HIGH')
      .map((t) => this.#listed(t));
    if (this.#approvalsOn) visible.push(approvalStatusListing());
    if (this.#o.toolsets) visible.push(...toolsetToolListings());
    if (this.#listCache.size > 1000) this.#listCache.clear();
    this.#listCache.set(key, visible);
    return visible;
  }

  /** Whether a tool may (or must) run as an MCP task; undefined: plain calls only. */
  taskSupport(name: string): 'optional' | 'required' | undefined {
    return this.#tools.get(name)?.task;
  }

  #listed(t: EffectiveTool): ListedTool {
    const task = this.#tools.get(t.name)?.task;
    let inputSchema = t.confirm && !t.approval ? withConfirmationArg(t.inputSchema) : t.inputSchema;
    if (t.approval) inputSchema = withApprovalArg(inputSchema);
    return {
      name: t.name,
      title: t.title,
      description: t.approval
        ? `${t.description} Needs human approval: the first call returns a request id; repeat the call with it once approved.`
        : t.confirm
          ? `${t.description} Needs confirmation: the first call returns a plan and a token.`
          : t.description,
      inputSchema,
      outputSchema: t.outputSchema,
      annotations: advertisedAnnotations(t.annotations),
      _meta: listedMeta(t),
      ...(task ? { execution: { taskSupport: task } } : {}),
    };
  }

  /** Stage: authorize. Throws the refusal with every scope the call needs. */
  authorize(principal: Principal, name: string): EffectiveTool {
    if (name === APPROVAL_STATUS_TOOL && this.#approvalsOn) return STATUS_TOOL;
    if ((name === TOOLSETS_LIST_TOOL || name === TOOLSETS_ENABLE_TOOL) && this.#o.toolsets) return kitToolsetTool(name);
    const d = this.#o.registry.decide(this.#o.server, name, this.#callerFacts(principal));
    if (d.allowed) {
      if (d.tool.tier === 'HIGH' && !this.#o.highToolsEnabled) {
        throw new RavenhelmError(
          'ERR_TOOL_DISABLED',
          principal.source === 'stdio'
            ? `${name} is a HIGH-tier tool and HIGH tools are off over stdio; ${LOCAL_HIGH_HOWTO}`
            : `${name} is a HIGH-tier tool and HIGH tools are off on this transport`,
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
        const missing = (d.missingScopes ?? []).join(' ') || tool.scopes.join(' ');
        const howTo =
          principal.source === 'stdio'
            ? `add it to RAVENHELM_LOCAL_SCOPES (now: ${principal.scopes.join(' ') || 'none'})`
            : 'ask for a token that carries it (e.g. the OAuth scope parameter, or the matching role in your identity provider)';
        throw new RavenhelmError('ERR_INSUFFICIENT_SCOPE', `${name} needs scope ${missing}; ${howTo}`, {
          requiredScopes: [...tool.scopes],
          missingScopes: d.missingScopes ?? [],
        });
      }
      case 'spiffe-required':
        throw new RavenhelmError(
          'ERR_TIER_SPIFFE_REQUIRED',
          principal.source === 'stdio'
            ? `${name} is HIGH tier and the local operator's SPIFFE ID (${principal.spiffeId ?? 'none'}) is not on its allowlist; ${LOCAL_HIGH_HOWTO}`
            : principal.spiffeId
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
      // Only the server's own tools belong to a toolset a session enables (the kit's are always on).
      const off = this.#o.registry.get(this.#o.server, name)
        ? await this.#o.toolsets?.refusal(principal, tool)
        : undefined;
      if (off) throw off;
      if (tool.tier !== 'LOW') await this.#o.rateLimiter.consume(`${this.#o.server}:${principal.subject}`);
      return tool;
    } catch (err) {
      const e = toRavenhelmError(err);
      const known = tool ?? this.#o.registry.get(this.#o.server, name);
      if (!known) this.#o.metrics.reject(e.code);
      else if (DENIED.has(e.code)) await this.#recordDenial(principal, known, args, requestId, e.code);
      else {
        // Not a refusal of this caller but a failure while deciding (a store such as Redis did not
        // answer): an error outcome of its own, not folded into the aggregated denials.
        this.#o.metrics.reject(e.code);
        this.#o.metrics.toolCalls.inc({ server: this.#o.server, tool: known.name, tier: known.tier, outcome: 'error' });
        this.#o.metrics.toolErrors.inc({ server: this.#o.server, tool: known.name, code: e.code });
        await this.#auditSafe(principal, known, args, requestId, 'outcome', { outcome: 'error', errorCode: e.code });
      }
      throw e;
    }
  }

  /**
   * Records a tools/call refused before preflight because the message itself was malformed (bad
   * params, nesting too deep): a denied outcome for a tool this server has, without the arguments.
   */
  async refused(principal: Principal, name: string, requestId: string, code: ErrorCode): Promise<void> {
    if (name === APPROVAL_STATUS_TOOL) return;
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
        // Refusals are results the model reads (stdio has no HTTP status to carry them); an unknown tool is
        // a JSON-RPC error (-32602) on every transport, as MCP's tools spec has it and HTTP answers it.
        if (e.mapping.kind === 'tool' || (DENIED.has(e.code) && e.code !== 'ERR_UNKNOWN_TOOL')) return errorResult(e);
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
    if (name === APPROVAL_STATUS_TOOL && this.#approvalsOn) {
      return statusResult(this.#approvals, principal, rawArgs, this.#o.server);
    }
    if ((name === TOOLSETS_LIST_TOOL || name === TOOLSETS_ENABLE_TOOL) && this.#o.toolsets) {
      return this.#toolsetCall(principal, name, rawArgs);
    }
    const tool = this.#tools.get(name);
    const eff = this.#o.registry.get(this.#o.server, name);
    if (!tool || !eff) throw new RavenhelmError('ERR_UNKNOWN_TOOL', `no tool named '${name}'`);
    try {
      this.#admission.admit(principal.subject);
    } catch (err) {
      // Over a bound: nothing ran and nothing queued; the agent reads why and what to do.
      const e = err as RavenhelmError;
      await this.#recordDenial(principal, eff, rawArgs, meta.requestId, e.code);
      return errorResult(e);
    }
    const { [CONFIRMATION_ARG]: confirmationToken, [APPROVAL_ARG]: approvalId, ...args } = rawArgs;
    let approval: AuditApproval | undefined;
    let consumedApproval: { id: string; mark: string } | undefined;
    // The plan checked for this call (confirmed, accepted or approved): the handler acts on its targets.
    let planned: ResolvedPlan['planned'];
    const labels = { server: this.#o.server, tool: name, tier: eff.tier };
    const span = this.#o.tracer?.startSpan(`tools/call ${name}`, SpanKind.SERVER, parseTraceparent(meta.traceparent), {
      'rpc.system': 'jsonrpc',
      'rpc.method': 'tools/call',
      'rpc.jsonrpc.request_id': meta.requestId,
      'mcp.tool.name': name,
      'ravenhelm.tier': eff.tier,
      'ravenhelm.principal.hash': hashSubject(principal.subject),
    });
    const started = performance.now();
    this.#inFlight++;
    this.#o.metrics.inFlight.inc({ server: this.#o.server });
    let outcome: AuditOutcome = 'error';
    let errorCode: string | undefined;
    // What the handler said it did (ctx.noteResult), recorded only with a success.
    let result: AuditResult | undefined;
    const noteResult = (r: AuditResult) => {
      result = r;
    };
    try {
      // A call with side effects leaves a trace before it can have any: its attempt record is written
      // (HIGH: fsynced) before the handler runs, or the call is refused.
      if (!eff.annotations.readOnlyHint || eff.tier === 'HIGH') {
        try {
          await this.#o.audit.write(this.#event(principal, eff, args, meta.requestId, 'attempt'), {
            durable: eff.tier === 'HIGH',
          });
        } catch (err) {
          this.#auditFailed.attempt.note({ err, tool: name }, { count: 1 });
          this.#o.metrics.auditWriteFailures.inc({ server: this.#o.server, phase: 'attempt' });
          const shipping = err instanceof RavenhelmError && err.details.auditSink !== undefined; // audit-ship.ts guard
          const full = err instanceof RavenhelmError && err.details.diskFull === true; // audit.ts: ENOSPC, EDQUOT
          throw new RavenhelmError(
            'ERR_AUDIT_UNAVAILABLE',
            `${name} was not run: ${
              shipping
                ? err.message
                : `the audit log cannot be written${full ? ' (no space left on its disk: an operator must free space)' : ''}; try again later`
            }`,
            shipping ? err.details : {},
          );
        }
      }
      if (eff.approval) {
        // A request people will be asked to approve must be one that can run.
        if (approvalId === undefined) parseToolInput(tool, args);
        const gate = await approvalGate(
          {
            server: this.#o.server,
            store: this.#approvals,
            plan: () => this.#plan(tool, eff, args),
            sensitiveKeys: this.#sensitive.get(eff.name) ?? [],
            shown: (a) => this.#argsShown(eff.name, a) ?? a,
            ...(this.#o.onApprovalRequested ? { onRequested: this.#o.onApprovalRequested } : {}),
          },
          principal,
          eff,
          args,
          approvalId,
        );
        approval = gate.audit;
        consumedApproval = gate.consumed;
        planned = gate.checked?.planned;
        if (gate.refusal) throw gate.refusal;
        if (gate.result) {
          outcome = 'pending';
          errorCode = 'ERR_APPROVAL_PENDING';
          return gate.result;
        }
        // Approved by people who saw the plan: no second, self-confirmed round-trip.
        if (confirmationToken !== undefined) {
          throw new ToolError('ERR_INVALID_INPUT', `${name} is under approval and takes no ${CONFIRMATION_ARG}`);
        }
      } else if (approvalId !== undefined) {
        throw new ToolError('ERR_INVALID_INPUT', `${name} takes no ${APPROVAL_ARG}: it needs no approval`);
      } else if (eff.confirm) {
        const confirmed = await this.#confirm(principal, tool, eff, args, confirmationToken, meta);
        if ('refusal' in confirmed) {
          outcome = 'denied';
          errorCode = 'ERR_CONFIRMATION_REQUIRED';
          return confirmed.refusal;
        }
        planned = confirmed.checked?.planned;
      }
      if (!eff.confirm && !eff.approval && confirmationToken !== undefined) {
        throw new ToolError('ERR_INVALID_INPUT', `${name} takes no ${CONFIRMATION_ARG}`);
      }
      if (this.#abandoned) {
        throw new RavenhelmError('ERR_SHUTTING_DOWN', `${name} was not run: the server is shutting down; retry`);
      }
      if (consumedApproval && meta.signal?.aborted) {
        // The caller left while its approval was being consumed (a slow store): nothing will run, so the
        // people's approval is not used up; the same call with the same approvalRequestId can still run.
        await this.#approvals.release(consumedApproval.id, consumedApproval.mark);
        if (approval) approval = { ...approval, state: 'released' };
        throw new ToolError(
          'ERR_CANCELLED',
          `${name} was not run: the client went away before it started; approval ${consumedApproval.id} is still usable`,
        );
      }
      const running = withSpan(span, () =>
        invokeTool(
          tool,
          args,
          this.#o.services,
          {
            signal: meta.signal ?? new AbortController().signal,
            logger: lazyChild(this.#o.logger, { tool: name, requestId: meta.requestId }),
            principal,
            requestId: meta.requestId,
            maxOutputBytes: this.#dataBudget,
            options: eff.options,
            noteResult,
            ...(planned ? { planned: planned.bound } : {}),
          },
          { timeoutMs: this.#o.callTimeoutMs, ownController: meta.controller },
        ),
      );
      // Not Promise.race with one long-lived promise: each race would leave a reaction on it for good.
      const data = await new Promise<Record<string, unknown>>((resolve, reject) => {
        this.#abandonRejects.add(reject);
        running.then(resolve, reject).finally(() => this.#abandonRejects.delete(reject));
      });
      outcome = 'success';
      return this.#result(name, data);
    } catch (err) {
      const e = toRavenhelmError(err);
      errorCode = e.code;
      outcome = DENIED.has(e.code) ? 'denied' : e.code === 'ERR_OUTCOME_UNKNOWN' ? 'unknown' : 'error';
      if (e.code === 'ERR_INTERNAL')
        this.#o.logger.error({ err, tool: name, requestId: meta.requestId }, 'tool failed');
      if (e.mapping.kind === 'tool' || DENIED.has(e.code)) return errorResult(e);
      throw e;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.#o.metrics.toolDuration.observe(labels, seconds);
      this.#o.metrics.toolCalls.inc({ ...labels, outcome });
      if (errorCode && (outcome === 'error' || outcome === 'unknown')) {
        this.#o.metrics.toolErrors.inc({ server: this.#o.server, tool: name, code: errorCode });
      }
      await this.#auditSafe(principal, eff, args, meta.requestId, 'outcome', {
        outcome,
        ...(outcome === 'success' && result ? { result } : {}),
        ...(errorCode ? { errorCode } : {}),
        durationMs: Math.round(seconds * 1000),
        ...(approval ? { approval } : {}),
      });
      span?.setAttributes({ 'ravenhelm.outcome': outcome, 'error.type': errorCode });
      if (outcome === 'error' || outcome === 'unknown') span?.fail(errorCode ?? outcome);
      span?.end();
      this.#admission.release(principal.subject);
      this.#inFlight--;
      this.#o.metrics.inFlight.dec({ server: this.#o.server });
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** A refused call of a known tool: counted (rejections, denied calls) and audited as denied, aggregated. */
  async #recordDenial(
    principal: Principal,
    tool: EffectiveTool,
    args: unknown,
    requestId: string,
    code: ErrorCode,
  ): Promise<void> {
    this.#o.metrics.reject(code);
    this.#o.metrics.toolCalls.inc({ server: this.#o.server, tool: tool.name, tier: tool.tier, outcome: 'denied' });
    try {
      await this.#denials.record({
        ...this.#event(principal, tool, args, requestId, 'outcome'),
        outcome: 'denied',
        errorCode: code,
      });
    } catch (auditErr) {
      this.#auditFailed.outcome.note({ err: auditErr, tool: tool.name }, { count: 1 });
    }
  }

  async #toolsetCall(principal: Principal, name: string, rawArgs: Record<string, unknown>): Promise<ToolResult> {
    const visible = this.#o.registry
      .visibleTo(this.#o.server, this.#callerFacts(principal))
      .filter((t) => (this.#o.highToolsEnabled || t.tier !== 'HIGH') && t.toolset !== KIT_TOOLSET);
    const { result, changed } = await (this.#o.toolsets as DynamicToolsets).call(principal, name, rawArgs, visible);
    if (changed) {
      this.#o.logger.info({ subject: principal.subject, toolset: rawArgs.toolset }, 'toolset enabled for a principal');
      for (const listener of this.#toolsetListeners) listener(principal);
    }
    return result;
  }

  async #confirm(
    principal: Principal,
    tool: AnyTool<S>,
    eff: EffectiveTool,
    args: Record<string, unknown>,
    token: unknown,
    meta: CallMeta,
  ): Promise<{ refusal: ToolResult } | { checked?: ResolvedPlan }> {
    // A tool whose plan reads the backend (a diff of the file it would write) confirms that state: the token
    // carries the plan's digest, bound with the arguments, and the confirmed call plans again first; when
    // the plan is no longer the one shown (someone changed the target since), nothing runs.
    const argsDigest = digestArgs(args);
    const binding = (planDigest: string | undefined) => ({
      subject: principal.subject,
      tool: eff.name,
      argsDigest: planDigest === undefined ? argsDigest : `${argsDigest}:${planDigest}`,
    });
    if (token !== undefined) {
      const [secret, shown] = typeof token === 'string' ? token.split('.', 2) : [];
      if (secret === undefined || !(await this.#o.confirmations.redeem(secret, binding(shown)))) {
        throw new ToolError(
          'ERR_CONFIRMATION_INVALID',
          `the ${CONFIRMATION_ARG} is unknown, expired, already used, or was issued for other arguments; call ${eff.name} again without it to get a new one`,
        );
      }
      // Spent now either way: a confirmation of a plan that no longer holds confirms nothing. One that holds
      // hands the handler this re-plan's targets: a lookup of its own, moments later, could find others.
      if (shown !== undefined && tool.plan) {
        const plan = await this.#plan(tool, eff, args);
        if (planDigestOf(plan.text) !== shown) {
          throw new ToolError(
            'ERR_CONFLICT',
            `nothing was changed: what ${eff.name} would do now differs from the plan this ${CONFIRMATION_ARG} confirmed (its target changed since). Plan now: ${visible(plan.text)}\nCall ${eff.name} again without ${CONFIRMATION_ARG} to confirm this plan`,
          );
        }
        return { checked: plan };
      }
      return {};
    }
    // Never hand out a confirmation for a call that cannot run: invalid arguments are refused now.
    parseToolInput(tool, args);
    const resolved = await this.#plan(tool, eff, args);
    const plan = resolved.text;
    // People read the plan (a client's confirmation dialog, or a model relaying it): shown with every hidden
    // or reordering character visible (`visible`); its digest is of the plan itself.
    if (meta.elicitConfirmation) {
      // The user accepted exactly this plan: the handler acts on its targets.
      if (await meta.elicitConfirmation(visible(plan))) return { checked: resolved };
      throw new ToolError('ERR_CONFIRMATION_INVALID', `the user declined: ${eff.name} was not run`);
    }
    const shown = tool.plan ? planDigestOf(plan) : undefined;
    const confirmation = await this.#o.confirmations.issue(binding(shown), this.#o.confirmTtlSeconds);
    const issued = shown === undefined ? confirmation.token : `${confirmation.token}.${shown}`;
    const { expiresAt } = confirmation;
    const text =
      `ERR_CONFIRMATION_REQUIRED: nothing was changed yet. Plan: ${visible(plan)}\n` +
      `To proceed, call ${eff.name} again with the same arguments plus "${CONFIRMATION_ARG}": "${issued}" ` +
      `(single use, expires in ${this.#o.confirmTtlSeconds} s).`;
    return {
      refusal: {
        isError: true,
        content: [{ type: 'text', text }],
        _meta: { 'ravenhelm/confirmation': { token: issued, expiresAt, plan: visible(plan) } },
      },
    };
  }

  /**
   * The result as clients get it: the structured data and the same data as compact JSON text. The output
   * budget bounds the whole result; handlers are given 2/5 of it (dataBudgetOf). Only text that escapes
   * unusually heavily can still overflow: then the text copy says so and points at the structured copy,
   * which is always complete.
   */
  #result(name: string, produced: Record<string, unknown>): ToolResult {
    let data = produced;
    let text = JSON.stringify(data);
    // JSON.stringify writes a lone surrogate as a \udXXX escape (a pair stays raw), so this finds every one
    // (and, rarely, a literal backslash-u text, which the walk then leaves as it is).
    if (text.includes('\\ud')) {
      data = wellFormedValue(data);
      if (data !== produced) {
        this.#o.logger.warn({ tool: name }, 'result held a lone UTF-16 surrogate; replaced with U+FFFD');
        text = JSON.stringify(data);
      }
    }
    const result: ToolResult = { content: [{ type: 'text', text }], structuredContent: data };
    // The result's JSON is the framing, the text escaped once (at most 6 bytes per byte: \u00XX, plus
    // quotes) and the data (the text itself): under that bound it fits without serializing it again.
    if (RESULT_FRAMING_BOUND + 7 * Buffer.byteLength(text) + 2 <= this.#o.maxOutputBytes) return result;
    const size = jsonBytes(result);
    if (size <= this.#o.maxOutputBytes) return result;
    this.#o.logger.warn({ tool: name, size, budget: this.#o.maxOutputBytes }, 'text copy of a result clipped');
    const total = Buffer.byteLength(text);
    const clipped = (room: number): ToolResult => {
      const note = ` [text copy cut at ${room} of ${total} bytes to keep the whole result under ${this.#o.maxOutputBytes} bytes; structuredContent has the complete ${name} result]`;
      return { content: [{ type: 'text', text: `${clipHead(text, room).text}${note}` }], structuredContent: data };
    };
    // The text copy is escaped once more in the result's JSON: shrink until the serialized whole fits.
    let room = Math.max(0, this.#o.maxOutputBytes - jsonBytes(data) - 512);
    for (let attempt = 0; attempt < 8; attempt++) {
      const candidate = clipped(room);
      const over = jsonBytes(candidate) - this.#o.maxOutputBytes;
      if (over <= 0) return candidate;
      room = Math.max(0, room - over);
    }
    return clipped(0);
  }

  async #plan(tool: AnyTool<S>, eff: EffectiveTool, args: Record<string, unknown>): Promise<ResolvedPlan> {
    const generic = { text: `${eff.title} (${eff.name}) with ${this.#shown(eff.name, args)}` };
    if (!tool.plan) return generic;
    // read as the call will be (optional nulls dropped, defaults applied); arguments it would refuse get the
    // generic plan, and the call then refuses them by name
    let input: Record<string, unknown>;
    try {
      input = parseToolInput(tool, args);
    } catch {
      return generic;
    }
    const ctx = {
      ...this.#o.services,
      signal: AbortSignal.timeout(this.#o.callTimeoutMs),
      deadline: Date.now() + this.#o.callTimeoutMs,
      logger: this.#o.logger,
      principal: { subject: 'planner', scopes: [], roles: [], source: 'stdio' as const },
      requestId: 'plan',
      maxOutputBytes: this.#dataBudget,
      options: eff.options,
    };
    const made: unknown = await tool.plan(input as never, ctx);
    if (typeof made === 'string') return { text: made };
    if (made !== null && typeof made === 'object' && typeof (made as { text?: unknown }).text === 'string') {
      const { text, bound } = made as { text: string; bound: unknown };
      return { text, planned: { bound } };
    }
    throw new RavenhelmError(
      'ERR_INTERNAL',
      `${eff.name}'s plan returned neither text nor { text, bound }; this is a server bug: nothing was run`,
    );
  }

  #event(
    principal: Principal,
    eff: EffectiveTool,
    args: unknown,
    requestId: string,
    phase: 'attempt' | 'outcome',
  ): AuditEvent {
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
      ...argsShownOf(this.#argsShown(eff.name, args)),
    };
  }

  async #auditSafe(
    principal: Principal,
    eff: EffectiveTool,
    args: unknown,
    requestId: string,
    phase: 'outcome',
    extra: {
      outcome: AuditOutcome;
      result?: AuditResult;
      errorCode?: string;
      durationMs?: number;
      approval?: AuditApproval;
    },
  ): Promise<void> {
    try {
      await this.#o.audit.write(
        { ...this.#event(principal, eff, args, requestId, phase), ...extra },
        { durable: eff.tier === 'HIGH' },
      );
    } catch (err) {
      this.#auditFailed.outcome.note({ err, tool: eff.name }, { count: 1 });
      this.#o.metrics.auditWriteFailures.inc({ server: this.#o.server, phase });
    }
  }
}

/**
 * A child logger made on first use: most calls never log, and pino's child() (bindings serialized,
 * redaction applied) is one of the larger per-call costs. Behaves as the child for every property.
 */
function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(_target, prop) {
      child ??= parent.child(bindings);
      const value: unknown = Reflect.get(child, prop, child);
      return typeof value === 'function' ? value.bind(child) : value;
    },
    set(_target, prop, value) {
      child ??= parent.child(bindings);
      return Reflect.set(child, prop, value, child);
    },
  });
}

export function errorResult(e: RavenhelmError): ToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: wellFormed(`${e.code}: ${e.message}`) }],
    _meta: { 'ravenhelm/error': wellFormedValue({ code: e.code, ...e.details }) },
  };
}

function withApprovalArg(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = { ...((schema.properties as Record<string, unknown>) ?? {}) };
  properties[APPROVAL_ARG] = {
    type: 'string',
    description: 'The approval request id returned by the first call; send it with the same arguments once approved.',
  };
  return { ...schema, properties };
}

function withConfirmationArg(schema: Record<string, unknown>): Record<string, unknown> {
  const properties = { ...((schema.properties as Record<string, unknown>) ?? {}) };
  properties[CONFIRMATION_ARG] = {
    type: 'string',
    description: 'The single-use token returned by the first call; only send it to carry out the confirmed plan.',
  };
  return { ...schema, properties };
}

/** A short digest of a plan's text, carried in the confirmation token and bound into it (never trusted alone). */
function planDigestOf(plan: string): string {
  return createHash('sha256').update(plan).digest('base64url').slice(0, 22);
}

/** What audit records, plans and logs show for the value of an argument the tool does not declare. */
const UNKNOWN_NOT_SHOWN = '[not shown: the tool has no such argument]';

const argsShownOf = (shown: unknown): { argsShown?: unknown } => (shown === undefined ? {} : { argsShown: shown });
