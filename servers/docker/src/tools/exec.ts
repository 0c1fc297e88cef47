import { compileUserPattern, describeZodError, sliceChars, type ToolContext, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { namedAfter } from '../engine-errors.js';
import { ContainerRef, nameOf } from '../state.js';
import { type DockerServices, defineTool } from './define.js';
import { executorNamedBy, isKnownSafe, isRunner } from './exec-programs.js';
import { fitText } from './logs.js';

const Arg = z
  .string()
  .max(4096)
  .refine((s) => !s.includes('\0'), 'must not contain NUL bytes');

/** An argument that varies: the whole argument must match this RE2 pattern (anchored at both ends). */
const ArgPattern = z.object({ pattern: z.string().min(1).max(500) }).strict();
const RuleArg = z.union([Arg, ArgPattern]);
type RuleArgT = z.infer<typeof RuleArg>;

/**
 * One operator allowlist entry. Rules are exact: argv must have exactly the entry's arguments, each a
 * literal string or `{ pattern }` (RE2, the whole argument must match). `rest` explicitly allows up to
 * `max` further arguments, each matching its pattern.
 */
export const ExecRule = z
  .object({
    container: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('Container name or glob (* and ?); every container when absent'),
    argv: z
      .array(RuleArg)
      .min(1)
      .max(64)
      .describe('The exact argv: literal strings, or { pattern } for an argument that varies'),
    rest: z
      .object({ pattern: z.string().min(1).max(500), max: z.number().int().min(1).max(64).default(8) })
      .strict()
      .optional()
      .describe('Allows up to max further arguments, each matching pattern'),
    exact: z
      .boolean()
      .optional()
      .describe('Ignored (rules are always exact); false is refused since prefix rules are gone'),
    runsPrograms: z
      .literal(false)
      .optional()
      .describe(
        "The operator's word that argv[0] never runs a program or code named in its arguments; needed for { pattern } or rest unless argv[0] is a known-safe program",
      ),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.exact === false) {
      ctx.addIssue({
        code: 'custom',
        path: ['exact'],
        message:
          'prefix rules are no longer supported (["cat", "/etc/hostname"] used to allow "cat /etc/hostname /run/secrets/..."); list every argument, use { pattern } for one that varies, or rest: { pattern, max } for extra ones',
      });
    }
    const argv0 = rule.argv[0];
    if (typeof argv0 !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['argv', 0], message: 'the program (argv[0]) must be a literal string' });
      return;
    }
    const variable = rule.rest !== undefined || rule.argv.some((a) => typeof a !== 'string');
    if (isRunner(argv0) && (variable || rule.runsPrograms === false)) {
      ctx.addIssue({
        code: 'custom',
        path: ['argv', 0],
        message: `"${argv0}" runs code or other programs given as arguments (sh -c, find -exec, ionice -c3 sh): list every argument literally, without { pattern }, rest or runsPrograms: false`,
      });
    } else if (variable && !isKnownSafe(argv0) && rule.runsPrograms !== false) {
      ctx.addIssue({
        code: 'custom',
        path: ['argv', 0],
        // describeZodError keeps 200 characters of a message: the remedy comes first
        message: `"${argv0}" is not a program known never to run another: list every argument literally, or add runsPrograms: false once you checked it never runs what its arguments name`,
      });
    }
    const patterns = [
      ...rule.argv.flatMap((a, i) => (typeof a === 'string' ? [] : [{ where: `argv[${i}]`, pattern: a.pattern }])),
      ...(rule.rest ? [{ where: 'rest', pattern: rule.rest.pattern }] : []),
    ];
    for (const { where, pattern } of patterns) {
      try {
        compileUserPattern(pattern, { field: where });
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: [where], message: (err as Error).message });
      }
    }
  });
export type ExecRuleT = z.infer<typeof ExecRule>;

/** The policy options of exec_run: `servers.docker.tools.exec_run.options`. */
export const ExecOptions = z.object({ allow: z.array(ExecRule).max(500).default([]) });

/** A rule compiled once: literal arguments compare with ===, patterns match the whole argument on RE2. */
export interface CompiledRule {
  rule: ExecRuleT;
  container: ((name: string, id: string) => boolean) | undefined;
  args: ((arg: string) => boolean)[];
  rest: { test: (arg: string) => boolean; max: number } | undefined;
  /**
   * Positions of argv the caller chooses (`{ pattern }`, then every `rest` position), checked for a named
   * shell, interpreter, loader or wrapper; only for a program the operator vouched for with
   * `runsPrograms: false` (a known-safe one runs nothing, whatever its arguments name).
   */
  vouched: boolean;
}

function argMatcher(a: RuleArgT, where: string): (arg: string) => boolean {
  if (typeof a === 'string') return (arg) => arg === a;
  const p = compileUserPattern(a.pattern, { field: where });
  return (arg) => p.matchesWhole(arg);
}

const compiledCache = new WeakMap<object, CompiledRule[]>();

