import type { Logger } from '../logging.js';
import { type ApprovalRequest, asShown } from './approvals.js';

/** At most this many notifications in flight; more are dropped (and logged) rather than queued without bound. */
const MAX_IN_FLIGHT = 32;

export interface WebhookNotifier {
  /** Sends in the background; never throws and never delays the call that created the request. */
  notify(request: ApprovalRequest): void;
  /** Waits for the notifications still in flight. */
  close(): Promise<void>;
}

/**
 * The message for a new pending request, shaped like an Alertmanager webhook (version 4), so receivers
 * that route alerts (Alertmanager itself, Grafana OnCall, chat bridges) can route it too. It carries the
 * plan and the redacted arguments the approvers will see; never a secret value, never a token.
 */
export function approvalWebhookMessage(request: ApprovalRequest, baseUrl?: string): Record<string, unknown> {
  const r = asShown(request);
  const labels = {
    alertname: 'RavenhelmApprovalPending',
    severity: r.count === 2 ? 'critical' : 'warning',
    server: r.server,
    tool: r.tool,
    approval_id: r.id,
    requester: r.requester.subject,
    ...(r.requester.spiffeId ? { spiffe_id: r.requester.spiffeId } : {}),
  };
  const link = baseUrl ? new URL(`/approvals/${r.id}`, baseUrl).toString() : '';
  return {
    version: '4',
    groupKey: `{}:{approval_id="${r.id}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'ravenhelm-approvals',
    groupLabels: { approval_id: r.id },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: baseUrl ?? '',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: {
          summary: `${r.tool} on ${r.server} waits for ${r.count === 2 ? 'two approvals' : 'one approval'} by '${r.approvers}'`,
          description: r.plan,
          arguments: JSON.stringify(r.args),
        },
        startsAt: r.createdAt,
        endsAt: r.expiresAt,
        generatorURL: link,
        fingerprint: r.id.slice(4, 20),
      },
    ],
  };
}

export function createWebhookNotifier(opts: {
  url: string;
  timeoutMs: number;
  logger: Logger;
  baseUrl?: string;
}): WebhookNotifier {
  const inFlight = new Set<Promise<void>>();
  const send = async (r: ApprovalRequest) => {
    try {
      const res = await fetch(opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(approvalWebhookMessage(r, opts.baseUrl)),
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: 'error',
      });
      await res.body?.cancel();
      if (!res.ok)
        opts.logger.warn({ approvalId: r.id, status: res.status }, 'approval webhook answered an error status');
    } catch (err) {
      // The URL may carry a token (chat webhooks do): log the error's name only, never the URL.
      opts.logger.warn({ approvalId: r.id, error: (err as Error)?.name }, 'approval webhook could not be delivered');
    }
  };
  return {
    notify(r) {
      if (inFlight.size >= MAX_IN_FLIGHT) {
        opts.logger.warn({ approvalId: r.id }, 'approval webhook skipped: too many notifications in flight');
        return;
      }
      const p = send(r).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async close() {
      await Promise.allSettled([...inFlight]);
    },
  };
}
