import { createHash } from 'node:crypto';
import { jsonBytes, type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import {
  act,
  type LifecycleAction,
  type LifecycleResultT,
  prepare,
  settle,
  startsWithDaemon,
  WaitTargetSchema,
} from '../lifecycle.js';
import { COMPOSE_PROJECT_LABEL, Health, mapLimit, nameShown, serviceOf, shortId } from '../state.js';
import { namesOf, projectContainers, withoutOneOffs } from './compose-project.js';
import type { DockerServices } from './define.js';

/*
 * compose_start, compose_stop and compose_restart: the plan people confirm, and the runner that acts on the
 * planned containers within the call's deadline and reports each one's outcome.
 */

const OUTCOMES = ['failed', 'not-attempted', 'in-progress', 'not-reached', 'removed', 'reached', 'unchanged'] as const;
type Outcome = (typeof OUTCOMES)[number];

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
type Row = z.infer<typeof ProjectContainerRow> & { reached: boolean; always?: boolean };

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

/** Containers acted on at once (docker compose acts in parallel too); each stop holds an engine slot for its grace. */
const ACT_CONCURRENCY = 8;
/** What an engine call may take beyond its stop grace (kill, start, answer): counted before starting one. */
const ACT_SLACK_MS: Record<LifecycleAction, number> = { start: 3000, stop: 2000, restart: 3000 };
/** Kept free at the end of the call so the answer is built and sent before the kit's deadline. */
const ANSWER_MARGIN_MS = 1500;

const PAST: Record<LifecycleAction, string> = { start: 'started', stop: 'stopped', restart: 'restarted' };

function rowOf(service: string, c: Docker.ContainerInfo, outcome: Outcome, message: string): Row {
  return { service, name: nameShown(c.Names), id: shortId(c.Id), outcome, changed: false, reached: false, message };
}

function rowOfResult(service: string, r: LifecycleResultT, info: Docker.ContainerInspectInfo): Row {
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

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * The project's containers (optionally some services) that are not among `planned`: they joined after the
 * plan people confirmed was made, so the call leaves them alone and says so.
 */
async function joinedSince(
  ctx: ToolContext<DockerServices>,
  project: string,
  services: string[] | undefined,
  planned: readonly Docker.ContainerInfo[],
): Promise<{ joined: Docker.ContainerInfo[]; oneOffs: Docker.ContainerInfo[] }> {
  const all = await ctx.docker.listContainers({ label: [`${COMPOSE_PROJECT_LABEL}=${project}`] }, ctx.signal);
  const known = new Set(planned.map((c) => c.Id));
  const wanted = services && new Set(services);
  const { own, oneOffs } = withoutOneOffs(
    all
      .filter((c) => !known.has(c.Id) && (!wanted || wanted.has(serviceOf(c))))
      .sort((a, b) => nameShown(a.Names).localeCompare(nameShown(b.Names))),
  );
  return { joined: own, oneOffs };
}

/**
 * Acts on the project's containers, ACT_CONCURRENCY at a time, and never starts an action that cannot end
 * before the call's deadline: what was left is reported (not-attempted), not thrown, so the caller knows
 * exactly what happened and can call again. Budget is taken per container right before it is acted on.
 * `planned`: the containers of the plan people confirmed (ctx.planned); then exactly these are acted on,
 * those gone since are reported removed, and any that joined the project since are left alone and named.
 */
export async function runProjectLifecycle(
  ctx: ToolContext<DockerServices>,
  project: string,
  services: string[] | undefined,
  action: LifecycleAction,
  graceSeconds: number,
  waitSeconds: number,
  planned?: readonly Docker.ContainerInfo[],
): Promise<z.input<typeof ProjectLifecycleResult>> {
  const deadline = ctx.deadline - ANSWER_MARGIN_MS;
  // A fresh lookup could already differ from the confirmed plan (a container joined in the meantime).
  // a confirmed plan holds the services' own containers only (planProject)
  const { own: containers, oneOffs: found } = withoutOneOffs(
    planned ? [...planned] : await projectContainers(ctx, project, services, { oneDeployment: true }),
  );
  const since = planned ? await joinedSince(ctx, project, services, planned) : { joined: [], oneOffs: [] };
  const joined = since.joined;
  const oneOffs = [...found, ...since.oneOffs];
  // Check every container's budget before touching any, so a refusal leaves the project as it was.
  const prepared = await mapLimit(containers, ACT_CONCURRENCY, async (c) => {
    try {
      return { c, p: await prepare(ctx, c.Id, action) };
    } catch (err) {
      if (err instanceof ToolError && (err.code === 'ERR_RESTART_BUDGET' || err.code === 'ERR_NOT_FOUND')) {
        return { c, err };
      }
      throw err;
    }
  });
  const refused = prepared.filter((x) => x.err?.code === 'ERR_RESTART_BUDGET').map((x) => nameShown(x.c.Names));
  if (refused.length > 0) {
    const { maxRestarts, windowSeconds } = ctx.restartBudget.options;
    throw new ToolError(
      'ERR_RESTART_BUDGET',
      `project "${project}": ${refused.map((n) => `"${n}"`).join(', ')} already used the restart budget (${maxRestarts} in ${windowSeconds} s); nothing was done. ` +
        'Restarting again will not fix it: escalate to a human operator with compose_get_status and compose_get_logs output',
      { project, containers: refused, maxRestarts, windowSeconds },
    );
  }
  // What one action may take: the grace before SIGKILL plus the engine's own work, or the slowest seen so
  // far in this call when the engine is slower than that (it is, with many containers at once).
  const estimate = (action === 'start' ? 0 : graceSeconds * 1000) + ACT_SLACK_MS[action];
  let slowest = 0;
  // Every waiting container polls the engine: a large project is polled less often, so the waits do not
  // crowd out the actions still to send (250 ms up to 8 containers, up to 1 s from 32 on).
  const pollMs = Math.min(1000, 250 * Math.ceil(prepared.length / ACT_CONCURRENCY));
  const rows: (Row | undefined)[] = new Array(prepared.length).fill(undefined);
  // settling: acted on, waiting for the target; checking: nothing to do, confirming the state.
  const phase: ('queued' | 'acting' | 'settling' | 'checking')[] = new Array(prepared.length).fill('queued');
  let closed = false;
  const put = (i: number, row: Row) => {
    if (!closed) rows[i] = row;
  };
  const settling: Promise<void>[] = [];
  const work = mapLimit([...prepared.keys()], ACT_CONCURRENCY, async (i) => {
    const { c, p } = prepared[i] as (typeof prepared)[number];
    const service = serviceOf(c);
    if (!p) {
      put(i, {
        ...rowOf(
          service,
          c,
          'removed',
          `container "${nameShown(c.Names)}" was removed before it could be ${PAST[action]}; nothing was done to it`,
        ),
        reached: action === 'stop',
      });
      return;
    }
    if (action === 'start' && p.info.State.Paused) {
      // The engine counts a paused container as running: start would do nothing and read as success.
      put(
        i,
        rowOf(
          service,
          c,
          'failed',
          `container "${p.name}" is paused (its processes are frozen), not stopped: start does not resume it; resuming needs \`docker unpause ${p.name}\`, which is not one of these tools: ask an operator`,
        ),
      );
      return;
    }
    const cost = Math.max(estimate, slowest);
    if (closed || (p.needed && (Date.now() + cost > deadline || ctx.signal.aborted))) {
      put(
        i,
        rowOf(
          service,
          c,
          'not-attempted',
          `not ${PAST[action]}: too close to the call's time limit for a ${action} that may take ${Math.ceil(cost / 1000)} s`,
        ),
      );
      return;
    }
    phase[i] = 'acting';
    const actStarted = Date.now();
    let changed: boolean;
    try {
      changed = await act(ctx, p, { graceSeconds, waitSeconds });
    } catch (err) {
      const code = err instanceof ToolError ? err.code : undefined;
      // Sent, but no answer in time: the engine carries on, so it may well happen; never report it as refused.
      if (code === 'ERR_BACKEND_TIMEOUT' || code === 'ERR_OUTCOME_UNKNOWN') {
        put(i, {
          ...rowOf(
            service,
            c,
            'in-progress',
            `the ${action} was sent, but the engine did not answer in time (${errorText(err)}); it may still take effect: check compose_get_status`,
          ),
          changed: true,
        });
        return;
      }
      const removed = code === 'ERR_NOT_FOUND';
      put(i, {
        ...rowOf(service, c, removed ? 'removed' : 'failed', errorText(err)),
        reached: removed && action === 'stop',
      });
      return;
    }
    if (changed) slowest = Math.max(slowest, Date.now() - actStarted);
    phase[i] = changed ? 'settling' : 'checking';
    // The wait needs no engine slot of ours: the next container's action starts now.
    settling.push(
      settle(ctx, p, changed, Math.max(0, Math.min(waitSeconds * 1000, deadline - Date.now())), pollMs).then(
        (r) => put(i, rowOfResult(service, r, p.info)),
        (err: unknown) =>
          put(i, {
            ...rowOf(
              service,
              c,
              'not-reached',
              `${PAST[action]}, but its state could not be read: ${errorText(err)}; check compose_get_status`,
            ),
            changed,
          }),
      ),
    );
  }).then(() => Promise.all(settling));
  // An engine slower than estimated must not cost the answer: at the deadline, what is still under way is reported as such.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    }),
  ]);
  clearTimeout(timer);
  closed = true;
  work.catch(() => undefined); // still running in the background when the deadline won; its rows are no longer read
  for (const [i, row] of rows.entries()) {
    if (row) continue;
    const { c } = prepared[i] as (typeof prepared)[number];
    const under = phase[i] === 'queued' ? 'not-attempted' : 'in-progress';
    rows[i] = {
      ...rowOf(
        serviceOf(c),
        c,
        under,
        under === 'not-attempted'
          ? `not ${PAST[action]}: the call's time limit came first`
          : phase[i] === 'acting'
            ? `the ${action} was sent, but the engine had not answered by the call's time limit (it goes on); check compose_get_status`
            : phase[i] === 'settling'
              ? `${PAST[action]}; its state was not confirmed by the call's time limit; check compose_get_status`
              : `nothing to do; its state was not confirmed by the call's time limit; check compose_get_status`,
      ),
      changed: phase[i] === 'settling',
    };
  }
  return summarize(ctx, project, action, rows as Row[], joined, oneOffs);
}

