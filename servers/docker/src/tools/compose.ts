import { createHash } from 'node:crypto';
import { clipChars, jsonBytes, ListPage, pageList, type ToolContext, ToolError } from '@ravenhelm/kit';
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
import {
  COMPOSE_PROJECT_LABEL,
  ComposeProjectName,
  Health,
  healthOfStatusText,
  labelShown,
  mapLimit,
  nameShown,
  restartLoopOf,
  serviceOf,
  shortId,
} from '../state.js';
import { type DockerServices, defineTool } from './define.js';
import { GrepFields, LogAnswer, MaxLogBytes, readProjectLogs, Since, Streams, Until } from './logs.js';

const ServiceName = z
  .string()
  .min(1)
  .max(128)
  // the Compose file schema's key pattern for services (a leading "_" or "." is allowed, unlike container names)
  .regex(/^[A-Za-z0-9._-]+$/, 'must be a compose service name: letters, digits, "_", "." and "-"');
const ServicesFilter = z.array(ServiceName).min(1).max(50).optional().describe('Default: all');

/**
 * A `docker compose run` container: Compose labels it oneoff=True with the service it ran. It is no replica
 * of the service, and docker compose ps, start, stop and restart leave it out (their oneOffExclude filter).
 */
const isOneOff = (c: Docker.ContainerInfo): boolean =>
  c.Labels?.['com.docker.compose.oneoff']?.toLowerCase() === 'true';

/** Splits a project's containers into the services' own and the one-off `run` containers. */
function withoutOneOffs(all: readonly Docker.ContainerInfo[]): {
  own: Docker.ContainerInfo[];
  oneOffs: Docker.ContainerInfo[];
} {
  return { own: all.filter((c) => !isOneOff(c)), oneOffs: all.filter(isOneOff) };
}

/** Where Compose ran from: it labels every container it makes with it (docker/compose pkg/api/labels.go). */
const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir';

/** The containers of each working dir, for the dirs the containers name (containers without the label aside). */
function byWorkingDir(containers: readonly Docker.ContainerInfo[]): Map<string, Docker.ContainerInfo[]> {
  const dirs = new Map<string, Docker.ContainerInfo[]>();
  for (const c of containers) {
    const dir = c.Labels?.[WORKING_DIR_LABEL];
    if (dir) dirs.set(dir, [...(dirs.get(dir) ?? []), c]);
  }
  return dirs;
}

/** Working dirs an answer names: at most DIRS_SHOWN, each cut to 200 characters. */
const DIRS_SHOWN = 5;
const shownDir = (dir: string) => clipChars(dir, 200);
const quotedDirs = (sorted: readonly string[]) =>
  sorted
    .slice(0, DIRS_SHOWN)
    .map((d) => JSON.stringify(shownDir(d)))
    .join(', ');

/**
 * Compose finds a project's containers by the project label alone (and its `ls` merges the config files of
 * every container of the name: docker/compose pkg/compose/ls.go), so two deployments given the same project
 * name in different directories are one project to it. Starting, stopping or restarting them as one would act
 * on a deployment the caller did not mean: refused, naming each working dir and its containers.
 */
function refuseMixedDeployments(project: string, containers: readonly Docker.ContainerInfo[]): void {
  const dirs = byWorkingDir(containers);
  if (dirs.size < 2) return;
  const each = [...dirs.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, DIRS_SHOWN)
    .map(([dir, cs]) => `${JSON.stringify(shownDir(dir))}: ${namesOf(cs)}`);
  throw new ToolError(
    'ERR_CONFLICT',
    `nothing was done: compose project "${project}" is ${dirs.size} deployments from different working dirs (${WORKING_DIR_LABEL}): ${each.join('; ')}. Act on one deployment's containers with containers_start/containers_stop/containers_restart, or choose services that only one of them has`,
    {
      project,
      workingDirs: [...dirs.keys()].sort().slice(0, DIRS_SHOWN).map(shownDir),
    },
  );
}

/** The first `max` names, then how many more. */
const listed = (names: readonly string[], max: number) =>
  `${names.slice(0, max).join(', ')}${names.length > max ? ` and ${names.length - max} more` : ''}`;

