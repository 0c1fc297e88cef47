import { abortAfter, clipChars, jsonBytes, sliceChars, stripTerminalControls, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import type { DockerBackend } from '../backend.js';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  ContainerRef,
  ContainerState,
  failedHealthcheck,
  Health,
  labelOf,
  labelShown,
  nameShown,
  restartLoopOf,
  stateOf,
} from '../state.js';
import { shownLine, withoutTimestamp } from '../stream.js';
import { defineTool } from './define.js';
import { listRowOf, stateOfListRow } from './list-row.js';
import { beforeDeadline, cutNoteOf, logGapOf } from './logs.js';

const ERROR_LINE = /\b(error|err|fatal|panic|exception|traceback|failed|failure|critical|crit|oom|killed)\b/i;
const MAX_HEALTH_OUTPUT = 500;
/** Longest error line shown, in characters; JSON escaping is budgeted on top (fitErrorLines). */
const MAX_ERROR_LINE_CHARS = 1000;

type ErrorLine = { stream: 'stdout' | 'stderr'; text: string };

/**
 * The newest error lines whose JSON fits `maxBytes`: each cut to MAX_ERROR_LINE_CHARS, then shortened
 * further while its JSON form (control characters are 6 bytes each as \u0001) is over its share, oldest
 * lines dropped first. Says what it cut.
 */
export function fitErrorLines(all: readonly ErrorLine[], maxBytes: number): { lines: ErrorLine[]; notes: string[] } {
  const kept: ErrorLine[] = [];
  let size = 2;
  let shortened = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    const l = all[i] as ErrorLine;
    // every line gets at least an equal share of what is left, so one huge line cannot starve the rest
    const share = Math.max(64, Math.floor((maxBytes - size) / (i + 1)));
    let text = clipChars(l.text, MAX_ERROR_LINE_CHARS);
    for (let now = jsonBytes({ stream: l.stream, text }); now > share && text.length > 1; ) {
      const keep = Math.min(text.length - 2, Math.floor((text.length * (share - 30)) / now));
      text = `${sliceChars(text, Math.max(0, keep))}…`;
      now = jsonBytes({ stream: l.stream, text });
    }
    if (text !== l.text) shortened++;
    const bytes = jsonBytes({ stream: l.stream, text }) + 1;
    if (size + bytes > maxBytes) break;
    size += bytes;
    kept.unshift({ stream: l.stream, text });
  }
  const notes: string[] = [];
  if (shortened > 0)
    notes.push(`${shortened} long lines were cut (ending in "…") to keep the answer within its budget`);
  if (kept.length < all.length)
    notes.push(
      `only the newest ${kept.length} of ${all.length} error lines fit the answer's budget; read the rest with logs_get`,
    );
  return { lines: kept, notes };
}

