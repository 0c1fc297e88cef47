import { jsonBytes, type ToolContext } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import { type LifecycleAction, type LifecycleResultT, startsWithDaemon, WaitTargetSchema } from '../lifecycle.js';
import { Health, nameShown, shortId } from '../state.js';
import { namesOf } from './compose-project.js';
import type { DockerServices } from './define.js';

/*
 * What compose_start, compose_stop and compose_restart answer: a row per container with its outcome, the
 * counts, and one message that says what happened and what to do next, fitted to the output budget.
 */

export const OUTCOMES = [
  'failed',
  'not-attempted',
  'in-progress',
  'not-reached',
  'removed',
  'reached',
  'unchanged',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

const ProjectContainerRow = z.object({
  service: z.string(),
  name: z.string(),
  id: z.string(),
  outcome: z
    .enum(OUTCOMES)
    .describe(
      'failed: the engine refused (see message); not-attempted: left untouched, the call ran out of time; in-progress: sent, unconfirmed at the time limit; not-reached: acted on, target not reached within the wait; removed: gone during the call; reached; unchanged: was already in the target state',
    ),
  changed: z.boolean(),
  target: WaitTargetSchema.optional(),
  state: z.string().optional().describe('Engine state after the call'),
  health: Health.optional(),
  restartsLeft: z.number().int().optional().describe('Restart budget left for this container (start and restart)'),
  message: z.string().optional().describe('Why, and what to do; on rows that did not reach their target'),
});
/** `reached`, and `always` (its restart policy starts it again with the daemon), are for the summary only. */
export type Row = z.infer<typeof ProjectContainerRow> & { reached: boolean; always?: boolean };

export const ProjectLifecycleResult = z.object({
  project: z.string(),
  action: z.enum(['start', 'stop', 'restart']),
  allReached: z.boolean().describe('True when every container reached its target state'),
  complete: z
    .boolean()
    .describe(
      "False when the call's time limit came before every container was acted on and confirmed (not-attempted, in-progress)",
    ),
  counts: z.object({
    total: z.number().int(),
    reached: z.number().int(),
    unchanged: z.number().int(),
    notReached: z.number().int(),
    removed: z.number().int(),
    failed: z.number().int(),
    notAttempted: z.number().int(),
    inProgress: z.number().int(),
  }),
  containers: z
    .array(ProjectContainerRow)
    .describe('Rows that did not reach their target first, then by service and name'),
  omitted: z.number().int().describe('Rows left out to fit the output budget; counts include them'),
  message: z.string(),
});

export const PAST: Record<LifecycleAction, string> = { start: 'started', stop: 'stopped', restart: 'restarted' };

export function rowOf(service: string, c: Docker.ContainerInfo, outcome: Outcome, message: string): Row {
  return { service, name: nameShown(c.Names), id: shortId(c.Id), outcome, changed: false, reached: false, message };
}

export function rowOfResult(service: string, r: LifecycleResultT, info: Docker.ContainerInspectInfo): Row {
  const outcome: Outcome = r.removed ? 'removed' : !r.reached ? 'not-reached' : r.changed ? 'reached' : 'unchanged';
  return {
    service,
    name: r.container.name,
    id: r.container.id,
    outcome,
    changed: r.changed,
    target: r.target,
    state: r.container.state,
    health: r.container.health,
    ...(r.budget ? { restartsLeft: r.budget.remaining } : {}),
    ...(r.reached && !r.removed ? {} : { message: r.message }),
    reached: r.reached,
    ...(startsWithDaemon(info) ? { always: true } : {}),
  };
}

export function summarize(
  ctx: ToolContext<DockerServices>,
  project: string,
  action: LifecycleAction,
  rows: Row[],
  joined: readonly Docker.ContainerInfo[] = [],
  oneOffs: readonly Docker.ContainerInfo[] = [],
): z.input<typeof ProjectLifecycleResult> {
  const by = (o: Outcome) => rows.filter((r) => r.outcome === o);
  const counts = {
    total: rows.length,
    reached: by('reached').length,
    unchanged: by('unchanged').length,
    notReached: by('not-reached').length,
    removed: by('removed').length,
    failed: by('failed').length,
    notAttempted: by('not-attempted').length,
    inProgress: by('in-progress').length,
  };
  const allReached = rows.every((r) => r.reached);
  const complete = counts.notAttempted === 0 && counts.inProgress === 0;
  const parts = [
    `project "${project}": ${action} on ${rows.length} containers: ${counts.reached} ${PAST[action]}, ${counts.unchanged} already in the target state`,
  ];
  if (counts.failed > 0) parts.push(`${counts.failed} failed (${namesOf(by('failed'))}: see each message)`);
  if (counts.inProgress > 0) {
    parts.push(
      `${counts.inProgress} still under way at the call's time limit (${namesOf(by('in-progress'))}): check compose_get_status before calling again`,
    );
  }
  if (counts.removed > 0) parts.push(`${counts.removed} removed during the call (${namesOf(by('removed'))})`);
  if (counts.notReached > 0) {
    parts.push(
      `${counts.notReached} did not reach the target state (${namesOf(by('not-reached'))}): check compose_get_status and compose_get_logs`,
    );
  }
  if (!complete) {
    const left = by('not-attempted');
    const again =
      action === 'restart'
        ? `call compose_restart with services ${JSON.stringify([...new Set(left.map((r) => r.service))].sort())} to restart them (other containers of those services would restart again)`
        : `call compose_${action} again with the same arguments to finish (containers already ${PAST[action]} are left as they are)`;
    parts.push(`${counts.notAttempted} not attempted before the call's time limit (${namesOf(left)}): ${again}`);
  }
  if (joined.length > 0) {
    parts.push(
      `${joined.length} container(s) joined after the confirmed plan and were left as they are, not ${PAST[action]} (${namesOf(joined)}): call compose_${action} again to plan and confirm them`,
    );
  }
  if (oneOffs.length > 0) {
    parts.push(
      `${oneOffs.length} one-off container(s) of docker compose run left as they are, not ${PAST[action]} (${namesOf(oneOffs)}): they are not replicas of their service, and docker compose ${action} leaves them alone too; act on one with containers_${action} if that is really meant`,
    );
  }
  // containers_stop says this on each answer; here once, naming them (lifecycle.ts afterDaemonRestart)
  const comeBack = action === 'stop' ? rows.filter((r) => r.always && r.reached && r.outcome !== 'removed') : [];
  if (comeBack.length > 0) {
    parts.push(
      `${comeBack.length} stopped container(s) have the restart policy "always" (${namesOf(comeBack)}): the engine starts them again when the Docker daemon restarts (docker update --restart unless-stopped keeps them stopped)`,
    );
  }
  const message = `${parts.join('; ')}.`;
  // Problems first: when the budget is short, the rows that need attention are the ones kept.
  const order = (r: Row) => Math.min(OUTCOMES.indexOf(r.outcome), OUTCOMES.indexOf('reached'));
  const sorted = [...rows].sort(
    (a, b) => order(a) - order(b) || a.service.localeCompare(b.service) || a.name.localeCompare(b.name),
  );
  const shown = sorted.map(({ reached: _reached, always: _always, ...row }) => row);
  const base = { project, action, allReached, complete, counts, containers: [], omitted: rows.length, message };
  let room = ctx.maxOutputBytes - jsonBytes(base) - 64;
  const kept: z.infer<typeof ProjectContainerRow>[] = [];
  for (const row of shown) {
    const size = jsonBytes(row) + 1;
    if (size > room) break;
    room -= size;
    kept.push(row);
  }
  return { ...base, containers: kept, omitted: rows.length - kept.length };
}
