import { compileUserPattern, describeZodError, sliceChars, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { executorNamedBy, isKnownSafe, isRunner } from './exec-programs.js';

/*
 * exec_run's allowlist: the operator's rules (policy file), compiled once, and the matching of a caller's
 * argv against them; what the errors quote of an argv, bounded.
 */

export const Arg = z
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
export const QUOTE_ARG_CHARS = 100;
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
export function ruleArgv(rule: ExecRuleT): string[] {
  return [
    ...rule.argv.map((a) => (typeof a === 'string' ? a : `/${a.pattern}/`)),
    ...(rule.rest ? [`.../${rule.rest.pattern}/ (up to ${rule.rest.max})`] : []),
  ];
}
