import { compileUserPattern, describeZodError, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { ContainerRef, nameOf } from '../state.js';
import { defineTool } from './define.js';
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
 * Programs that run code or other programs given as arguments: a variable argument to one of these
 * (`sh -c <anything>`, `find . -exec ...`, `env X=1 sh`) is arbitrary execution, so rules for them
 * must spell out every argument.
 */
const RUNNERS = new Set([
  ...['sh', 'ash', 'bash', 'dash', 'ksh', 'mksh', 'zsh', 'csh', 'tcsh', 'fish', 'busybox', 'toybox'],
  ...['python', 'python2', 'python3', 'perl', 'ruby', 'node', 'nodejs', 'deno', 'bun', 'php', 'lua', 'tclsh'],
  ...['awk', 'gawk', 'mawk', 'nawk', 'sed', 'jq', 'vim', 'vi', 'less', 'more', 'man', 'ed'],
  ...['env', 'xargs', 'find', 'nice', 'nohup', 'timeout', 'stdbuf', 'setsid', 'chroot', 'nsenter', 'unshare'],
  ...['su', 'sudo', 'doas', 'runuser', 'chpst', 'strace', 'ltrace', 'gdb', 'script', 'watch', 'flock'],
  ...['psql', 'mysql', 'redis-cli', 'sqlite3', 'mongo', 'mongosh', 'kubectl', 'docker', 'git', 'tar', 'rsync', 'ssh'],
]);
const runnerName = (argv0: string): string => (argv0.split('/').pop() ?? argv0).replace(/[0-9.]+$/, '');

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
    if (variable && RUNNERS.has(runnerName(argv0))) {
      ctx.addIssue({
        code: 'custom',
        path: ['argv', 0],
        message: `"${argv0}" runs code or other programs given as arguments (like sh -c, find -exec); a rule for it must list every argument literally, without { pattern } or rest`,
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

/** The first rule allowing `argv` in the container, or undefined. */
export function findRule(
  rules: readonly CompiledRule[],
  container: { name: string; id: string },
  argv: readonly string[],
): CompiledRule | undefined {
  return rules.find((r) => {
    if (r.container && !r.container(container.name, container.id)) return false;
    const extra = argv.length - r.args.length;
    if (extra < 0 || extra > (r.rest?.max ?? 0)) return false;
    if (!r.args.every((m, i) => m(argv[i] as string))) return false;
    return argv.slice(r.args.length).every((a) => r.rest?.test(a) === true);
  });
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
  plan: ({ container, argv }) => `run ${JSON.stringify(argv)} inside container "${container}"`,
  checkOptions: (options) => {
    parseExecOptions(options);
  },
  handler: async (
    { container, argv, timeoutSeconds, maxOutputBytes },
    { docker, signal, options, maxOutputBytes: budget },
  ) => {
    const rules = parseExecOptions(options);
    if (rules.length === 0) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        'exec_run is enabled but its allowlist is empty, so every command is refused; an operator must add an entry such as { container: "web*", argv: ["cat", "/etc/hostname"] } under servers.docker.tools.exec_run.options.allow in the policy file',
      );
    }
    const info = await docker.inspect(container, signal);
    const name = nameOf(info.Name);
    const rule = findRule(rules, { name, id: info.Id }, argv);
    if (!rule) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `${JSON.stringify(argv)} is not on the operator's exec allowlist for container "${name}" (rules allow exactly the arguments they list); use one of the allowed commands or ask an operator to add { container: ${JSON.stringify(name)}, argv: ${JSON.stringify(argv)} } to servers.docker.tools.exec_run.options.allow`,
        {
          container: name,
          allowedForContainer: rules
            .filter((r) => r.container === undefined || r.container(name, info.Id))
            .map((r) => ruleArgv(r.rule))
            .slice(0, 20),
        },
      );
    }
    const perStream = Math.max(128, Math.min(maxOutputBytes, Math.floor((budget - 2048) / 2)));
    const res = await docker.exec(
      info.Id,
      argv,
      { timeoutMs: timeoutSeconds * 1000, maxBytesPerStream: perStream },
      signal,
    );
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
      ...(perStream < maxOutputBytes
        ? {
            notes: [
              `maxOutputBytes ${maxOutputBytes} lowered to ${perStream} per stream: both streams fit the server's output budget of ${budget} bytes (limits.maxOutputBytes)`,
            ],
          }
        : {}),
    };
  },
});

export const execTools = [execRun] as const;
