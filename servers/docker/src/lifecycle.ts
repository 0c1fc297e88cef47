/** Start/stop/restart with the restart budget and a wait for the resulting state; shared by containers and compose tools. */
import { type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import { namedAfter } from './engine-errors.js';
import type { BudgetStatus, TakenRestart } from './restart-budget.js';
import {
  ContainerState,
  type ContainerStateT,
  nameShown,
  restartLoopOf,
  stateOf,
  targetAfterStart,
  type WaitTarget,
  waitFor,
} from './state.js';
import type { DockerServices } from './tools/define.js';

export type LifecycleAction = 'start' | 'stop' | 'restart';

export const WaitTargetSchema = z.enum(['running', 'healthy', 'stopped']);

export const BudgetInfo = z.object({
  used: z
    .number()
    .int()
    .describe(
      'Restarts/starts within the window, this one included (by every replica when the budget is shared in Redis)',
    ),
  remaining: z.number().int(),
  maxRestarts: z.number().int(),
  windowSeconds: z.number().int(),
});

export const LifecycleResult = z.object({
  action: z.enum(['start', 'stop', 'restart']),
  changed: z.boolean().describe('False when the container was already in the requested state'),
  target: WaitTargetSchema.describe('What the call waited for: running, healthy (has a healthcheck) or stopped'),
  reached: z.boolean().describe('True when the target state was reached before the wait timed out'),
  waitedMs: z.number().int(),
  container: ContainerState,
  budget: BudgetInfo.optional().describe('The restart budget after this call (start and restart only)'),
  message: z.string().describe('One line for the operator: what happened and what to do next'),
});
export type LifecycleResultT = z.infer<typeof LifecycleResult> & {
  /** Not in the schema: the container was removed (by someone else, or `--rm`) after the action was sent. */
  removed?: true;
};

export interface LifecycleParams {
  graceSeconds: number;
  waitSeconds: number;
}

export interface PreparedAction {
  info: Docker.ContainerInspectInfo;
  name: string;
  action: LifecycleAction;
  /** False when the container is already in the requested state: nothing will be sent to the engine. */
  needed: boolean;
  countsAgainstBudget: boolean;
  /** The budget right after this action was recorded against it (set by `reserve` or `act`). */
  budgetAfter?: BudgetStatus;
  /** The restart recorded for it: given back when the engine never got the action (container gone). */
  taken?: TakenRestart;
}

/** Resolves the container and checks the restart budget; sends nothing to the engine. */
export async function prepare(
  ctx: ToolContext<DockerServices>,
  ref: string,
  action: LifecycleAction,
): Promise<PreparedAction> {
  const info = await ctx.docker.inspect(ref, ctx.signal);
  const name = nameShown(info.Name);
  const running = info.State.Running || info.State.Restarting;
  const needed = action === 'restart' || (action === 'start' ? !running : running || info.State.Paused);
  const countsAgainstBudget = needed && action !== 'stop';
  if (countsAgainstBudget) await ctx.restartBudget.check(name, `container "${name}"`);
  return { info, name, action, needed, countsAgainstBudget };
}

/**
 * Records every prepared action that counts against the budget, atomically (all or none, also across
 * replicas sharing Redis): a refusal leaves every container as it was.
 */
export async function reserve(ctx: ToolContext<DockerServices>, prepared: readonly PreparedAction[]): Promise<void> {
  const pending = prepared.filter((p) => p.countsAgainstBudget && !p.budgetAfter);
  const taken = await ctx.restartBudget.takeEach(
    pending.map((p) => p.name),
    (name) => `container "${name}"`,
  );
  for (const [i, p] of pending.entries()) {
    const t = taken[i];
    if (!t) continue;
    p.budgetAfter = t.status;
    p.taken = { key: t.key, receipt: t.receipt };
  }
}

/** Sends the action to the engine (recording it against the budget first unless `reserve` did). */
export async function act(
  ctx: ToolContext<DockerServices>,
  p: PreparedAction,
  params: LifecycleParams,
): Promise<boolean> {
  if (!p.needed) return false;
  await reserve(ctx, [p]);
  const id = p.info.Id;
  try {
    if (p.action === 'restart') {
      await ctx.docker.restart(id, params.graceSeconds, ctx.signal);
      return true;
    }
    if (p.action === 'start') return await ctx.docker.start(id, ctx.signal);
    return await ctx.docker.stop(id, params.graceSeconds, ctx.signal);
  } catch (err) {
    // The engine names the id the call used; the caller knows the container by its name.
    if (err instanceof ToolError && err.code === 'ERR_NOT_FOUND') {
      // Removed between the budget take and the engine call: no restart happened, so none is counted
      // (the budget is by name, and a container of that name may be started again soon).
      if (p.taken) {
        await ctx.restartBudget.giveBack([p.taken]);
        p.taken = undefined;
        p.budgetAfter = undefined;
      }
      throw new ToolError(
        'ERR_NOT_FOUND',
        `container "${p.name}" (${p.info.Id.slice(0, 12)}) was removed before the ${p.action} reached it; nothing was done to it${p.countsAgainstBudget ? ' and its restart budget was not used' : ''}. See containers_list`,
        { container: p.name },
        { cause: err },
      );
    }
    throw namedAfter(err, id, p.name);
  }
}

/** Waits for the state the action should lead to and describes the outcome. */
export async function settle(
  ctx: ToolContext<DockerServices>,
  p: PreparedAction,
  changed: boolean,
  waitMs: number,
  /** How often the engine is asked; fewer asks when many containers are waited for at once. */
  pollMs?: number,
): Promise<LifecycleResultT> {
  const target: WaitTarget = p.action === 'stop' ? 'stopped' : targetAfterStart(p.info);
  const startedAt = Date.now();
  let result: LifecycleResultT;
  try {
    const waited = await waitFor(ctx.docker, p.info.Id, target, waitMs, ctx.signal, pollMs ? { pollMs } : {});
    const state = stateOf(waited.info);
    result =
      state.state === 'removing'
        ? removedResult(p, changed, target, waited.waitedMs, { ...state, running: false })
        : {
            action: p.action,
            changed,
            target,
            reached: waited.reached,
            waitedMs: waited.waitedMs,
            container: state,
            message: `${describe(p.action, changed, target, waited.reached, state, restartLoopOf(waited.info))}${p.action === 'stop' && waited.reached ? afterDaemonRestart(waited.info) : ''}`,
          };
  } catch (err) {
    if (!(err instanceof ToolError && err.code === 'ERR_NOT_FOUND')) throw err;
    // The action happened (and counted against the budget): say so, naming the container as the caller knows it.
    const state: ContainerStateT = { ...stateOf(p.info), state: 'removed', running: false, health: 'none' };
    result = removedResult(p, changed, target, Date.now() - startedAt, state);
  }
  // A no-op start was never recorded: read the budget, but a store outage must not fail a call that changed nothing.
  const b =
    p.action === 'stop'
      ? undefined
      : (p.budgetAfter ?? (await ctx.restartBudget.status(p.name).catch(() => undefined)));
  if (b) {
    result.budget = {
      used: b.used,
      remaining: b.remaining,
      maxRestarts: ctx.restartBudget.options.maxRestarts,
      windowSeconds: ctx.restartBudget.options.windowSeconds,
    };
  }
  return result;
}

export async function runLifecycle(
  ctx: ToolContext<DockerServices>,
  ref: string,
  action: LifecycleAction,
  params: LifecycleParams,
): Promise<LifecycleResultT> {
  const p = await prepare(ctx, ref, action);
  const changed = await act(ctx, p, params);
  return settle(ctx, p, changed, params.waitSeconds * 1000);
}

/** The container is gone, or going, after the action: removed by someone else, or it ran with --rm. */
function removedResult(
  p: PreparedAction,
  changed: boolean,
  target: WaitTarget,
  waitedMs: number,
  container: ContainerStateT,
): LifecycleResultT {
  return {
    action: p.action,
    changed,
    target,
    // a removed container is not running: that is what a stop asked for
    reached: target === 'stopped',
    waitedMs,
    container,
    message: `container "${p.name}" was ${changed ? `${PAST[p.action]} and then ` : ''}removed while waiting for it to be ${target} (someone removed it, or it ran with --rm); it no longer exists, so there is nothing more to do for it here. Check containers_list if it should still be there`,
    removed: true,
  };
}

/**
 * A stop holds only until the Docker daemon restarts for a container whose restart policy is "always": the
 * engine starts it again then (docs.docker.com/engine/containers/start-containers-automatically/, restart
 * policies: "always" restarts a manually stopped container when the daemon restarts; "unless-stopped" does not).
 */
export const startsWithDaemon = (info: Docker.ContainerInspectInfo): boolean =>
  info.HostConfig?.RestartPolicy?.Name === 'always';

function afterDaemonRestart(info: Docker.ContainerInspectInfo): string {
  if (!startsWithDaemon(info)) return '';
  return '; its restart policy is "always", so the engine starts it again when the Docker daemon restarts (docker update --restart unless-stopped keeps it stopped)';
}

const PAST: Record<LifecycleAction, string> = { start: 'started', stop: 'stopped', restart: 'restarted' };

function describe(
  action: LifecycleAction,
  changed: boolean,
  target: WaitTarget,
  reached: boolean,
  s: z.infer<typeof ContainerState>,
  /** Milliseconds since the exit the engine's restart policy answered, when it restarts the container in a loop. */
  loopMs: number | undefined,
): string {
  const who = `container "${s.name}"`;
  if (action !== 'stop' && loopMs !== undefined) {
    const last =
      s.state === 'restarting'
        ? 'it is waiting to be started again'
        : `the last exit ${Math.round(loopMs / 1000)} s ago`;
    const keeps = s.restartCount > 1 || s.state === 'restarting' ? 'keeps exiting' : 'exited';
    return `${who} ${keeps} and the engine's restart policy starts it again (restart count ${s.restartCount}, ${last}; state: ${s.state})${changed ? '' : `: the ${action} was not sent, the engine already counts it as running`}; check containers_diagnose and logs_get for why it exits`;
  }
  if (!changed)
    return `${who} was already ${action === 'stop' ? 'stopped' : 'running'}; nothing was done (state: ${s.state}, health: ${s.health})`;
  if (reached) return `${who} ${action === 'stop' ? 'stopped' : `is ${target}`} after ${action} (state: ${s.state})`;
  if (target !== 'stopped' && !s.running && s.state !== 'restarting') {
    return `${who} exited after ${action} with code ${s.exitCode ?? 'unknown'}${s.oomKilled ? ' (OOM-killed)' : ''}; check containers_diagnose and logs_get before trying again`;
  }
  return `${who} did not become ${target} within the wait (state: ${s.state}, health: ${s.health}); check containers_diagnose, or call again with a longer waitSeconds`;
}
