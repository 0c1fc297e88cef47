import { sliceChars, type ToolContext, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { namedAfter } from '../engine-errors.js';
import { ContainerRef, nameOf } from '../state.js';
import { type DockerServices, defineTool } from './define.js';
import {
  Arg,
  type CompiledRule,
  executorRefusal,
  findRule,
  parseExecOptions,
  QUOTE_ARG_CHARS,
  quoteArgv,
  ruleArgv,
} from './exec-allowlist.js';
import { shownStream, streamNotes } from './exec-text.js';
import { fitText } from './logs.js';

export const execRun = defineTool({
  name: 'exec_run',
  toolset: 'exec',
  tier: 'HIGH',
  scopes: ['mcp:docker:admin'],
  title: 'Run an allowlisted command in a container',
  description: "Run an argv (no shell) in a running container if the operator's allowlist permits it.",
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    container: ContainerRef,
    argv: z.array(Arg).min(1).max(64).describe('Command and arguments, no shell'),
    timeoutSeconds: z.number().int().min(1).max(120).default(20).describe('Stop waiting after'),
    maxOutputBytes: z
      .number()
      .int()
      .min(256)
      .max(256 * 1024)
      .default(16 * 1024)
      .describe('Cap per stream; last bytes kept'),
  }),
  output: z.object({
    container: z.string(),
    argv: z.array(z.string()),
    exitCode: z.number().int().nullable().describe('null while the command is still running'),
    timedOut: z.boolean().describe('True when the command outlived timeoutSeconds; output is what it wrote until then'),
    stillRunning: z
      .boolean()
      .describe(
        'True when it still runs in the container (the engine cannot stop an exec; restart the container if needed)',
      ),
    stdout: z.string(),
    stderr: z.string(),
    stdoutBytes: z.number().int().describe('Bytes the command wrote to stdout in all'),
    stderrBytes: z.number().int(),
    stdoutTruncated: z.boolean(),
    stderrTruncated: z.boolean(),
    durationMs: z.number().int(),
    allowedBy: z
      .object({ container: z.string().nullable(), argv: z.array(z.string()) })
      .describe('The allowlist entry that permitted the command'),
    notes: z.array(z.string()).optional().describe('Every bound that applied, and why'),
  }),
  plan: async ({ container, argv }, ctx): Promise<{ text: string; bound: PlannedContainer }> => {
    // Names what the confirmed call acts on: the kit binds the token to this text's digest and plans
    // again on confirmation, so another container taking the name meanwhile refuses it (ERR_CONFLICT).
    // The handler then runs in this very container (ctx.planned), not in whatever has the name by then.
    const { info, name } = await authorize(ctx, container, argv);
    mustRun(info, name);
    return {
      text: `run ${JSON.stringify(argv)} (no shell) inside container "${name}" (id ${info.Id.slice(0, 12)})`,
      bound: { id: info.Id, name },
    };
  },
  checkOptions: (options) => {
    parseExecOptions(options);
  },
  handler: async (
    { container, argv, timeoutSeconds, maxOutputBytes },
    { docker, signal, options, maxOutputBytes: budget, deadline, planned },
  ) => {
    const startedAt = Date.now();
    const { info, name, rule } = planned
      ? await authorizePlanned({ docker, signal, options }, planned, argv)
      : await authorize({ docker, signal, options }, container, argv);
    mustRun(info, name);
    const perStream = Math.max(128, Math.min(maxOutputBytes, Math.floor((budget - 2048) / 2)));
    const notes: string[] = [];
    if (perStream < maxOutputBytes) {
      notes.push(
        `maxOutputBytes ${maxOutputBytes} lowered to ${perStream} per stream: both streams fit the server's output budget of ${budget} bytes (limits.maxOutputBytes)`,
      );
    }
    // The call ends at the kit's call timeout whatever the command does: wait only as long as leaves time to
    // answer, so a slow command comes back as timedOut with its output, never as a retryable timeout.
    const roomMs = deadline - CALL_MARGIN_MS - Date.now();
    if (roomMs < 1000) {
      throw new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `nothing was run: the Docker Engine took ${Date.now() - startedAt} ms to find container "${name}", leaving no time to run the command within the call timeout; try again`,
      );
    }
    const waitMs = Math.min(timeoutSeconds * 1000, roomMs);
    if (waitMs < timeoutSeconds * 1000) {
      notes.push(
        `timeoutSeconds ${timeoutSeconds} lowered to ${Math.floor(waitMs / 100) / 10}: the answer must come within the call timeout (limits.callTimeoutMs, RAVENHELM_CALL_TIMEOUT_MS) with ${CALL_MARGIN_MS / 1000} s kept for the engine calls around the command; a command still running then is reported with timedOut and stillRunning`,
      );
    }
    const res = await docker
      .exec(info.Id, argv, { timeoutMs: waitMs, maxBytesPerStream: perStream }, signal)
      .catch((err: unknown) => {
        // it stopped or was paused after the inspect: named as the caller knows it, not by the id the call used
        throw namedAfter(err, info.Id, name);
      });
    // the command's bytes as text to show: controls stripped, bad UTF-8 and binary output said
    const shown = {
      stdout: shownStream(res.stdout, res.stdoutBytes > res.stdout.length),
      stderr: shownStream(res.stderr, res.stderrBytes > res.stderr.length),
    };
    notes.push(
      ...streamNotes('stdout', shown.stdout, res.stdoutBytes),
      ...streamNotes('stderr', shown.stderr, res.stderrBytes),
    );
    const stdout = fitText(shown.stdout.text, perStream);
    const stderr = fitText(shown.stderr.text, perStream);
    return {
      container: name,
      argv,
      exitCode: res.exitCode,
      timedOut: res.timedOut,
      stillRunning: res.stillRunning,
      stdout: stdout.text,
      stderr: stderr.text,
      stdoutBytes: res.stdoutBytes,
      stderrBytes: res.stderrBytes,
      stdoutTruncated: res.stdoutTruncated || stdout.truncated,
      stderrTruncated: res.stderrTruncated || stderr.truncated,
      durationMs: res.durationMs,
      allowedBy: { container: rule.rule.container ?? null, argv: ruleArgv(rule.rule) },
      ...(notes.length > 0 ? { notes } : {}),
    };
  },
});

