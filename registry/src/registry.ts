import { type ApproveRule, durationSeconds, EMPTY_POLICY, type Policy, PolicyError, serverPolicy } from './policy.js';
import { missingScopes } from './scopes.js';
import { spiffeAllowed } from './spiffe-pattern.js';
import type { ApprovalRequirement, CallerFacts, EffectiveTool, Exclusion, ToolSpec } from './types.js';
import { TIERS, tierRank } from './types.js';

const TOOL_NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)+$/;
const ANNOTATION_KEYS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

export type Decision =
  | { allowed: true; tool: EffectiveTool }
  | { allowed: false; reason: Exclusion | 'unknown-tool'; missingScopes?: string[]; tool?: EffectiveTool };

const SCOPE_LEVEL = /^mcp:([a-z0-9-]+):(read|write|admin)$/;

function nonEmptyString(value: unknown): boolean {
  return typeof value === 'string' && value.trim().length > 0;
}

function isObjectSchema(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'object';
}

/** Checks that a declaration carries everything the registry needs; returns the problems found. */
export function validateSpec(spec: ToolSpec): string[] {
  const problems: string[] = [];
  const where = `${spec.server}/${spec.name}`;
  if (typeof spec.name !== 'string' || !TOOL_NAME.test(spec.name)) {
    problems.push(`${where}: name must be <area>_<verb> in snake_case`);
  }
  if (!nonEmptyString(spec.toolset)) problems.push(`${where}: toolset is required`);
  if (!nonEmptyString(spec.title)) problems.push(`${where}: title is required`);
  if (!nonEmptyString(spec.description)) problems.push(`${where}: description is required`);
  if (!(TIERS as readonly unknown[]).includes(spec.tier)) problems.push(`${where}: tier must be LOW, MEDIUM or HIGH`);
  if (!Array.isArray(spec.scopes) || spec.scopes.length === 0) {
    problems.push(`${where}: at least one scope is required`);
  } else {
    for (const scope of spec.scopes) {
      const m = typeof scope === 'string' ? SCOPE_LEVEL.exec(scope) : null;
      if (!m || m[1] !== spec.server) {
        problems.push(`${where}: scope '${String(scope)}' must be mcp:${spec.server}:<read|write|admin>`);
      }
    }
  }
  for (const key of ANNOTATION_KEYS) {
    if (typeof spec.annotations?.[key] !== 'boolean') problems.push(`${where}: annotation ${key} must be explicit`);
  }
  if (spec.annotations?.readOnlyHint === true && spec.annotations.destructiveHint === true) {
    problems.push(`${where}: a read-only tool cannot be destructive`);
  }
  // tools/list leaves idempotentHint off read-only tools (the spec gives it no meaning there), so a
  // read-only tool must be what a client then assumes: repeating it has no further effect.
  if (spec.annotations?.readOnlyHint === true && spec.annotations.idempotentHint === false) {
    problems.push(`${where}: a read-only tool is idempotent; set idempotentHint: true`);
  }
  if (!isObjectSchema(spec.inputSchema)) problems.push(`${where}: input schema must be a JSON Schema of type object`);
  if (!isObjectSchema(spec.outputSchema)) problems.push(`${where}: output schema must be a JSON Schema of type object`);
  return problems;
}

/**
 * The registry: every tool's declared contract with the operator's policy applied.
 * Filtering runs in one documented order: enabled toolsets -> read-only mode -> policy file -> caller.
 */
export class Registry {
  readonly #tools = new Map<string, EffectiveTool>();
  readonly #policy: Policy;

  constructor(specs: readonly ToolSpec[], policy: Policy = EMPTY_POLICY) {
    this.#policy = policy;
    const problems = specs.flatMap(validateSpec);
    const seen = new Set<string>();
    for (const spec of specs) {
      const key = `${spec.server}/${spec.name}`;
      if (seen.has(key)) problems.push(`${key}: duplicate tool name`);
      seen.add(key);
    }
    if (problems.length > 0) throw new Error(`invalid tool declarations:\n  ${problems.join('\n  ')}`);
    // Every problem of the policy at once, so an operator fixes the file in one go.
    const policyProblems = this.#checkPolicyNames(specs, policy);
    for (const spec of specs) {
      try {
        this.#tools.set(`${spec.server}/${spec.name}`, applyPolicy(spec, policy));
      } catch (err) {
        if (!(err instanceof PolicyError)) throw err;
        policyProblems.push(...err.problems);
      }
    }
    if (policyProblems.length > 0) throw PolicyError.of(policyProblems);
  }