/** The project's containers (optionally some services), sorted by service then name; ERR_NOT_FOUND when none match. */
async function projectContainers(
  ctx: ToolContext<DockerServices>,
  project: string,
  services?: string[],
  opts: { oneDeployment?: boolean } = {},
): Promise<Docker.ContainerInfo[]> {
  const all = await ctx.docker.listContainers({ label: [`${COMPOSE_PROJECT_LABEL}=${project}`] }, ctx.signal);
  if (all.length === 0) {
    throw new ToolError(
      'ERR_NOT_FOUND',
      `no container carries the label ${COMPOSE_PROJECT_LABEL}=${project}; see the known projects with compose_list_projects`,
    );
  }
  let chosen = all;
  if (services) {
    const known = new Set(all.map(serviceOf));
    const missing = services.filter((s) => !known.has(s));
    if (missing.length > 0) {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `project "${project}" has no service ${missing.map((s) => `"${s}"`).join(', ')}; its services are: ${listed([...known].sort(), 50)}`,
      );
    }
    const wanted = new Set(services);
    chosen = all.filter((c) => wanted.has(serviceOf(c)));
  }
  chosen.sort(
    (a, b) => serviceOf(a).localeCompare(serviceOf(b)) || nameShown(a.Names).localeCompare(nameShown(b.Names)),
  );
  if (opts.oneDeployment) refuseMixedDeployments(project, chosen);
  return chosen;
}

/** compose_list_projects: one project label's containers and counts, as listed. */
interface ProjectGroup {
  services: Set<string>;
  containers: Docker.ContainerInfo[];
  running: number;
  restarting: number;
  unhealthy: number;
  exited: number;
  dirs: Set<string>;
}

