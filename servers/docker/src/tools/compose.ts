import { abortAfter, changedNote, ListPage, pageByKey, type ToolContext, ToolError, tupleKey } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
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
import { runProjectLifecycle } from './compose-lifecycle.js';
import { ProjectLifecycleResult } from './compose-outcome.js';
import { planProject } from './compose-plan.js';
import {
  byWorkingDir,
  DIRS_SHOWN,
  isOneOff,
  namesOf,
  projectContainers,
  quotedDirs,
  WORKING_DIR_LABEL,
} from './compose-project.js';
import { type DockerServices, defineTool } from './define.js';
import { Since, Until } from './log-window.js';
import { GrepFields, LogAnswer, MaxLogBytes, Streams } from './logs.js';
import { readProjectLogs } from './project-logs.js';

const ServiceName = z
  .string()
  .min(1)
  .max(128)
  // the Compose file schema's key pattern for services (a leading "_" or "." is allowed, unlike container names)
  .regex(/^[A-Za-z0-9._-]+$/, 'must be a compose service name: letters, digits, "_", "." and "-"');
const ServicesFilter = z.array(ServiceName).min(1).max(50).optional().describe('Default: all');

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
    // keyed by the label itself: a page starts after the last project shown, wherever the list now stands
    const projects = [...byProject.entries()].map(([project, p]) => {
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
      return { key: tupleKey(project), item: row };
    });
    const {
      items: page,
      changed,
      ...rest
    } = pageByKey(projects, { tool: 'compose_list_projects', cursor, limit, maxBytes: maxOutputBytes - 1024 });
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
    const notes: string[] = changed ? [changedNote('The project list')] : [];
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
  const stop = abortAfter(ctx.signal, ctx.deadline - LOOP_CHECK_MARGIN_MS - Date.now());
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
