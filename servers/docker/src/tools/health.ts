import { changedNote, clipChars, ListPage, pageByKey, stripTerminalControls, tupleKey } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import {
  COMPOSE_PROJECT_LABEL,
  ComposeProjectName,
  failedHealthcheck,
  Health,
  labelOf,
  mapLimit,
  restartLoopOf,
  stateOf,
} from '../state.js';
import { LabelFilter } from './containers.js';
import { defineTool } from './define.js';

/**
 * `restarting`: the engine is restarting it, or restarted it after an exit less than a minute ago (a crash
 * loop runs between exits: RESTART_LOOP_MS). `restarted`: the restart policy restarted it at least once, longer
 * ago, and it has kept running since.
 */
export const PROBLEM_KINDS = [
  'unhealthy',
  'restarting',
  'restarted',
  'exited_nonzero',
  'oom_killed',
  'dead',
  'health_starting',
] as const;
const Problem = z.enum(PROBLEM_KINDS);
type ProblemKind = z.infer<typeof Problem>;

/** Containers inspected at most per report; a host with more gets an explicit note. */
const MAX_INSPECTED = 500;

/** `looping`: whether restartLoopOf found it in a restart loop (read once per container and report). */
export function problemsOf(
  info: Docker.ContainerInspectInfo,
  looping = restartLoopOf(info) !== undefined,
): ProblemKind[] {
  const s = stateOf(info);
  const kinds: ProblemKind[] = [];
  if (failedHealthcheck(info)) kinds.push('unhealthy');
  if (looping) kinds.push('restarting');
  else if (s.restartCount > 0) kinds.push('restarted');
  if (s.state === 'dead') kinds.push('dead');
  if (s.state === 'exited' && s.exitCode !== null && s.exitCode !== 0) kinds.push('exited_nonzero');
  if (s.oomKilled) kinds.push('oom_killed');
  if (s.health === 'starting' && s.running) kinds.push('health_starting');
  return kinds;
}

const ProblemContainer = z.object({
  id: z.string(),
  name: z.string(),
  problems: z.array(Problem),
  state: z.string(),
  health: Health,
  exitCode: z.number().int().nullable(),
  restartCount: z.number().int(),
  finishedAt: z.string().nullable(),
  composeProject: z.string().nullable(),
  lastHealthOutput: z.string().nullable().describe('Output of the latest failing healthcheck, clipped'),
});

