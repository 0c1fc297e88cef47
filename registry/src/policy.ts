import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { TIERS } from './types.js';

const SpiffePattern = z
  .string()
  .regex(
    /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*(\/\*|\/\*\*)?$/,
    'must be a SPIFFE ID, optionally ending in /* or /**',
  );

const ToolPolicy = z
  .object({
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
      .object({ enabled: z.array(z.string()).optional(), disabled: z.array(z.string()).default([]) })
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
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
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
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PolicyError(`${source}: ${issues}`);
  }
  return result.data;
}

export function serverPolicy(policy: Policy, server: string): ServerPolicy {
  return policy.servers[server] ?? ServerPolicy.parse({});
}
