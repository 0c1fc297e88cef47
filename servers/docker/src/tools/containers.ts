import { changedNote, ListPage, pageByKey, ToolError, tupleKey } from '@ravenhelm/kit';
import { z } from 'zod';
import { LifecycleResult, runLifecycle } from '../lifecycle.js';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  ComposeProjectName,
  ContainerRef,
  commandOf,
  dockerTime,
  HEALTH_VALUES,
  Health,
  healthOfStatusText,
  labelOf,
  nameShown,
  portsOf,
  STATUS_VALUES,
  shortId,
} from '../state.js';
import { defineTool } from './define.js';
import { containersDiagnose } from './diagnose.js';

export const LabelFilter = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*(=[^\n\r]*)?$/, 'must be "key" or "key=value"')
  .describe('"key" or "key=value"');

export const ContainerSummary = z.object({
  id: z.string().describe('Short container id'),
  name: z.string(),
  image: z.string(),
  command: z.string().describe('Cut to 60 characters; passwords and tokens in it shown as [redacted]'),
  state: z.string().describe('created, running, restarting, paused, exited, dead...'),
  health: Health,
  status: z.string().describe('The engine\'s human status text, e.g. "Exited (1) 2 minutes ago"'),
  createdAt: z.string(),
  ports: z.array(z.string()),
  composeProject: z.string().nullable(),
  composeService: z.string().nullable(),
});

export const containersList = defineTool({
  name: 'containers_list',
  toolset: 'containers',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'List containers',
  description: 'Containers (also stopped) with state and health; filters; paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_.-]+$/, 'must contain only letters, digits, "_", "." and "-"')
      .optional()
      .describe('Name contains'),
    labels: z.array(LabelFilter).max(10).optional().describe('Has all labels'),
    composeProject: ComposeProjectName.optional(),
    status: z.array(z.enum(STATUS_VALUES)).max(7).optional().describe('Any of these states'),
    health: z.enum(HEALTH_VALUES).optional(),
    limit: z.number().int().min(1).max(200).default(50),
    cursor: z.string().max(64).optional().describe('From nextCursor'),
  }),
  output: z.object({ containers: z.array(ContainerSummary), ...ListPage, note: z.string().optional() }),
  handler: async (input, { docker, signal, maxOutputBytes }) => {
    const label = [...(input.labels ?? [])];
    if (input.composeProject) label.push(`${COMPOSE_PROJECT_LABEL}=${input.composeProject}`);
    const all = await docker.listContainers(
      {
        // the engine matches a name filter as a regular expression: "." (the one such character allowed) is literal here
        name: input.name ? [input.name.replaceAll('.', '\\.')] : [],
        label,
        status: input.status ?? [],
        health: input.health ? [input.health] : [],
      },
      signal,
    );
    // By name, then id (names are unique, but a name can be taken again by a new container between pages).
    const entries = all.map((c) => {
      const name = nameShown(c.Names);
      return {
        key: tupleKey(name, c.Id),
        item: {
          id: shortId(c.Id),
          name,
          image: c.Image,
          command: commandOf(c.Command),
          state: c.State,
          health: healthOfStatusText(c.Status),
          status: c.Status,
          createdAt: new Date(c.Created * 1000).toISOString(),
          ports: portsOf(c.Ports),
          composeProject: labelOf(c.Labels, COMPOSE_PROJECT_LABEL),
          composeService: labelOf(c.Labels, COMPOSE_SERVICE_LABEL),
        },
      };
    });
    const { items, changed, ...rest } = pageByKey(entries, {
      tool: 'containers_list',
      bind: JSON.stringify([
        input.name,
        [...(input.labels ?? [])].sort(),
        input.composeProject,
        [...(input.status ?? [])].sort(),
        input.health,
      ]),
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: maxOutputBytes - 512,
    });
    return { containers: items, ...rest, ...(changed ? { note: changedNote('The container list') } : {}) };
  },
});

const GraceSeconds = z.number().int().min(0).max(120).default(10).describe('Seconds from SIGTERM to SIGKILL');
const WaitSeconds = z.number().int().min(0).max(300).default(15);

export const containersRestart = defineTool({
  name: 'containers_restart',
  toolset: 'containers',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Restart a container',
  description: 'Restarts one container and waits until running/healthy; restart budget applies.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({ container: ContainerRef, stopTimeoutSeconds: GraceSeconds, waitSeconds: WaitSeconds }),
  output: LifecycleResult,
  handler: async ({ container, stopTimeoutSeconds, waitSeconds }, ctx) =>
    runLifecycle(ctx, container, 'restart', { graceSeconds: stopTimeoutSeconds, waitSeconds }),
});

export const containersStart = defineTool({
  name: 'containers_start',
  toolset: 'containers',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Start a container',
  description: 'Starts one container and waits until running/healthy; restart budget applies.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ container: ContainerRef, waitSeconds: WaitSeconds }),
  output: LifecycleResult,
  handler: async ({ container, waitSeconds }, ctx) => {
    // the engine counts a paused container as running, so start would do nothing and report success
    const info = await ctx.docker.inspect(container, ctx.signal);
    if (info.State.Paused) {
      const name = nameShown(info.Name);
      throw new ToolError(
        'ERR_CONFLICT',
        `container "${name}" is paused (its processes are frozen), not stopped: start does not resume it. Resuming needs \`docker unpause ${name}\`, which is not one of these tools: ask an operator`,
        { state: 'paused' },
      );
    }
    return runLifecycle(ctx, container, 'start', { graceSeconds: 0, waitSeconds });
  },
});