export const healthGetReport = defineTool({
  name: 'health_get_report',
  toolset: 'health',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Health report across containers',
  description: 'Which containers are unhealthy, restarting, exited non-zero, OOM-killed or dead; with counts.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    composeProject: ComposeProjectName.optional(),
    labels: z.array(LabelFilter).max(10).optional().describe('Has all labels'),
    limit: z.number().int().min(1).max(200).default(50),
    cursor: z.string().max(64).optional().describe('From nextCursor'),
  }),
  output: z.object({
    ok: z.boolean().describe('True when no container is unhealthy, restarting, dead, OOM-killed or exited non-zero'),
    inspected: z.number().int().describe('Containers checked'),
    skipped: z.number().int().describe('Containers not checked because the report stops at 500'),
    counts: z.object({
      running: z.number().int(),
      healthy: z.number().int(),
      unhealthy: z.number().int(),
      healthStarting: z.number().int(),
      restarting: z.number().int(),
      restartedByPolicy: z.number().int().describe('Containers the restart policy restarted at least once'),
      exitedNonZero: z.number().int(),
      exitedZero: z.number().int(),
      oomKilled: z.number().int(),
      dead: z.number().int(),
      paused: z.number().int(),
      created: z.number().int(),
    }),
    containers: z.array(ProblemContainer).describe('Containers with a problem, worst first'),
    ...ListPage,
    note: z.string().optional(),
  }),
  handler: async (input, { docker, signal, maxOutputBytes }) => {
    const label = [...(input.labels ?? [])];
    if (input.composeProject) label.push(`${COMPOSE_PROJECT_LABEL}=${input.composeProject}`);
    const listed = await docker.listContainers({ label }, signal);
    const toInspect = listed.slice(0, MAX_INSPECTED);
    // A container removed between list and inspect is simply gone: skip it.
    const infos = (
      await mapLimit(toInspect, 8, async (c) => {
        try {
          return await docker.inspect(c.Id, signal);
        } catch (err) {
          if ((err as { code?: string }).code === 'ERR_NOT_FOUND') return null;
          throw err;
        }
      })
    ).filter((i): i is Docker.ContainerInspectInfo => i !== null);
    const counts = {
      running: 0,
      healthy: 0,
      unhealthy: 0,
      healthStarting: 0,
      restarting: 0,
      restartedByPolicy: 0,
      exitedNonZero: 0,
      exitedZero: 0,
      oomKilled: 0,
      dead: 0,
      paused: 0,
      created: 0,
    };
    const problems: { key: string; item: z.infer<typeof ProblemContainer> }[] = [];
    for (const info of infos) {
      const s = stateOf(info);
      // once: read twice, a loop's last exit could pass the one-minute mark between the count and the row
      const looping = restartLoopOf(info) !== undefined;
      if (s.running) counts.running++;
      if (s.health === 'healthy') counts.healthy++;
      if (failedHealthcheck(info)) counts.unhealthy++;
      if (s.health === 'starting') counts.healthStarting++;
      if (looping) counts.restarting++;
      if (s.restartCount > 0) counts.restartedByPolicy++;
      if (s.state === 'exited' && s.exitCode !== null && s.exitCode !== 0) counts.exitedNonZero++;
      if (s.state === 'exited' && (s.exitCode ?? 0) === 0) counts.exitedZero++;
      if (s.oomKilled) counts.oomKilled++;
      if (s.state === 'dead') counts.dead++;
      if (s.state === 'paused') counts.paused++;
      if (s.state === 'created') counts.created++;
      const kinds = problemsOf(info, looping);
      if (kinds.length === 0) continue;
      const lastFailing = [...(info.State.Health?.Log ?? [])].reverse().find((l) => l.ExitCode !== 0);
      const row = {
        id: s.id,
        name: s.name,
        problems: kinds,
        state: s.state,
        health: s.health,
        exitCode: s.exitCode,
        restartCount: s.restartCount,
        finishedAt: s.finishedAt,
        composeProject: labelOf(info.Config.Labels, COMPOSE_PROJECT_LABEL),
        lastHealthOutput: lastFailing ? clipChars(stripTerminalControls(lastFailing.Output ?? '').trim(), 300) : null,
      };
      // worst first, then by name: a container whose problems change between pages moves, and the page says so
      problems.push({ key: tupleKey(severityKey(kinds), row.name, info.Id), item: row });
    }
    const { items, changed, ...rest } = pageByKey(problems, {
      tool: 'health_get_report',
      bind: JSON.stringify([input.composeProject, [...(input.labels ?? [])].sort()]),
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: maxOutputBytes - 1024,
    });
    const ok = problems.every(({ item }) => item.problems.every((k) => k === 'health_starting' || k === 'restarted'));
    return {
      ok,
      inspected: infos.length,
      skipped: listed.length - toInspect.length,
      counts,
      containers: items,
      ...rest,
      ...(changed ? { note: changedNote('The problem list') } : {}),
    };
  },
});

const WEIGHT: Record<ProblemKind, number> = {
  oom_killed: 50,
  restarting: 40,
  dead: 30,
  unhealthy: 20,
  exited_nonzero: 10,
  restarted: 5,
  health_starting: 1,
};

function severity(kinds: readonly ProblemKind[]): number {
  return kinds.reduce((sum, k) => sum + WEIGHT[k], 0);
}

/** A fixed-width key part that sorts the most severe first (severity is at most the sum of WEIGHT). */
const severityKey = (kinds: readonly ProblemKind[]): string => String(1000 - severity(kinds)).padStart(4, '0');

export const healthTools = [healthGetReport] as const;