export const composeListProjects = defineTool({
  name: 'compose_list_projects',
  toolset: 'compose',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'List compose projects',
  description: 'Compose projects with services and running/restarting/unhealthy/exited counts.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    limit: z.number().int().min(1).max(200).default(50),
    cursor: z.string().max(64).optional().describe('From nextCursor'),
  }),
  output: z.object({
    projects: z.array(
      z.object({
        project: z.string(),
        services: z.array(z.string()),
        containers: z.number().int(),
        running: z.number().int(),
        restarting: z.number().int().describe('Restarting now, or back from an exit under 1 min ago'),
        unhealthy: z.number().int(),
        exited: z.number().int(),
        addressable: z
          .literal(false)
          .optional()
          .describe('Present when the label is not a valid compose project name: other compose tools refuse it'),
      }),
    ),
    ...ListPage,
    note: z.string().optional(),
  }),
  handler: async ({ limit, cursor }, ctx) => {
    const { docker, signal, maxOutputBytes } = ctx;
    const all = await docker.listContainers({ label: [COMPOSE_PROJECT_LABEL] }, signal);
    const byProject = new Map<string, ProjectGroup>();
    for (const c of all) {
      const project = c.Labels?.[COMPOSE_PROJECT_LABEL];
      if (!project) continue;
      const p = byProject.get(project) ?? {
        services: new Set<string>(),
        containers: [],
        running: 0,
        restarting: 0,
        unhealthy: 0,
        exited: 0,
        dirs: new Set<string>(),
      };
      p.services.add(serviceOf(c));
      const dir = c.Labels?.[WORKING_DIR_LABEL];
      if (dir) p.dirs.add(dir);
      p.containers.push(c);
      if (c.State === 'running') p.running++;
      if (c.State === 'restarting') p.restarting++;
      if (c.State === 'exited' || c.State === 'dead') p.exited++;
      if (healthOfStatusText(c.Status) === 'unhealthy') p.unhealthy++;
      byProject.set(project, p);
    }
    // each row's group (the row's project is the label as shown: labelShown, not a key of byProject)
    const groups = new Map<object, ProjectGroup>();
    const projects = [...byProject.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([project, p]) => {
        const row = {
          project: labelShown(project),
          services: [...p.services].sort(),
          containers: p.containers.length,
          running: p.running,
          restarting: p.restarting,
          unhealthy: p.unhealthy,
          exited: p.exited,
          // Compose itself never makes such a name (lowercase letters, digits, "-", "_"); someone set the label by hand.
          ...(ComposeProjectName.safeParse(project).success ? {} : { addressable: false as const }),
        };
        groups.set(row, p);
        return row;
      });
    const { items: page, ...rest } = pageList(projects, { cursor, limit, maxBytes: maxOutputBytes - 1024 });
    // A crash loop shows as "running" between exits: only this page's projects are checked (restartLoops).
    const { loops, unchecked } = await restartLoops(
      ctx,
      page.flatMap((p) => groups.get(p)?.containers ?? []),
    );
    const items = page.map((p) => {
      const looping = (groups.get(p)?.containers ?? []).filter((c) => loops.has(c.Id)).length;
      return looping === 0 ? p : { ...p, running: p.running - looping, restarting: p.restarting + looping };
    });
    const odd = items.filter((p) => p.addressable === false).length;
    const notes: string[] = [];
    const notChecked = uncheckedNote(unchecked);
    if (notChecked) notes.push(notChecked);
    if (odd > 0) {
      notes.push(
        `${odd} project label(s) marked addressable: false are not valid compose project names (compose allows lowercase letters, digits, "-" and "_", starting with a letter or digit), so the other compose tools refuse them; see their containers with containers_list and labels ["${COMPOSE_PROJECT_LABEL}=<project>"]`,
      );
    }
    // One name, several deployments (their counts are added up in the row): said, since compose lifecycle refuses them.
    const mixed = page.flatMap((p) => {
      const dirs = [...(groups.get(p)?.dirs ?? [])].sort();
      return dirs.length < 2 ? [] : [`"${p.project}" (${quotedDirs(dirs)})`];
    });
    if (mixed.length > 0) {
      notes.push(
        `${mixed.length} project name(s) are shared by deployments from different working dirs (${WORKING_DIR_LABEL}), counted together in their rows: ${mixed.slice(0, 5).join('; ')}${mixed.length > 5 ? '; …' : ''}. compose_start/compose_stop/compose_restart refuse them as one; act on each deployment's containers with containers_* tools`,
      );
    }
    const note = notes.length > 0 ? notes.join('. ') : undefined;
    return { projects: items, ...rest, ...(note ? { note } : {}) };
  },
});

/**
 * Whether the list endpoint's row may hide a crash loop: it shows such a container as "running" between its
 * exits ("Up 2 seconds"), without its restart count. Only a container up for under two minutes (docker/go-units
 * duration.go writes "Less than a second", "N seconds", "About a minute") can have exited less than a minute ago.
 */
const mayBeLooping = (c: Docker.ContainerInfo): boolean =>
  c.State === 'running' && /^Up (Less than a second|\d+ seconds?|About a minute)\b/.test(c.Status);

interface LoopCheck {
  /** Container id -> what to say about its loop. */
  loops: Map<string, string>;
  /** Candidates not inspected: past LOOP_CHECKS, the call's time limit, or an engine error. */
  unchecked: Docker.ContainerInfo[];
}

/**
 * Inspects the candidates (mayBeLooping), at most LOOP_CHECKS, 8 at a time and only until shortly before the
 * call's deadline, and returns those the engine's restart policy brought back from an exit less than a minute
 * ago (restartLoopOf) with what to say about them, and the candidates it could not check.
 */
