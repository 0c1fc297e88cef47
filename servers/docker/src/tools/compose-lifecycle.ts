import { type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import type { z } from 'zod';
import { act, type LifecycleAction, prepare, settle } from '../lifecycle.js';
import { COMPOSE_PROJECT_LABEL, mapLimit, nameShown, serviceOf } from '../state.js';
import { PAST, type ProjectLifecycleResult, type Row, rowOf, rowOfResult, summarize } from './compose-outcome.js';
import { projectContainers, withoutOneOffs } from './compose-project.js';
import type { DockerServices } from './define.js';

/*
 * The runner of compose_start, compose_stop and compose_restart: acts on the planned containers within the
 * call's deadline and reports each one's outcome (compose-outcome.ts); the plan people confirm is in
 * compose-plan.ts.
 */

/** Containers acted on at once (docker compose acts in parallel too); each stop holds an engine slot for its grace. */
const ACT_CONCURRENCY = 8;
/** What an engine call may take beyond its stop grace (kill, start, answer): counted before starting one. */
const ACT_SLACK_MS: Record<LifecycleAction, number> = { start: 3000, stop: 2000, restart: 3000 };
/** Kept free at the end of the call so the answer is built and sent before the kit's deadline. */
const ANSWER_MARGIN_MS = 1500;

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