/**
 * The engine runs an exec only in a running container (409 otherwise: "is paused, unpause the container before
 * exec", "is not running", "is restarting, wait until the container is running"): said first, by name, with
 * what the agent can do about it.
 */
function mustRun(info: Inspected, name: string): void {
  const s = info.State;
  if (s.Running && !s.Paused && !s.Restarting) return;
  const why = s.Paused
    ? 'is paused (its processes are frozen): resuming it needs `docker unpause`, which is not one of these tools; ask an operator'
    : s.Restarting
      ? 'is restarting (its restart policy brings it back after an exit): retry once containers_diagnose shows it running'
      : `is ${s.Status}, not running: start it with containers_start first`;
  throw new ToolError('ERR_CONFLICT', `nothing was run: container "${name}" ${why}`, { state: s.Status });
}

/** Kept for the engine calls before the command (inspect, exec create, a slot) and after it (its exit code). */
export const CALL_MARGIN_MS = 5_000;

/** The container a checked plan resolved: its full id, and its name then. */
interface PlannedContainer {
  id: string;
  name: string;
}

type ExecDeps = Pick<ToolContext<DockerServices>, 'docker' | 'signal' | 'options'>;
type Inspected = Awaited<ReturnType<DockerServices['docker']['inspect']>>;

/** Resolves the container and finds the rule allowing argv there; ERR_NOT_ALLOWED, quoting argv bounded, when none does. */
async function authorize(
  { docker, signal, options }: ExecDeps,
  container: string,
  argv: string[],
): Promise<{ info: Inspected; name: string; rule: CompiledRule }> {
  const rules = allowlistOf(options);
  return allowedIn(rules, await docker.inspect(container, signal), argv);
}