/** Validates and compiles the allowlist; throws ERR_NOT_ALLOWED naming what the operator must fix. */
export function parseExecOptions(options: Readonly<Record<string, unknown>>): CompiledRule[] {
  const key = options ?? {};
  const cached = compiledCache.get(key);
  if (cached) return cached;
  const parsed = ExecOptions.safeParse(key);
  if (!parsed.success) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      `the operator's exec allowlist is invalid (${describeZodError(parsed.error)}); nothing can run until the policy file entry servers.docker.tools.exec_run.options.allow is fixed`,
    );
  }
  const compiled = parsed.data.allow.map((rule, n) => {
    const glob = rule.container === undefined ? undefined : globMatcher(rule.container);
    return {
      rule,
      container: glob && ((name: string, id: string) => glob(name) || rule.container === id),
      args: rule.argv.map((a, i) => argMatcher(a, `allow[${n}].argv[${i}]`)),
      rest: rule.rest && {
        test: argMatcher({ pattern: rule.rest.pattern }, `allow[${n}].rest`),
        max: rule.rest.max,
      },
      vouched: !isKnownSafe(rule.argv[0] as string),
    };
  });
  compiledCache.set(key, compiled);
  return compiled;
}

/** Container globs (* and ?) run on RE2 too, so an operator's `*a*a*a*b` cannot backtrack. */
export function globMatcher(glob: string): (name: string) => boolean {
  const body = glob
    .split('')
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : RE2JS_QUOTE(ch)))
    .join('');
  const p = compileUserPattern(body, { field: 'container glob' });
  return (name) => p.matchesWhole(name);
}

const RE2JS_QUOTE = (ch: string): string => (/[\\^$.|?*+()[\]{}]/.test(ch) ? `\\${ch}` : ch);

/** Whether the rule's container glob and arguments match (the executor check aside). */
function matches(r: CompiledRule, container: { name: string; id: string }, argv: readonly string[]): boolean {
  if (r.container && !r.container(container.name, container.id)) return false;
  const extra = argv.length - r.args.length;
  if (extra < 0 || extra > (r.rest?.max ?? 0)) return false;
  if (!r.args.every((m, i) => m(argv[i] as string))) return false;
  return argv.slice(r.args.length).every((a) => r.rest?.test(a) === true);
}

/** The first caller-chosen argument of a vouched-for rule that names an executor, as { index, program }. */
function namedExecutor(r: CompiledRule, argv: readonly string[]): { index: number; program: string } | undefined {
  if (!r.vouched) return undefined;
  for (let i = 1; i < argv.length; i++) {
    if (i < r.rule.argv.length && typeof r.rule.argv[i] === 'string') continue;
    const program = executorNamedBy(argv[i] as string);
    if (program !== undefined) return { index: i, program };
  }
  return undefined;
}

/**
 * The first rule allowing `argv` in the container, or undefined. Under a rule for a program the operator
 * vouched for, a caller-chosen argument naming a shell, interpreter, loader or wrapper never matches.
 */
export function findRule(
  rules: readonly CompiledRule[],
  container: { name: string; id: string },
  argv: readonly string[],
): CompiledRule | undefined {
  return rules.find((r) => matches(r, container, argv) && namedExecutor(r, argv) === undefined);
}

/** Why no rule allowed argv although one matched it: the argument naming an executor, if any. */
export function executorRefusal(
  rules: readonly CompiledRule[],
  container: { name: string; id: string },
  argv: readonly string[],
): { index: number; program: string } | undefined {
  for (const r of rules) {
    const named = matches(r, container, argv) ? namedExecutor(r, argv) : undefined;
    if (named) return named;
  }
  return undefined;
}

/** Longest part of one caller argument, and of the whole argv, that an error quotes. */
const QUOTE_ARG_CHARS = 100;
const QUOTE_ARGV_CHARS = 400;

/**
 * A caller's argv as an error quotes it: each argument JSON-quoted and clipped, the list cut once it is
 * long, what was left out counted (an argv can be 64 arguments of 4 KiB). `whole` says nothing was cut.
 */
export function quoteArgv(argv: readonly string[]): { text: string; whole: boolean } {
  const shown: string[] = [];
  let used = 0;
  let whole = true;
  for (const arg of argv) {
    const cut = arg.length > QUOTE_ARG_CHARS;
    const quoted = cut
      ? `${JSON.stringify(sliceChars(arg, QUOTE_ARG_CHARS))}...(${arg.length} chars)`
      : JSON.stringify(arg);
    if (used + quoted.length > QUOTE_ARGV_CHARS) break;
    shown.push(quoted);
    used += quoted.length + 1;
    if (cut) whole = false;
  }
  const left = argv.length - shown.length;
  if (left > 0) {
    whole = false;
    const chars = argv.reduce((n, a) => n + a.length, 0);
    shown.push(`... ${left} more argument(s); ${argv.length} arguments, ${chars} characters in all`);
  }
  return { text: `[${shown.join(',')}]`, whole };
}

/** How a rule reads in answers and errors: literal arguments as they are, patterns as "/re/". */
function ruleArgv(rule: ExecRuleT): string[] {
  return [
    ...rule.argv.map((a) => (typeof a === 'string' ? a : `/${a.pattern}/`)),
    ...(rule.rest ? [`.../${rule.rest.pattern}/ (up to ${rule.rest.max})`] : []),
  ];
}

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
    const stdout = fitText(res.stdout, perStream);
    const stderr = fitText(res.stderr, perStream);
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