  #checkPolicyNames(specs: readonly ToolSpec[], policy: Policy): string[] {
    const problems: string[] = [];
    for (const [server, sp] of Object.entries(policy.servers)) {
      const own = specs.filter((s) => s.server === server);
      if (own.length === 0) continue; // a shared policy file may name servers this process does not run
      const names = new Set(own.map((s) => s.name));
      const toolsets = new Set(own.map((s) => s.toolset));
      for (const name of Object.keys(sp.tools)) {
        if (!names.has(name)) problems.push(`policy servers.${server}.tools.${name}: no such tool`);
      }
      const namedToolsets = [
        ...(sp.toolsets.enabled ?? []),
        ...sp.toolsets.disabled,
        ...(Array.isArray(sp.toolsets.initial) ? sp.toolsets.initial : []),
        ...Object.keys(sp.spiffe.toolsets),
        ...Object.keys(sp.approve.toolsets),
      ];
      for (const ts of namedToolsets) {
        if (!toolsets.has(ts)) problems.push(`policy servers.${server}: no toolset named '${ts}'`);
      }
    }
    return problems;
  }

  /** Every tool of a server (or all servers), enabled or not. */
  all(server?: string): EffectiveTool[] {
    return [...this.#tools.values()].filter((t) => server === undefined || t.server === server);
  }

  get(server: string, name: string): EffectiveTool | undefined {
    return this.#tools.get(`${server}/${name}`);
  }

  get policy(): Policy {
    return this.#policy;
  }

  #staticExclusion(tool: EffectiveTool): Exclusion | undefined {
    const sp = serverPolicy(this.#policy, tool.server);
    if (sp.toolsets.enabled && !sp.toolsets.enabled.includes(tool.toolset)) return 'toolset-disabled';
    if (sp.toolsets.disabled.includes(tool.toolset)) return 'toolset-disabled';
    if (sp.readOnly && !tool.annotations.readOnlyHint) return 'read-only';
    if (sp.tools[tool.name]?.enabled === false) return 'policy-disabled';
    return undefined;
  }

  /** Decides whether a caller may call a tool, following the filter order. */
  decide(server: string, name: string, caller: CallerFacts): Decision {
    const tool = this.get(server, name);
    if (!tool) return { allowed: false, reason: 'unknown-tool' };
    const off = this.#staticExclusion(tool);
    if (off) return { allowed: false, reason: off, tool };
    const missing = missingScopes(caller.scopes, tool.scopes);
    if (missing.length > 0) return { allowed: false, reason: 'insufficient-scope', missingScopes: missing, tool };
    if (tool.tier === 'HIGH' && !spiffeAllowed(tool.spiffeAllow, caller.spiffeId)) {
      return { allowed: false, reason: 'spiffe-required', tool };
    }
    return { allowed: true, tool };
  }

  /** The tools a caller may call, in declaration order. `tools/list` shows exactly these. */
  visibleTo(server: string, caller: CallerFacts): EffectiveTool[] {
    return this.all(server).filter((t) => this.decide(server, t.name, caller).allowed);
  }

  /** Tools enabled by configuration (steps 1-3), whoever calls. */
  enabled(server: string): EffectiveTool[] {
    return this.all(server).filter((t) => this.#staticExclusion(t) === undefined);
  }
}

function applyPolicy(spec: ToolSpec, policy: Policy): EffectiveTool {
  const sp = serverPolicy(policy, spec.server);
  const tp = sp.tools[spec.name] ?? {};
  if (tp.tier && tierRank(tp.tier) < tierRank(spec.tier)) {
    throw new PolicyError(
      `policy servers.${spec.server}.tools.${spec.name}.tier: ${tp.tier} is below the default ${spec.tier}; ` +
        'a policy can raise a tier, never lower it',
    );
  }
  const approval = approvalOf(spec, tp.approve ?? sp.approve.toolsets[spec.toolset], sp.tools[spec.name]?.approve);
  const spiffeAllow = tp.spiffe ?? sp.spiffe.toolsets[spec.toolset] ?? sp.spiffe.default;
  const { approval: _declared, ...contract } = spec;
  return {
    ...contract,
    declaredTier: spec.tier,
    tier: tp.tier ?? spec.tier,
    confirm: tp.confirm ?? (sp.confirm === 'destructive' && spec.annotations.destructiveHint),
    spiffeAllow,
    options: tp.options ?? {},
    approval,
  };
}

/** Same raise-only rule as tiers: a policy can require approval or more approvers, never less than the default. */
function approvalOf(
  spec: ToolSpec,
  rule: ApproveRule | false | undefined,
  toolEntry: ApproveRule | false | undefined,
): ApprovalRequirement | null {
  const where = `policy servers.${spec.server}.${toolEntry !== undefined ? `tools.${spec.name}` : `approve.toolsets.${spec.toolset}`}.approve`;
  const base = spec.approval ?? null;
  if (rule === undefined) return base;
  if (rule === false) {
    if (base) {
      throw new PolicyError(
        `${where}: ${spec.name} requires approval by default; a policy can require approval, never remove it`,
      );
    }
    return null;
  }
  if (base && rule.count < base.count) {
    throw new PolicyError(
      `${where}.count: ${rule.count} is below the default ${base.count} approvers for ${spec.name}; a policy can raise it, never lower it`,
    );
  }
  return { approvers: rule.approvers, count: rule.count, ttlSeconds: durationSeconds(rule.ttl) };
}