export const containersDiagnose = defineTool({
  name: 'containers_diagnose',
  toolset: 'containers',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Diagnose a container',
  description: 'Why a container is unwell: state, exit code, OOM, restarts, health checks, recent error lines.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    container: ContainerRef,
    errorLines: z.number().int().min(0).max(50).default(10).describe('Error lines shown'),
    healthChecks: z.number().int().min(1).max(5).default(3).describe('Health checks shown'),
  }),
  output: z.object({
    container: ContainerState,
    image: z.string(),
    createdAt: z.string(),
    restartPolicy: z.string().describe('no, always, on-failure, unless-stopped'),
    compose: z.object({ project: z.string(), service: z.string().nullable() }).nullable(),
    health: z
      .object({
        status: Health,
        failingStreak: z.number().int(),
        lastChecks: z.array(z.object({ at: z.string(), exitCode: z.number().int(), output: z.string() })),
      })
      .nullable()
      .describe('null when the container has no healthcheck'),
    errorLog: z.object({
      lines: z.array(z.object({ stream: z.enum(['stdout', 'stderr']), text: z.string() })),
      scannedLines: z.number().int().describe('How many of the latest log lines were searched'),
      unavailable: z.string().optional().describe('Why the log could not be read (then lines is empty)'),
      notes: z.array(z.string()).optional().describe('Lines cut or left out to fit the answer'),
    }),
    findings: z.array(z.string()).describe('Problems spotted, most important first; empty when all looks fine'),
  }),
  handler: async ({ container, errorLines, healthChecks }, ctx) => {
    const { docker, signal, maxOutputBytes } = ctx;
    // An engine slow to answer costs part of the diagnosis, not all of it: what was read is answered, the cut said.
    const stop = beforeDeadline(ctx);
    const found = await inspectOrListRow(ctx, container, stop);
    const info = found.info;
    // what both an inspect and a list row tell
    const seen = found.info
      ? {
          state: stateOf(found.info),
          id: found.info.Id,
          image: found.info.Config.Image,
          createdAt: found.info.Created,
          restartPolicy: found.info.HostConfig.RestartPolicy?.Name || 'no',
          labels: found.info.Config.Labels,
        }
      : {
          state: stateOfListRow(found.row),
          id: found.row.Id,
          image: found.row.Image,
          createdAt: new Date(found.row.Created * 1000).toISOString(),
          restartPolicy: 'unknown',
          labels: found.row.Labels,
        };
    const { state, id } = seen;
    const h = info?.State.Health;
    const health = h
      ? {
          status: state.health,
          failingStreak: h.FailingStreak,
          lastChecks: (h.Log ?? []).slice(-healthChecks).map((l) => ({
            at: l.End || l.Start,
            exitCode: l.ExitCode,
            output: clipChars(stripTerminalControls(l.Output ?? '').trim(), MAX_HEALTH_OUTPUT),
          })),
        }
      : !info && state.health !== 'none'
        ? { status: state.health, failingStreak: 0, lastChecks: [] }
        : null;
    let errors: ErrorLine[] = [];
    let scannedLines = 0;
    let unavailable: string | undefined;
    const logNotes: string[] = [];
    if (errorLines > 0 && !stop.aborted) {
      let newestRead = '';
      try {
        const logs = await docker.logs(
          id,
          {
            tail: 500,
            stdout: true,
            stderr: true,
            keepBytes: 16 * 1024,
            // without an inspect its TTY is unknown: the framing is told from the first bytes
            tty: info ? info.Config?.Tty === true : undefined,
            timestamps: true,
            partial: true,
            filter: (l) => {
              const { ts, rest } = withoutTimestamp(l.text);
              if (ts) newestRead = ts;
              return l.stream === 'stderr' || ERROR_LINE.test(rest);
            },
          },
          stop,
        );
        errors = logs.lines.slice(-errorLines).map((l) => ({
          stream: l.stream,
          text: shownLine(withoutTimestamp(l.text).rest),
        }));
        scannedLines = logs.scanned;
        if (logs.cut) logNotes.push(cutNoteOf({ ...logs.cut, newestRead }, logs.scanned));
      } catch (err) {
        // the rest of the diagnosis stands without the log
        unavailable =
          stop.aborted && !signal.aborted
            ? "the Docker Engine sent no whole log line before the call's time limit; read it with logs_get"
            : logGapOf(err, signal, {
                id,
                name: state.name,
                logDriver: info?.HostConfig.LogConfig?.Type,
              });
      }
    } else if (errorLines > 0) {
      unavailable = "not read: the inspect took the call's time; read it with logs_get";
    }
    const findings: string[] = [];
    if (!found.info) findings.push(found.why);
    if (state.oomKilled)
      findings.push(
        'the container was killed for running out of memory (OOMKilled); raise its memory limit or find the leak',
      );
    if (state.state === 'restarting')
      findings.push(
        `the engine is restarting it in a loop (restart count ${state.restartCount}); the process keeps exiting`,
      );
    if (state.state === 'dead') findings.push('the container is dead (the engine failed to stop or remove it)');
    if (!state.running && state.exitCode !== null && state.exitCode !== 0 && state.state !== 'restarting') {
      findings.push(
        `it exited with code ${state.exitCode}${state.exitCode === 137 ? ' (SIGKILL: OOM or a forced stop)' : state.exitCode === 143 ? ' (SIGTERM)' : ''}`,
      );
    }
    if (health?.status === 'unhealthy' && (!info || failedHealthcheck(info))) {
      const last = health.lastChecks.at(-1);
      findings.push(
        `healthcheck failing${info ? ` ${health.failingStreak} times in a row` : ''}${last ? `; last output: ${JSON.stringify(clipChars(last.output, 200))}` : ''}`,
      );
    } else if (health?.status === 'unhealthy') {
      findings.push(
        'health shows unhealthy only because it is stopped (the engine marks every stopped container so); its last health checks passed',
      );
    }
    const loop = info ? restartLoopOf(info) : undefined;
    if (loop !== undefined && state.state !== 'restarting') {
      findings.push(
        `the engine keeps restarting it: restarted ${state.restartCount} times by its restart policy, the last exit ${Math.round(loop / 1000)} s ago; it runs between exits, so "running" is not a recovery (check errorLog and logs_get)`,
      );
    } else if (state.restartCount > 0 && state.state !== 'restarting')
      findings.push(`restarted ${state.restartCount} times by its restart policy`);
    if (info?.State.Error)
      findings.push(`engine error: ${clipChars(stripTerminalControls(info.State.Error).trim(), 300)}`);
    if (errors.length > 0) findings.push(`${errors.length} recent error-like log lines (see errorLog)`);
    if (unavailable) findings.push(`its log could not be read: ${unavailable}`);
    if (logNotes.length > 0) findings.push('its log was read only in part (see errorLog.notes)');
    const project = seen.labels?.[COMPOSE_PROJECT_LABEL];
    const answer = {
      container: state,
      image: seen.image,
      createdAt: seen.createdAt,
      restartPolicy: seen.restartPolicy,
      compose: project ? { project: labelShown(project), service: labelOf(seen.labels, COMPOSE_SERVICE_LABEL) } : null,
      health,
      errorLog: { lines: [] as ErrorLine[], scannedLines, ...(unavailable ? { unavailable } : {}) },
      findings,
    };
    // the error lines get what the rest of the answer leaves (and room for their notes)
    const fitted = fitErrorLines(errors, maxOutputBytes - jsonBytes(answer) - jsonBytes(logNotes) - 512);
    answer.errorLog.lines = fitted.lines;
    const notes = [...logNotes, ...fitted.notes];
    return { ...answer, errorLog: { ...answer.errorLog, ...(notes.length > 0 ? { notes } : {}) } };
  },
});

