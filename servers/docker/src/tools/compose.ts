import { ListPage, pageList, type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import type { LogResult } from '../backend.js';
import {
  act,
  type LifecycleAction,
  LifecycleResult,
  type PreparedAction,
  prepare,
  reserve,
  settle,
} from '../lifecycle.js';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  ComposeProjectName,
  Health,
  healthOfStatusText,
  nameOf,
  shortId,
} from '../state.js';
import { type DockerServices, defineTool } from './define.js';
import {
  assembleLogText,
  buildLineFilter,
  GrepFields,
  LogAnswer,
  logCap,
  MaxLogBytes,
  parseWindow,
  readLogs,
  Since,
  Streams,
  Until,
} from './logs.js';

const ServiceName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a compose service name: letters, digits, "_", "." and "-"');
const ServicesFilter = z.array(ServiceName).min(1).max(50).optional().describe('Default: all');

const serviceOf = (c: Docker.ContainerInfo): string => c.Labels?.[COMPOSE_SERVICE_LABEL] ?? '(no service label)';

/** The project's containers (optionally some services), sorted by service then name; ERR_NOT_FOUND when none match. */
async function projectContainers(
  ctx: ToolContext<DockerServices>,
  project: string,
  services?: string[],
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
        `project "${project}" has no service ${missing.map((s) => `"${s}"`).join(', ')}; its services are: ${[...known].sort().join(', ')}`,
      );
    }
    const wanted = new Set(services);
    chosen = all.filter((c) => wanted.has(serviceOf(c)));
  }
  return chosen.sort(
    (a, b) => serviceOf(a).localeCompare(serviceOf(b)) || nameOf(a.Names).localeCompare(nameOf(b.Names)),
  );
}

export const composeListProjects = defineTool({
  name: 'compose_list_projects',
  toolset: 'compose',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'List compose projects',
  description: 'Compose projects with services and running/unhealthy/exited counts.',
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
        unhealthy: z.number().int(),
        exited: z.number().int(),
      }),
    ),
    ...ListPage,
  }),
  handler: async ({ limit, cursor }, { docker, signal, maxOutputBytes }) => {
    const all = await docker.listContainers({ label: [COMPOSE_PROJECT_LABEL] }, signal);
    const byProject = new Map<
      string,
      { services: Set<string>; containers: number; running: number; unhealthy: number; exited: number }
    >();
    for (const c of all) {
      const project = c.Labels?.[COMPOSE_PROJECT_LABEL];
      if (!project) continue;
      const p = byProject.get(project) ?? {
        services: new Set<string>(),
        containers: 0,
        running: 0,
        unhealthy: 0,
        exited: 0,
      };
      p.services.add(serviceOf(c));
      p.containers++;
      if (c.State === 'running') p.running++;
      if (c.State === 'exited' || c.State === 'dead') p.exited++;
      if (healthOfStatusText(c.Status) === 'unhealthy') p.unhealthy++;
      byProject.set(project, p);
    }
    const projects = [...byProject.entries()]
      .map(([project, p]) => ({
        project,
        services: [...p.services].sort(),
        containers: p.containers,
        running: p.running,
        unhealthy: p.unhealthy,
        exited: p.exited,
      }))
      .sort((a, b) => a.project.localeCompare(b.project));
    const { items, ...rest } = pageList(projects, { cursor, limit, maxBytes: maxOutputBytes - 512 });
    return { projects: items, ...rest };
  },
});

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
  }),
  handler: async ({ project }, ctx) => {
    const containers = await projectContainers(ctx, project);
    const services = new Map<string, Docker.ContainerInfo[]>();
    for (const c of containers) services.set(serviceOf(c), [...(services.get(serviceOf(c)) ?? []), c]);
    const out = [...services.entries()].map(([service, list]) => ({
      service,
      running: list.filter((c) => c.State === 'running').length,
      total: list.length,
      containers: list.map((c) => ({
        id: shortId(c.Id),
        name: nameOf(c.Names),
        state: c.State,
        health: healthOfStatusText(c.Status),
        status: c.Status,
      })),
    }));
    const ok = out.every((s) => s.running === s.total && s.containers.every((c) => c.health !== 'unhealthy'));
    return { project, ok, services: out };
  },
});

const ProjectLifecycleResult = z.object({
  project: z.string(),
  action: z.enum(['start', 'stop', 'restart']),
  allReached: z.boolean().describe('True when every container reached its target state'),
  containers: z.array(LifecycleResult.extend({ service: z.string() })),
  message: z.string(),
});