function summarize(
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

/** Containers a plan lists by name; the rest are counted (and bound all the same by the set digest). */
const PLAN_NAMES = 50;

/**
 * The plan of a project lifecycle call: names the containers it resolves to, and hands them to the handler
 * (ctx.planned) once the kit checked this plan. The kit binds a confirmation (or an approval) to the text,
 * so a container that joins or leaves the project before the confirmed call refuses it (ERR_CONFLICT); one
 * that joins after that check is left alone, since the handler acts on the planned containers only.
 */
export const planProject =
  (action: LifecycleAction) =>
  async (
    { project, services }: { project: string; services?: string[] | undefined },
    ctx: ToolContext<DockerServices>,
  ): Promise<{ text: string; bound: Docker.ContainerInfo[] }> => {
    const { own, oneOffs } = withoutOneOffs(await projectContainers(ctx, project, services, { oneDeployment: true }));
    const left =
      oneOffs.length > 0
        ? `; left as they are: ${oneOffs.length} one-off container(s) of docker compose run (${namesOf(oneOffs)})`
        : '';
    return { text: `${planOf(action, project, services, own)}${left}`, bound: own };
  };

function planOf(
  action: LifecycleAction,
  project: string,
  services: string[] | undefined,
  containers: readonly Docker.ContainerInfo[],
): string {
  const listed = containers.slice(0, PLAN_NAMES).map((c) => `${nameShown(c.Names)} (${shortId(c.Id)})`);
  const more = containers.length - listed.length;
  // Every id, sorted: the set itself, even past the names shown.
  const set = createHash('sha256')
    .update(
      containers
        .map((c) => c.Id)
        .sort()
        .join(','),
    )
    .digest('hex')
    .slice(0, 16);
  const scope = services
    ? `services ${services.join(', ')} of compose project "${project}"`
    : `compose project "${project}"`;
  return (
    `${action} the ${containers.length} container(s) of ${scope}, and only these: ${listed.join(', ')}` +
    `${more > 0 ? ` and ${more} more` : ''} (container set ${set})`
  );
}