/**
 * The container's inspect or, when the engine does not answer it in time (an inspect waits on the
 * container's lock), its list row with what that leaves unknown. Other errors (not found...) are thrown.
 */
async function inspectOrListRow(
  ctx: { docker: DockerBackend; signal: AbortSignal; deadline: number },
  ref: string,
  stop: AbortSignal,
): Promise<{ info: Docker.ContainerInspectInfo } | { info?: undefined; row: Docker.ContainerInfo; why: string }> {
  // half of the time left at most: the list row and the log read need the rest
  const half = abortAfter(stop, (ctx.deadline - Date.now()) / 2);
  try {
    return { info: await ctx.docker.inspect(ref, half) };
  } catch (err) {
    const slow = err instanceof ToolError && err.code === 'ERR_BACKEND_TIMEOUT';
    if (ctx.signal.aborted || !(slow || half.aborted)) throw err;
    const row = await listRowOf(ctx.docker, ref, stop).catch(() => undefined);
    if (!row) throw err;
    const why = `partial diagnosis: the Docker Engine did not answer the inspect of "${nameShown(row.Names)}" in time (${slow ? err.message : "half the call's time limit"}), so this is from its list row: state, health and exit code from its status "${clipChars(row.Status, 100)}"; OOM kill, restart count and policy, start/finish times, health-check history and engine errors are unknown (shown as false, 0, "unknown", null, empty). An inspect waits while the engine holds the container (a stop or start under way); retry containers_diagnose shortly`;
    return { row, why };
  }
}
