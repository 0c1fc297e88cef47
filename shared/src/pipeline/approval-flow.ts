import type { Principal } from '@ravenhelm/auth';
import { advertisedAnnotations, type EffectiveTool, listedMeta } from '@ravenhelm/registry';
import { z } from 'zod';
import { RavenhelmError, ToolError } from '../errors.js';
import { jsonSchemaOf } from '../tool.js';
import { visible } from '../visible.js';
import { APPROVAL_ID, type ApprovalRequest, type ApprovalStore, tooManyPending } from './approvals.js';
import { type AuditApproval, digestArgs, redactArgs } from './audit.js';

/** Pending approval requests one caller may have open on one server. */
export const MAX_PENDING_PER_REQUESTER = 20;

/**
 * A plan as the kit handles it: the text people see (and whose digest binds a confirmation or an approval)
 * and, when the tool's plan returned a BoundPlan, what that text was resolved from (`ctx.planned`).
 */
export interface ResolvedPlan {
  text: string;
  planned?: { bound: unknown };
}

/** What the approval gate needs from the pipeline. */
export interface GateDeps {
  server: string;
  store: ApprovalStore;
  /** The plan as the confirm flow renders it (redacted). */
  plan: () => Promise<ResolvedPlan>;
  sensitiveKeys: readonly string[];
  /** The arguments as people are shown them (the tool's `shownArgs`), before redaction. */
  shown?: (args: Record<string, unknown>) => unknown;
  onRequested?: (request: ApprovalRequest) => void;
}

/** The argument that carries an approval request id on the call that runs an approved action. */
export const APPROVAL_ARG = 'approvalRequestId';
/** The tool the kit adds to every server with a tool under approval. */
export const APPROVAL_STATUS_TOOL = 'approvals_get_status';

const StatusInput = z
  .object({ requestId: z.string().regex(APPROVAL_ID, 'must be an approval request id (apr_...)') })
  .strict();
const DecisionShape = z.object({ subject: z.string(), at: z.string(), comment: z.string().optional() });
const StatusOutput = z.object({
  requestId: z.string(),
  tool: z.string(),
  state: z.enum(['pending', 'approved', 'rejected', 'consumed']),
  approvers: z.string(),
  count: z.number().int(),
  approvals: z.array(DecisionShape),
  rejections: z.array(DecisionShape),
  expiresAt: z.string(),
  next: z.string(),
});
type StatusOutput = z.infer<typeof StatusOutput>;

