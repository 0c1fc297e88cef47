import { randomUUID } from 'node:crypto';
import type { Principal } from '@ravenhelm/auth';
import { APPROVER_SCOPE, type Registry } from '@ravenhelm/registry';
import { z } from 'zod';
import { RavenhelmError } from '../errors.js';
import type { Logger } from '../logging.js';
import { type ApprovalRequest, type ApprovalStore, asShown, type DecideRefusal } from './approvals.js';
import type { AuditSink } from './audit.js';

/** What an operator sees of a request: no argument digest (a digest of a low-entropy secret can be guessed). */
export interface ApprovalView extends Omit<ApprovalRequest, 'argsDigest' | 'consumedBy'> {
  secondsLeft: number;
  /** Whether this operator may approve or reject it now (pending, not their own, not yet decided by them). */
  canDecide: boolean;
}

export const DecisionBody = z
  .object({
    comment: z
      .string()
      .trim()
      .max(500, 'must be at most 500 characters')
      .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters')
      .optional(),
  })
  .strict();

const REFUSAL: Record<
  DecideRefusal,
  { code: 'ERR_APPROVAL_NOT_FOUND' | 'ERR_APPROVAL_FORBIDDEN' | 'ERR_APPROVAL_CONFLICT'; say: string }
> = {
  'not-found': {
    code: 'ERR_APPROVAL_NOT_FOUND',
    say: 'is unknown or expired; list pending requests with GET /approvals',
  },
  'not-pending': { code: 'ERR_APPROVAL_CONFLICT', say: 'is no longer pending (already approved, rejected or used)' },
  'self-approval': {
    code: 'ERR_APPROVAL_FORBIDDEN',
    say: 'was made by you: a requester can never approve its own request',
  },
  'already-decided': {
    code: 'ERR_APPROVAL_CONFLICT',
    say: 'already has your decision: the same person cannot approve twice; another approver must decide',
  },
};

/**
 * The operators' side of approvals, independent of transport: who may see and decide which request,
 * and the audit record of every decision (approver as principal, the tool the request is for).
 */
export class ApprovalDesk {
  readonly #o: { server: string; store: ApprovalStore; registry: Registry; audit: AuditSink; logger: Logger };
  /** Every approver scope or role in force on this server, plus the default approver scope. */
  readonly #credentials: ReadonlySet<string>;

  constructor(o: { server: string; store: ApprovalStore; registry: Registry; audit: AuditSink; logger: Logger }) {
    this.#o = o;
    const rules = o.registry.all(o.server).flatMap((t) => (t.approval ? [t.approval.approvers] : []));
    this.#credentials = new Set([APPROVER_SCOPE, ...rules]);
  }

  static holds(principal: Principal, credential: string): boolean {
    return principal.scopes.includes(credential) || principal.roles.includes(credential);
  }

  /** Throws unless the caller holds some approver scope or role of this server. */
  requireApprover(principal: Principal): void {
    if ([...this.#credentials].some((c) => ApprovalDesk.holds(principal, c))) return;
    throw new RavenhelmError(
      'ERR_APPROVAL_FORBIDDEN',
      `approving needs the scope or role ${[...this.#credentials].join(' or ')}; ask for a token that carries it`,
      { requiredScopes: [...this.#credentials] },
    );
  }

  #view(r: ApprovalRequest, principal: Principal): ApprovalView {
    const { argsDigest: _digest, consumedBy: _mark, ...rest } = asShown(r);
    const decided = [...r.approvals, ...r.rejections].some((d) => d.subject === principal.subject);
    return {
      ...rest,
      secondsLeft: Math.max(0, Math.floor((Date.parse(r.expiresAt) - Date.now()) / 1000)),
      canDecide:
        r.state === 'pending' &&
        !decided &&
        r.requester.subject !== principal.subject &&
        ApprovalDesk.holds(principal, r.approvers),
    };
  }

  /** Requests this operator may act on (their approver rule is held): pending only unless `all`. */
  async list(principal: Principal, opts: { all?: boolean } = {}): Promise<ApprovalView[]> {
    this.requireApprover(principal);
    const live = await this.#o.store.list();
    return live
      .filter((r) => ApprovalDesk.holds(principal, r.approvers) && (opts.all || r.state === 'pending'))
      .map((r) => this.#view(r, principal));
  }

  async get(principal: Principal, id: string): Promise<ApprovalView> {
    this.requireApprover(principal);
    const r = await this.#o.store.get(id);
    if (!r || !ApprovalDesk.holds(principal, r.approvers)) {
      // Someone without this request's approver rule learns nothing, not even that it exists.
      throw new RavenhelmError('ERR_APPROVAL_NOT_FOUND', `approval request ${clipId(id)} ${REFUSAL['not-found'].say}`);
    }
    return this.#view(r, principal);
  }

  async decide(principal: Principal, id: string, approve: boolean, comment?: string): Promise<ApprovalView> {
    this.requireApprover(principal);
    const existing = await this.#o.store.get(id);
    if (!existing || !ApprovalDesk.holds(principal, existing.approvers)) {
      throw new RavenhelmError('ERR_APPROVAL_NOT_FOUND', `approval request ${clipId(id)} ${REFUSAL['not-found'].say}`);
    }
    let result: Awaited<ReturnType<ApprovalStore['decide']>>;
    try {
      result = await this.#o.store.decide(id, { subject: principal.subject, approve, comment });
    } catch (err) {
      // The store may have taken the decision before it stopped answering: audited as unknown.
      const code = err instanceof RavenhelmError ? err.code : 'ERR_INTERNAL';
      await this.#audit(principal, existing, approve, code, 'unknown');
      throw err;
    }
    const r = result.request ?? existing;
    await this.#audit(principal, r, approve, result.ok ? undefined : REFUSAL[result.reason].code);
    if (!result.ok) {
      const { code, say } = REFUSAL[result.reason];
      throw new RavenhelmError(code, `approval request ${r.id} ${say}`, { reason: result.reason });
    }
    return this.#view(result.request, principal);
  }

  /** A decision (or a refused one) is audited: the approver is the principal, the request's tool the tool. */
  async #audit(
    principal: Principal,
    r: ApprovalRequest,
    approve: boolean,
    errorCode?: string,
    outcome: 'success' | 'denied' | 'unknown' = errorCode ? 'denied' : 'success',
  ): Promise<void> {
    const tier = this.#o.registry.get(this.#o.server, r.tool)?.tier ?? 'HIGH';
    try {
      await this.#o.audit.write(
        {
          server: this.#o.server,
          tool: r.tool,
          tier,
          principal: {
            subject: principal.subject,
            ...(principal.clientId ? { clientId: principal.clientId } : {}),
            ...(principal.spiffeId ? { spiffeId: principal.spiffeId } : {}),
          },
          requestId: randomUUID(),
          phase: 'outcome',
          args: r.args,
          outcome,
          ...(errorCode ? { errorCode } : {}),
          approval: {
            id: r.id,
            state: r.state,
            decision: approve ? 'approve' : 'reject',
            ...(r.approvals.length ? { approvedBy: r.approvals.map((a) => a.subject) } : {}),
            ...(r.rejections.length ? { rejectedBy: r.rejections.map((a) => a.subject) } : {}),
          },
        },
        { durable: true },
      );
    } catch (err) {
      this.#o.logger.error({ err, approvalId: r.id }, 'audit write of an approval decision failed');
    }
  }
}

const clipId = (id: string) => (id.length > 60 ? `${id.slice(0, 60)}…` : id);
