import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TIERS } from './types.js';

const SpiffePattern = z
  .string()
  .regex(
    /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*(\/\*|\/\*\*)?$/,
    'must be a SPIFFE ID, optionally ending in /* or /**',
  );

/** The scope an approver needs unless the policy names another scope or role. */
export const APPROVER_SCOPE = 'mcp:approvals:approve';
const MAX_APPROVAL_TTL_SECONDS = 24 * 3600;
const DURATION = /^([1-9][0-9]{0,5})(s|m|h)$/;

/** '90s', '30m', '2h' -> seconds. */
export function durationSeconds(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new PolicyError(`'${text}' is not a duration like '90s', '30m' or '2h'`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

/**
 * `approve:` on a tool or toolset: a person holding `approvers` (a scope, or an identity-provider role
 * of that name) must approve each call before it runs; `count: 2` needs two distinct people.
 */
const ApproveRule = z
  .object({
    approvers: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9:._/-]{0,199}$/, 'must be a scope or role name (letters, digits, : . _ / -)')
      .default(APPROVER_SCOPE),
    count: z.union([z.literal(1), z.literal(2)]).default(1),
    ttl: z
      .string()
      .regex(DURATION, "must be a duration like '90s', '30m' or '2h'")
      .refine(
        (t) => !DURATION.test(t) || (durationSeconds(t) >= 60 && durationSeconds(t) <= MAX_APPROVAL_TTL_SECONDS),
        {
          message: 'must be between 1m and 24h',
        },
      )
      .default('30m'),
  })
  .strict();
export type ApproveRule = z.infer<typeof ApproveRule>;

const ToolPolicy = z
  .object({
    /** Require human approval; `false` is allowed only where the tool has no approval by default. */
    approve: z.union([ApproveRule, z.literal(false)]).optional(),
    enabled: z.boolean().optional(),
    tier: z.enum(TIERS).optional(),
    confirm: z.boolean().optional(),
    spiffe: z.array(SpiffePattern).optional(),
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const ServerPolicy = z
  .object({
    readOnly: z.boolean().default(false),
    toolsets: z
      .object({
        enabled: z.array(z.string()).optional(),
        disabled: z.array(z.string()).default([]),
        /**
         * Dynamic toolsets: what a session starts with. 'all' (default): every enabled toolset, as before;
         * 'default': the server's declared default set; a list: these. Agents enable the rest with
         * toolsets_enable. RAVENHELM_TOOLSETS overrides it.
         */
        initial: z.union([z.enum(['all', 'default']), z.array(z.string()).min(1)]).optional(),
      })
      .strict()
      .default({ disabled: [] }),
    /** 'destructive': every tool with destructiveHint needs a confirmation round-trip. */
    confirm: z.enum(['none', 'destructive']).default('none'),
    spiffe: z
      .object({
        default: z.array(SpiffePattern).default([]),
        toolsets: z.record(z.string(), z.array(SpiffePattern)).default({}),
      })
      .strict()
      .default({ default: [], toolsets: {} }),
    /** Human approval for every tool of a toolset (a tool entry's `approve` wins). */
    approve: z
      .object({ toolsets: z.record(z.string(), ApproveRule).default({}) })
      .strict()
      .default({ toolsets: {} }),
    tools: z.record(z.string(), ToolPolicy).default({}),
  })
  .strict();

export const PolicySchema = z
  .object({
    version: z.literal(1).default(1),
    servers: z.record(z.string(), ServerPolicy).default({}),
  })
  .strict();

export type Policy = z.infer<typeof PolicySchema>;
export type ServerPolicy = z.infer<typeof ServerPolicy>;
export type ToolPolicy = z.infer<typeof ToolPolicy>;

export class PolicyError extends Error {
  readonly code = 'ERR_POLICY_INVALID' as const;
  /** Every problem found, each a line of its own (the message lists them). */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super(message);
    this.name = 'PolicyError';
    this.problems = problems;
  }

  /** One error for several problems: the first alone keeps its message, more are listed and counted. */
  static of(problems: readonly string[]): PolicyError {
    const message =
      problems.length === 1 ? (problems[0] as string) : `${problems.length} problems:\n  ${problems.join('\n  ')}`;
    return new PolicyError(message, problems);
  }
}

export const EMPTY_POLICY: Policy = PolicySchema.parse({});

/** Parses a policy document (YAML or JSON text). Errors name the path that is wrong. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new PolicyError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const result = PolicySchema.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues
      .flatMap((i) => explainUnion(i))
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new PolicyError(`${source}: ${issues}`);
  }
  return result.data;
}

type Issue = { code: string; path: PropertyKey[]; message: string; errors?: Issue[][] };

/**
 * `approve: false | {...}` fails as one "Invalid input" union issue; when the value was an object, the
 * object branch's own issues say what is wrong (e.g. approve.count), so report those instead.
 */
function explainUnion(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union' || !issue.errors) return [issue];
  const branch = issue.errors.find(
    (b) => b.length > 0 && b.every((e) => e.path.length > 0 || e.code !== 'invalid_type'),
  );
  if (!branch) return [issue];
  return branch.map((e) => ({ ...e, path: [...issue.path, ...e.path] }));
}

export function serverPolicy(policy: Policy, server: string): ServerPolicy {
  return policy.servers[server] ?? ServerPolicy.parse({});
}