export const containersStop = defineTool({
  name: 'containers_stop',
  toolset: 'containers',
  tier: 'MEDIUM',
  scopes: ['mcp:docker:write'],
  title: 'Stop a container',
  description: 'Stops one container and waits until it has stopped.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({ container: ContainerRef, stopTimeoutSeconds: GraceSeconds, waitSeconds: WaitSeconds }),
  output: LifecycleResult,
  // Names the container by id: the confirmation binds this text, and the handler stops exactly this container
  // (ctx.planned), not whatever has the name by then (another one may have taken it meanwhile).
  plan: async ({ container, stopTimeoutSeconds }, { docker, signal }) => {
    const info = await docker.inspect(container, signal);
    const bound = { id: info.Id, name: nameShown(info.Name) };
    return {
      text: `stop container "${bound.name}" (id ${bound.id.slice(0, 12)}; SIGTERM, SIGKILL after ${stopTimeoutSeconds} s); it stays stopped until started again`,
      bound,
    };
  },
  handler: async ({ container, stopTimeoutSeconds, waitSeconds }, ctx) => {
    const params = { graceSeconds: stopTimeoutSeconds, waitSeconds };
    if (!ctx.planned) return runLifecycle(ctx, container, 'stop', params);
    const { id, name } = ctx.planned;
    try {
      return await runLifecycle(ctx, id, 'stop', params);
    } catch (err) {
      if (!(err instanceof ToolError && err.code === 'ERR_NOT_FOUND')) throw err;
      throw new ToolError(
        'ERR_CONFLICT',
        `nothing was stopped: container "${name}" (id ${id.slice(0, 12)}), which the confirmed plan named, was removed since; call containers_stop again to plan (and confirm) for the container as it is now`,
        { container: name },
        { cause: err },
      );
    }
  },
});

export const containersGetStats = defineTool({
  name: 'containers_get_stats',
  toolset: 'containers',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Container CPU and memory',
  description: 'CPU % and memory use/limit; one ~1 s sample.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ container: ContainerRef }),
  output: z.object({
    id: z.string(),
    name: z.string(),
    state: z.string(),
    running: z.boolean(),
    cpuPercent: z
      .number()
      .nullable()
      .describe('CPU use over the sample as % of one CPU (can exceed 100 on several CPUs); null when stopped'),
    onlineCpus: z.number().int().nullable(),
    memoryUsageBytes: z.number().nullable().describe('Memory in use, page cache excluded'),
    memoryLimitBytes: z.number().nullable().describe("The container's limit, or the host memory when unlimited"),
    memoryPercent: z.number().nullable(),
    pids: z.number().int().nullable(),
    sampledAt: z.string().nullable(),
  }),
  handler: async ({ container }, { docker, signal }) => {
    let info = await docker.inspect(container, signal);
    // The answer without a sample (a container that does not run), which a sample fills in.
    const unsampled = () => ({
      id: shortId(info.Id),
      name: nameShown(info.Name),
      state: info.State.Status,
      running: false,
      cpuPercent: null,
      onlineCpus: null,
      memoryUsageBytes: null,
      memoryLimitBytes: null,
      memoryPercent: null,
      pids: null,
      sampledAt: null,
    });
    // A paused container is Running to the engine (its processes are frozen, still holding their memory): it is
    // sampled, and shown as state "paused", running false, as containers_diagnose shows it.
    if (!info.State.Running || info.State.Restarting) return unsampled();
    const s = await docker.stats(info.Id, signal);
    // The engine answers a container that stopped after the inspect with zeros read at year 1.
    if (dockerTime(s.read) === null) {
      info = await docker.inspect(info.Id, signal);
      if (!info.State.Running || info.State.Restarting) return unsampled();
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `the Docker Engine gave no sample for container "${nameShown(info.Name)}" though it is ${info.State.Status}; retry`,
      );
    }
    const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
    const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
    const onlineCpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
    const cpuPercent = systemDelta > 0 && cpuDelta >= 0 ? round2((cpuDelta / systemDelta) * onlineCpus * 100) : 0;
    const mem = s.memory_stats ?? ({} as typeof s.memory_stats);
    const st = (mem.stats ?? {}) as unknown as Record<string, number | undefined>;
    const cache = st.total_inactive_file ?? st.inactive_file ?? 0;
    const usage = typeof mem.usage === 'number' ? Math.max(0, mem.usage - cache) : null;
    const limit = typeof mem.limit === 'number' && mem.limit > 0 ? mem.limit : null;
    return {
      ...unsampled(),
      running: !info.State.Paused,
      cpuPercent,
      onlineCpus,
      memoryUsageBytes: usage,
      memoryLimitBytes: limit,
      memoryPercent: usage !== null && limit !== null ? Math.round((usage / limit) * 100_000) / 1000 : null,
      pids: s.pids_stats?.current ?? null,
      sampledAt: s.read ?? null,
    };
  },
});

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export const containerTools = [
  containersList,
  containersDiagnose,
  containersRestart,
  containersStart,
  containersStop,
  containersGetStats,
] as const;