async function runProjectLifecycle(
  ctx: ToolContext<DockerServices>,
  project: string,
  services: string[] | undefined,
  action: LifecycleAction,
  graceSeconds: number,
  waitSeconds: number,
): Promise<z.input<typeof ProjectLifecycleResult>> {
  const containers = await projectContainers(ctx, project, services);
  // Check every container's budget before touching any, so a refusal leaves the project as it was.
  const prepared: { service: string; p: PreparedAction }[] = [];
  const refused: string[] = [];
  for (const c of containers) {
    try {
      prepared.push({ service: serviceOf(c), p: await prepare(ctx, c.Id, action) });
    } catch (err) {
      if (err instanceof ToolError && err.code === 'ERR_RESTART_BUDGET') refused.push(nameOf(c.Names));
      else throw err;
    }
  }
  if (refused.length > 0) {
    const { maxRestarts, windowSeconds } = ctx.restartBudget.options;
    throw new ToolError(
      'ERR_RESTART_BUDGET',
      `project "${project}": ${refused.map((n) => `"${n}"`).join(', ')} already used the restart budget (${maxRestarts} in ${windowSeconds} s); nothing was done. ` +
        'Restarting again will not fix it: escalate to a human operator with compose_get_status and compose_get_logs output',
      { project, containers: refused, maxRestarts, windowSeconds },
    );
  }
  await reserve(
    ctx,
    prepared.map(({ p }) => p),
  );
  const deadline = Date.now() + waitSeconds * 1000;
  const changed: boolean[] = [];
  for (const { p } of prepared) changed.push(await act(ctx, p, { graceSeconds, waitSeconds }));
  const results = [];
  for (const [i, { service, p }] of prepared.entries()) {
    results.push({ service, ...(await settle(ctx, p, changed[i] ?? false, Math.max(0, deadline - Date.now()))) });
  }
  const notReached = results.filter((r) => !r.reached).map((r) => r.container.name);
  const allReached = notReached.length === 0;
  const message = allReached
    ? `project "${project}": ${action} done; all ${results.length} containers reached their target state`
    : `project "${project}": ${action} sent, but ${notReached.join(', ')} did not reach the target state; check compose_get_status and compose_get_logs`;
  return { project, action, allReached, containers: results, message };
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
  description: 'Restarts the project (or some services) and waits until running/healthy; restart budgets apply.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object(ProjectLifecycleInput),
  output: ProjectLifecycleResult,
  handler: async (i, ctx) =>
    runProjectLifecycle(ctx, i.project, i.services, 'restart', i.stopTimeoutSeconds, i.waitSeconds),
});

export const composeStart = defineTool({
  name: 'compose_start',
  toolset: 'compose',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Start a compose project',
  description: 'Starts the project (or some services) and waits until running/healthy; restart budgets apply.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object({
    project: ComposeProjectName,
    services: ServicesFilter,
    waitSeconds: ProjectLifecycleInput.waitSeconds,
  }),
  output: ProjectLifecycleResult,
  handler: async (i, ctx) => runProjectLifecycle(ctx, i.project, i.services, 'start', 0, i.waitSeconds),
});

export const composeStop = defineTool({
  name: 'compose_stop',
  toolset: 'compose',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Stop a compose project',
  description: 'Stops the project (or some services) and waits until stopped.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object(ProjectLifecycleInput),
  output: ProjectLifecycleResult,
  plan: ({ project, services }) =>
    `stop ${services ? `services ${services.join(', ')} of` : 'every container of'} compose project "${project}"`,
  handler: async (i, ctx) =>
    runProjectLifecycle(ctx, i.project, i.services, 'stop', i.stopTimeoutSeconds, i.waitSeconds),
});

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
  handler: async (input, ctx) => {
    const { since, until } = parseWindow(input);
    const filter = buildLineFilter(input);
    const containers = await projectContainers(ctx, input.project, input.services);
    const perService = new Map<string, number>();
    for (const c of containers) perService.set(serviceOf(c), (perService.get(serviceOf(c)) ?? 0) + 1);
    const { cap, notes } = logCap(input.maxBytes, ctx.maxOutputBytes);
    const both = input.streams === 'both';
    const merged: LogResult = { lines: [], scanned: 0, matched: 0, dropped: 0, droppedBytes: 0 };
    for (const c of containers) {
      const service = serviceOf(c);
      const prefix = (perService.get(service) ?? 0) > 1 ? nameOf(c.Names) : service;
      const res = await readLogs(
        ctx.docker,
        c.Id,
        {
          ...input,
          since,
          until,
          filter,
          cap,
          render: (ts, body, stream) =>
            `${prefix} | ${input.timestamps && ts ? `${ts} ` : ''}${both && stream === 'stderr' ? '[stderr] ' : ''}${body}`,
        },
        ctx.signal,
      );
      merged.lines.push(...res.lines);
      merged.scanned += res.scanned;
      merged.matched += res.matched;
      merged.dropped += res.dropped;
      merged.droppedBytes += res.droppedBytes;
    }
    const answer = assembleLogText(merged, cap, notes);
    return {
      project: input.project,
      services: [...perService.keys()],
      ...answer,
      matchedLines: merged.matched,
      scannedLines: merged.scanned,
    };
  },
});

export const composeTools = [
  composeListProjects,
  composeGetStatus,
  composeRestart,
  composeStart,
  composeStop,
  composeGetLogs,
] as const;