/**
 * The container of the plan people confirmed, by its id (another container may have taken its name since),
 * with the allowlist decided again for it as it is now (a rename can take it out of its rule). Nothing
 * runs when it is gone or no longer allowed.
 */
async function authorizePlanned(
  { docker, signal, options }: ExecDeps,
  planned: PlannedContainer,
  argv: string[],
): Promise<{ info: Inspected; name: string; rule: CompiledRule }> {
  const rules = allowlistOf(options);
  const shown = `container "${planned.name}" (id ${planned.id.slice(0, 12)})`;
  const again = 'call exec_run again to plan (and confirm) the command for the container as it is now';
  let info: Inspected;
  try {
    info = await docker.inspect(planned.id, signal);
  } catch (err) {
    if (!(err instanceof ToolError && err.code === 'ERR_NOT_FOUND')) throw err;
    throw new ToolError(
      'ERR_CONFLICT',
      `nothing was run: ${shown}, which the confirmed plan named, was removed since; ${again}`,
      { container: planned.name },
      { cause: err },
    );
  }
  try {
    return allowedIn(rules, info, argv);
  } catch (err) {
    if (!(err instanceof ToolError && err.code === 'ERR_NOT_ALLOWED')) throw err;
    const now = nameOf(info.Name);
    throw new ToolError(
      'ERR_CONFLICT',
      `nothing was run: ${shown}, which the confirmed plan named, ${now === planned.name ? 'is' : `was renamed to "${now}" since and is`} no longer allowed to run this command (no allowlist entry matches it as it is now); ${again}`,
      { ...err.details, container: planned.name, ...(now === planned.name ? {} : { renamedTo: now }) },
      { cause: err },
    );
  }
}

function allowlistOf(options: Readonly<Record<string, unknown>>): CompiledRule[] {
  const rules = parseExecOptions(options);
  if (rules.length === 0) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      'exec_run is enabled but its allowlist is empty, so every command is refused; an operator must add an entry such as { container: "web*", argv: ["cat", "/etc/hostname"] } under servers.docker.tools.exec_run.options.allow in the policy file',
    );
  }
  return rules;
}

/** The rule allowing argv in this container; ERR_NOT_ALLOWED, quoting argv bounded, when none does. */
function allowedIn(
  rules: readonly CompiledRule[],
  info: Inspected,
  argv: string[],
): { info: Inspected; name: string; rule: CompiledRule } {
  const name = nameOf(info.Name);
  const rule = findRule(rules, { name, id: info.Id }, argv);
  if (rule) return { info, name, rule };
  const quoted = quoteArgv(argv);
  const named = executorRefusal(rules, { name, id: info.Id }, argv);
  const why = named
    ? `argument ${named.index} names "${named.program}", a shell, interpreter, loader or wrapper; an argument the caller chooses may never name one for a program the operator vouched for with runsPrograms: false`
    : `no entry allows it (rules allow exactly the arguments they list); use one of the allowed commands or ask an operator to add ${quoted.whole ? `{ container: ${JSON.stringify(name)}, argv: ${quoted.text} }` : 'an entry for it'} to servers.docker.tools.exec_run.options.allow`;
  throw new ToolError('ERR_NOT_ALLOWED', `${quoted.text} is not allowed in container "${name}": ${why}`, {
    container: name,
    allowedForContainer: rules
      .filter((r) => r.container === undefined || r.container(name, info.Id))
      .slice(0, 20)
      .map((r) =>
        ruleArgv(r.rule).map((a) => (a.length > QUOTE_ARG_CHARS ? `${sliceChars(a, QUOTE_ARG_CHARS)}...` : a)),
      ),
  });
}

export const execTools = [execRun] as const;
