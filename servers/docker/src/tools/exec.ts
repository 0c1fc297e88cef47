import { describeZodError, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { ContainerRef, nameOf } from '../state.js';
import { defineTool } from './define.js';
import { fitText } from './logs.js';

const Arg = z
  .string()
  .max(4096)
  .refine((s) => !s.includes('\0'), 'must not contain NUL bytes');

/** One operator allowlist entry: argv must start with `argv` (or equal it when `exact`), in a container matching `container`. */
export const ExecRule = z
  .object({
    container: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('Container name or glob (* and ?); every container when absent'),
    argv: z.array(Arg).min(1).max(64).describe('Exact argv prefix, e.g. ["cat", "/etc/hostname"]'),
    exact: z.boolean().default(false).describe('When true, argv must equal the entry (no extra arguments)'),
  })
  .strict();
export type ExecRuleT = z.infer<typeof ExecRule>;

/** The policy options of exec_run: `servers.docker.tools.exec_run.options`. */
export const ExecOptions = z.object({ allow: z.array(ExecRule).max(500).default([]) });

export function parseExecOptions(options: Readonly<Record<string, unknown>>): ExecRuleT[] {
  const parsed = ExecOptions.safeParse(options ?? {});
  if (!parsed.success) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      `the operator's exec allowlist is invalid (${describeZodError(parsed.error)}); nothing can run until the policy file entry servers.docker.tools.exec_run.options.allow is fixed`,
    );
  }
  return parsed.data.allow;
}

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The first rule allowing `argv` in the container, or undefined. */
export function findRule(
  rules: readonly ExecRuleT[],
  container: { name: string; id: string },
  argv: readonly string[],
): ExecRuleT | undefined {
  return rules.find((r) => {
    if (r.container !== undefined && !globToRegExp(r.container).test(container.name) && r.container !== container.id)
      return false;
    if (r.exact ? argv.length !== r.argv.length : argv.length < r.argv.length) return false;
    return r.argv.every((a, i) => argv[i] === a);
  });
}

export const execRun = defineTool({
  name: 'exec_run',
  toolset: 'exec',
  tier: 'HIGH',
  scopes: ['mcp:docker:admin'],
  title: 'Run an allowlisted command in a container',
  description:
    "Run one command (argv array, no shell, no TTY) inside a running container if the operator's allowlist permits it; returns exit code and capped stdout/stderr.",
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    container: ContainerRef,
    argv: z
      .array(Arg)
      .min(1)
      .max(64)
      .describe('The command and its arguments, e.g. ["cat", "/etc/hostname"]; no shell parsing happens'),
    timeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(120)
      .default(20)
      .describe(
        'Stop waiting for the command after this many seconds (keep it under the server call timeout, 30 s by default)',
      ),
    maxOutputBytes: z
      .number()
      .int()
      .min(256)
      .max(256 * 1024)
      .default(16 * 1024)
      .describe('Byte cap per stream; the last bytes are kept'),
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
      .object({ container: z.string().nullable(), argv: z.array(z.string()), exact: z.boolean() })
      .describe('The allowlist entry that permitted the command'),
  }),
  plan: ({ container, argv }) => `run ${JSON.stringify(argv)} inside container "${container}"`,
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
        `${JSON.stringify(argv)} is not on the operator's exec allowlist for container "${name}"; use one of the allowed commands or ask an operator to add it to servers.docker.tools.exec_run.options.allow`,
        {
          container: name,
          allowedForContainer: rules
            .filter((r) => r.container === undefined || globToRegExp(r.container).test(name))
            .map((r) => r.argv)
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
      allowedBy: { container: rule.container ?? null, argv: rule.argv, exact: rule.exact },
    };
  },
});

export const execTools = [execRun] as const;