interface Result {
  [key: string]: unknown;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

export function approvalStatusListing() {
  return {
    name: APPROVAL_STATUS_TOOL,
    title: 'Approval request status',
    description:
      'State of one of your human-approval requests (pending, approved, rejected, consumed); once approved, repeat the original call with approvalRequestId.',
    inputSchema: jsonSchemaOf(StatusInput, 'input'),
    outputSchema: jsonSchemaOf(StatusOutput, 'output'),
    annotations: advertisedAnnotations({
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    }),
    _meta: listedMeta({ tier: 'LOW', scopes: [] }),
  };
}

const people = (n: number) => (n === 1 ? '1 person' : `${n} different people`);

/** What the agent should do next, for each state. */
function nextStep(r: ApprovalRequest): string {
  switch (r.state) {
    case 'pending':
      return `wait: ${r.approvals.length} of ${r.count} approvals so far; poll ${APPROVAL_STATUS_TOOL} again later`;
    case 'approved':
      return `call ${r.tool} again with the same arguments plus "${APPROVAL_ARG}": "${r.id}" to run it (once)`;
    case 'rejected':
      return `rejected: ${r.tool} will not run; do not retry without asking a person`;
    default:
      return `already used: ${r.tool} ran once with this approval`;
  }
}

/**
 * The answer to a call that now waits for people. isError is true on purpose: clients (the SDK Client
 * among them) validate a non-error result against the tool's outputSchema, which a pending answer cannot
 * satisfy; an error result whose text starts with a stable code that says nothing ran (like
 * ERR_CONFIRMATION_REQUIRED) is what agents already handle.
 */
export function pendingResult(r: ApprovalRequest): Result {
  const text =
    `ERR_APPROVAL_PENDING: nothing was run yet; ${r.tool} needs approval by ${people(r.count)} holding '${r.approvers}' ` +
    `(not you). Plan: ${visible(r.plan)}\nApproval request ${r.id}: ${r.approvals.length} of ${r.count} approvals; expires ${r.expiresAt}. ` +
    `Poll ${APPROVAL_STATUS_TOOL} with {"requestId": "${r.id}"}; once approved, call ${r.tool} again with the same arguments ` +
    `plus "${APPROVAL_ARG}": "${r.id}".`;
  return {
    isError: true,
    content: [{ type: 'text', text }],
    _meta: {
      'ravenhelm/approval': {
        requestId: r.id,
        state: r.state,
        plan: r.plan,
        approvers: r.approvers,
        count: r.count,
        approvals: r.approvals.length,
        expiresAt: r.expiresAt,
      },
    },
  };
}

function errorText(text: string): Result {
  return {
    isError: true,
    content: [{ type: 'text', text: `ERR_APPROVAL_INVALID: ${text}` }],
    _meta: { 'ravenhelm/error': { code: 'ERR_APPROVAL_INVALID' } },
  };
}

/** approvals_get_status: only the requester sees its request (anyone else: unknown, nothing leaks). */
export async function statusResult(
  store: ApprovalStore,
  principal: Principal,
  rawArgs: Record<string, unknown>,
  server: string,
): Promise<Result> {
  const input = StatusInput.safeParse(rawArgs);
  if (!input.success) {
    return errorText(
      `invalid arguments: ${input.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}; pass {"requestId": "apr_..."}`,
    );
  }
  let r: ApprovalRequest | undefined;
  try {
    r = await store.get(input.data.requestId);
  } catch (err) {
    // A poll the store cannot answer is the agent's to retry: a tool error it reads, not a protocol error.
    if (!(err instanceof RavenhelmError)) throw err;
    return {
      isError: true,
      content: [{ type: 'text', text: `${err.code}: ${err.message}` }],
      _meta: { 'ravenhelm/error': { code: err.code, ...err.details } },
    };
  }
  if (!r || r.server !== server || r.requester.subject !== principal.subject || r.state === 'expired') {
    return errorText(
      `approval request ${input.data.requestId} is unknown or expired (or not yours); call the tool again without ${APPROVAL_ARG} to request a new approval`,
    );
  }
  const data: StatusOutput = {
    requestId: r.id,
    tool: r.tool,
    state: r.state,
    approvers: r.approvers,
    count: r.count,
    approvals: r.approvals,
    rejections: r.rejections,
    expiresAt: r.expiresAt,
    next: nextStep(r),
  };
  return { content: [{ type: 'text', text: JSON.stringify(data) }], structuredContent: data };
}

/**
 * Human approval: without a request id the call becomes a pending request (result: ERR_APPROVAL_PENDING,
 * nothing run); with one, an approved request bound to this caller and these arguments is consumed
 * (exactly once, on any replica) and the call runs. Everything else is refused with ERR_APPROVAL_INVALID.
 */
export async function approvalGate(
  deps: GateDeps,
  principal: Principal,
  eff: EffectiveTool,
  args: Record<string, unknown>,
  approvalId: unknown,
): Promise<{
  result?: Result;
  refusal?: ToolError;
  audit?: AuditApproval;
  /** The approval this call consumed: given back (ApprovalStore.release) if the call is then not run. */
  consumed?: { id: string; mark: string };
  /** The approved call's re-plan, which matched the approved text: its bound goes to the handler. */
  checked?: ResolvedPlan;
}> {
  const rule = eff.approval as NonNullable<EffectiveTool['approval']>;
  const argsDigest = digestArgs(args);
  if (approvalId === undefined) {
    // People are the scarce resource: one agent cannot bury the approvers under requests.
    const open = (await deps.store.list()).filter(
      (x) => x.state === 'pending' && x.requester.subject === principal.subject,
    );
    if (open.length >= MAX_PENDING_PER_REQUESTER) {
      return { refusal: tooManyPending(open.length, Math.min(...open.map((x) => Date.parse(x.expiresAt)))) };
    }
    const request = await deps.store.create({
      server: deps.server,
      tool: eff.name,
      requester: {
        subject: principal.subject,
        ...(principal.clientId ? { clientId: principal.clientId } : {}),
        ...(principal.spiffeId ? { spiffeId: principal.spiffeId } : {}),
      },
      argsDigest,
      args: redactArgs(deps.shown ? deps.shown(args) : args, undefined, deps.sensitiveKeys),
      plan: (await deps.plan()).text,
      approvers: rule.approvers,
      count: rule.count,
      ttlSeconds: rule.ttlSeconds,
      // The check above saves planning a request that would be refused; this one holds under concurrency.
      maxPendingPerRequester: MAX_PENDING_PER_REQUESTER,
    });
    deps.onRequested?.(request);
    return { result: pendingResult(request), audit: { id: request.id, state: request.state } };
  }
  if (typeof approvalId !== 'string' || !APPROVAL_ID.test(approvalId)) {
    return {
      refusal: new ToolError(
        'ERR_APPROVAL_INVALID',
        `${APPROVAL_ARG} must be the request id the first call returned (apr_ followed by 32 characters)`,
        { reason: 'malformed' },
      ),
    };
  }
  const consumed = await deps.store.consume(approvalId, {
    server: deps.server,
    tool: eff.name,
    subject: principal.subject,
    argsDigest,
  });
  const r = consumed.request;
  const audit: AuditApproval = {
    id: approvalId,
    state: consumed.ok ? 'consumed' : consumed.reason,
    ...(r && r.approvals.length > 0 ? { approvedBy: r.approvals.map((a) => a.subject) } : {}),
    ...(r && r.rejections.length > 0 ? { rejectedBy: r.rejections.map((a) => a.subject) } : {}),
  };
  if (consumed.ok) {
    // People approved the plan they were shown: when the target changed since (a plan that reads the
    // backend reads otherwise now), the approval is spent and nothing runs. When it holds, the handler gets
    // this re-plan's targets: a lookup of its own, moments later, could already find others.
    const checked = await deps.plan();
    const now = checked.text;
    if (now !== consumed.request.plan) {
      return {
        audit: { ...audit, state: 'plan-changed' },
        refusal: new ToolError(
          'ERR_CONFLICT',
          `nothing was changed: what ${eff.name} would do now differs from the plan approval request ${approvalId} approved (its target changed since). Plan now: ${visible(now)}\nCall ${eff.name} again without ${APPROVAL_ARG} to request approval of this plan`,
          { approvalRequestId: approvalId, reason: 'plan-changed' },
        ),
      };
    }
    const mark = consumed.request.consumedBy;
    return mark ? { audit, consumed: { id: approvalId, mark }, checked } : { audit, checked };
  }
  if (consumed.reason === 'pending' && r) return { result: pendingResult(r), audit };
  const again = `call ${eff.name} again without ${APPROVAL_ARG} to request a new approval`;
  const why: Record<Exclude<typeof consumed.reason, 'pending'>, string> = {
    'not-found': `approval request ${approvalId} is unknown or expired; ${again}`,
    rejected: `approval request ${approvalId} was rejected by ${r?.rejections.map((x) => x.subject).join(', ') || 'an approver'}${r?.rejections[0]?.comment ? ` ("${r.rejections[0].comment}")` : ''}: ${eff.name} was not run`,
    consumed: `approval request ${approvalId} was already used: an approval runs the action once; ${again}`,
    mismatch: `approval request ${approvalId} was made for other arguments, another tool or another caller: only the approved call can run; repeat it exactly, or ${again}`,
  };
  const reason = consumed.reason === 'pending' ? 'not-found' : consumed.reason;
  return {
    audit,
    refusal: new ToolError('ERR_APPROVAL_INVALID', why[reason], { approvalRequestId: approvalId, reason }),
  };
}
