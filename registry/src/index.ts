export { advertisedAnnotations, listedMeta, readAnnotations } from './annotations.js';
export {
  argumentDescriptionProblems,
  MAX_ARGUMENT_DESCRIPTION,
  MAX_TOOL_DESCRIPTION,
  toolDescriptionProblems,
} from './descriptions.js';
export {
  allSpecs,
  type DiscoveredServer,
  type Discovery,
  type DiscoveryProblem,
  discoverServers,
  entryOf,
  findWorkspaceRoot,
  type ServerPackage,
} from './discover.js';
export {
  DOCS_COMMAND,
  type ParameterRow,
  parameterRows,
  renderToolsMarkdown,
  renderToolTable,
  schemaType,
} from './docs.js';
export {
  APPROVER_SCOPE,
  type ApproveRule,
  durationSeconds,
  EMPTY_POLICY,
  type Policy,
  PolicyError,
  PolicySchema,
  parsePolicy,
  type ServerPolicy,
  serverPolicy,
  type ToolPolicy,
} from './policy.js';
export { type Decision, Registry, validateSpec } from './registry.js';
export { isValidScope, missingScopes, scopeSatisfied } from './scopes.js';
export { spiffeAllowed, spiffeMatches } from './spiffe-pattern.js';
export {
  type ApprovalRequirement,
  type CallerFacts,
  type EffectiveTool,
  type Exclusion,
  TIERS,
  type Tier,
  type ToolAnnotations,
  type ToolSpec,
  tierRank,
} from './types.js';