async function restartLoops(
  ctx: ToolContext<DockerServices>,
  containers: readonly Docker.ContainerInfo[],
): Promise<LoopCheck> {
  const fresh = containers.filter(mayBeLooping);
  const loops = new Map<string, string>();
  const unchecked = fresh.slice(LOOP_CHECKS);
  const stop = AbortSignal.any([
    ctx.signal,
    AbortSignal.timeout(Math.max(0, ctx.deadline - LOOP_CHECK_MARGIN_MS - Date.now())),
  ]);
  await mapLimit(fresh.slice(0, LOOP_CHECKS), 8, async (c) => {
    if (stop.aborted) {
      unchecked.push(c);
      return;
    }
    try {
      const info = await ctx.docker.inspect(c.Id, stop);
      const ms = restartLoopOf(info);
      if (ms !== undefined) {
        loops.set(
          c.Id,
          `restarted ${info.RestartCount} times by its restart policy, the last exit ${Math.round(ms / 1000)} s ago: not counted as running (see containers_diagnose)`,
        );
      }
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      // removed since the list: it is simply gone
      if (!(err instanceof ToolError && err.code === 'ERR_NOT_FOUND')) unchecked.push(c);
    }
  });
  return { loops, unchecked };
}
/** Containers inspected at most for a restart loop in one call. */
const LOOP_CHECKS = 100;
/** Loop checks end this long before the call's deadline, so the answer is still sent. */
const LOOP_CHECK_MARGIN_MS = 1500;

/** What an answer says about candidates restartLoops could not check (undefined when it checked them all). */
function uncheckedNote(unchecked: readonly Docker.ContainerInfo[]): string | undefined {
  if (unchecked.length === 0) return undefined;
  return `${unchecked.length} running container(s) up for under two minutes could not be checked for a restart loop (the call's time limit, the ${LOOP_CHECKS}-check cap or an engine error) and are counted as running: ${namesOf(unchecked)}; check them with containers_diagnose`;
}

export const composeGetStatus = defineTool({
  name: 'compose_get_status',
  toolset: 'compose',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Compose project status',
  description: 'Per-service state and health of a compose project.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ComposeProjectName }),
  output: z.object({
    project: z.string(),
    ok: z.boolean().describe('True when every container runs and none is unhealthy'),
    services: z.array(
      z.object({
        service: z.string(),
        running: z.number().int(),
        total: z.number().int(),
        containers: z.array(
          z.object({ id: z.string(), name: z.string(), state: z.string(), health: Health, status: z.string() }),
        ),
      }),
    ),
    note: z.string().optional(),
  }),
  handler: async ({ project }, ctx) => {
    const containers = await projectContainers(ctx, project);
    // a `docker compose run` container is listed apart from the service's own: its exit is no service failure
    const entryOf = (c: Docker.ContainerInfo) => (isOneOff(c) ? `${serviceOf(c)} (one-off run)` : serviceOf(c));
    const services = new Map<string, Docker.ContainerInfo[]>();
    for (const c of containers) services.set(entryOf(c), [...(services.get(entryOf(c)) ?? []), c]);
    // a one-off run is no replica of its service: its exits are not the service's
    const { loops, unchecked } = await restartLoops(
      ctx,
      containers.filter((c) => !isOneOff(c)),
    );
    const out = [...services.entries()].map(([service, list]) => ({
      service,
      running: list.filter((c) => c.State === 'running' && !loops.has(c.Id)).length,
      total: list.length,
      containers: list.map((c) => ({
        id: shortId(c.Id),
        name: nameShown(c.Names),
        state: c.State,
        health: healthOfStatusText(c.Status),
        status: loops.has(c.Id) ? `${c.Status}; ${loops.get(c.Id)}` : c.Status,
      })),
    }));
    const ok = out.every(
      (s) =>
        (s.running === s.total || s.service.endsWith(' (one-off run)')) &&
        s.containers.every((c) => c.health !== 'unhealthy'),
    );
    const dirs = [...byWorkingDir(containers).keys()].sort();
    const notes = [
      dirs.length > 1
        ? `these are ${dirs.length} deployments sharing the project name, from different working dirs (${WORKING_DIR_LABEL}): ${quotedDirs(dirs)}; their services are listed together here, and compose_start/compose_stop/compose_restart refuse them as one`
        : undefined,
      uncheckedNote(unchecked),
    ].filter((n) => n !== undefined);
    return { project, ok, services: out, ...(notes.length > 0 ? { note: notes.join('. ') } : {}) };
  },
});

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

