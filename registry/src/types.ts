/** The permission tiers, lowest first. Operators may raise a tool's tier, never lower it. */
export const TIERS = ['LOW', 'MEDIUM', 'HIGH'] as const;
export type Tier = (typeof TIERS)[number];

export function tierRank(tier: Tier): number {
  return TIERS.indexOf(tier);
}

/** MCP tool annotations; every tool states all four explicitly. */
export interface ToolAnnotations {
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

/** A tool's public contract as the registry sees it: no handler, no backend. */
export interface ToolSpec {
  server: string;
  name: string;
  title: string;
  description: string;
  toolset: string;
  tier: Tier;
  scopes: readonly string[];
  annotations: ToolAnnotations;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  /** Human approval required by default (a policy may raise it, never remove or lower it). */
  approval?: ApprovalRequirement;
}

/** Who must approve a call before it runs, how many distinct people, and how long a request waits. */
export interface ApprovalRequirement {
  /** A scope or a role name; an approver's token must carry it. */
  approvers: string;
  count: 1 | 2;
  ttlSeconds: number;
}

/** What a caller brings to a permission check. */
export interface CallerFacts {
  scopes: readonly string[];
  spiffeId?: string | undefined;
}

/** A tool after the policy file has been applied. */
export interface EffectiveTool extends Omit<ToolSpec, 'approval'> {
  /** The tier in force: the declared tier, or higher if the policy raised it. */
  tier: Tier;
  declaredTier: Tier;
  /** Destructive tools under a confirm policy need a second call with a confirmation token. */
  confirm: boolean;
  /** SPIFFE ID patterns allowed to call this tool (HIGH tools need a match). Empty: nobody. */
  spiffeAllow: readonly string[];
  /** Per-tool options from the policy file, validated by the server that owns the tool. */
  options: Readonly<Record<string, unknown>>;
  /** Human approval in force for this tool, or null when calls run without one. */
  approval: ApprovalRequirement | null;
}

/** Why a tool is not available, in the documented filter order. */
export type Exclusion = 'toolset-disabled' | 'read-only' | 'policy-disabled' | 'insufficient-scope' | 'spiffe-required';