const ProjectLifecycleResult = z.object({
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
/** Names a message lists before counting the rest. */
const NAMES_SHOWN = 10;

const PAST: Record<LifecycleAction, string> = { start: 'started', stop: 'stopped', restart: 'restarted' };

/** The first NAMES_SHOWN names of rows or containers, then how many more. */
function namesOf(items: readonly (Row | Docker.ContainerInfo)[]): string {
  return listed(
    items.map((i) => ('name' in i ? i.name : nameShown(i.Names))),
    NAMES_SHOWN,
  );
}

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
async function runProjectLifecycle(
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
const planProject =
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

const ProjectLifecycleInput = {
  project: ComposeProjectName,
  services: ServicesFilter,
  stopTimeoutSeconds: z.number().int().min(0).max(120).default(10).describe('Seconds from SIGTERM to SIGKILL'),
  waitSeconds: z.number().int().min(0).max(300).default(15),
};

export const composeRestart = defineTool({
  name: 'compose_restart',
  toolset: 'compose',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Restart a compose project',
  description: 'Restarts the project (or services) and waits until running/healthy; restart budgets apply.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object(ProjectLifecycleInput),
  output: ProjectLifecycleResult,
  // Under approval or confirmation: people see (and the handler then acts on) these very containers.
  plan: planProject('restart'),
  handler: async (i, ctx) =>
    runProjectLifecycle(ctx, i.project, i.services, 'restart', i.stopTimeoutSeconds, i.waitSeconds, ctx.planned),
});

export const composeStart = defineTool({
  name: 'compose_start',
  toolset: 'compose',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Start a compose project',
  description: 'Starts the project (or services) and waits until running/healthy; restart budgets apply.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object({
    project: ComposeProjectName,
    services: ServicesFilter,
    waitSeconds: ProjectLifecycleInput.waitSeconds,
  }),
  output: ProjectLifecycleResult,
  plan: planProject('start'),
  handler: async (i, ctx) => runProjectLifecycle(ctx, i.project, i.services, 'start', 0, i.waitSeconds, ctx.planned),
});

export const composeStop = defineTool({
  name: 'compose_stop',
  toolset: 'compose',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Stop a compose project',
  description: 'Stops the project (or services) and waits until stopped.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object(ProjectLifecycleInput),
  output: ProjectLifecycleResult,
  plan: planProject('stop'),
  handler: async (i, ctx) =>
    runProjectLifecycle(ctx, i.project, i.services, 'stop', i.stopTimeoutSeconds, i.waitSeconds, ctx.planned),
});

/** compose_get_logs: the logs of deployments that share the project name are merged; said, naming their dirs. */
function mixedDeploymentsNote(containers: readonly Docker.ContainerInfo[]): string[] {
  const dirs = [...byWorkingDir(containers).keys()].sort();
  if (dirs.length < 2) return [];
  return [
    `these logs are of ${dirs.length} deployments sharing the project name, from different working dirs (${WORKING_DIR_LABEL}): ${quotedDirs(dirs)}${dirs.length > DIRS_SHOWN ? ', …' : ''}, merged here; read one deployment's containers with logs_get`,
  ];
}

export const composeGetLogs = defineTool({
  name: 'compose_get_logs',
  toolset: 'compose',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Read compose project logs',
  description: 'Merged logs of a compose project, time-ordered, lines prefixed "<service> | ".',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ComposeProjectName,
    services: ServicesFilter,
    tail: z.number().int().min(1).max(10_000).default(100).describe('Latest lines per container'),
    since: Since.optional(),
    until: Until.optional(),
    streams: Streams,
    ...GrepFields,
    timestamps: z.boolean().default(false),
    maxBytes: MaxLogBytes,
  }),
  output: z.object({ project: z.string(), services: z.array(z.string()), ...LogAnswer }),
  // logs.ts: per-container gaps (a log that cannot be read), the whole answer fitted to the budget
  handler: async (input, ctx) =>
    readProjectLogs(ctx, input, () => projectContainers(ctx, input.project, input.services), mixedDeploymentsNote),
});

export const composeTools = [
  composeListProjects,
  composeGetStatus,
  composeRestart,
  composeStart,
  composeStop,
  composeGetLogs,
] as const;
