// The description rules (issue 9) for servers' own declaration tests, which depend on the kit only.
export { argumentDescriptionProblems, toolDescriptionProblems } from '@ravenhelm/registry';
export { oauthAuthenticatorFactory, type PeerWiring, peerWiring, watchTrustBundle } from './auth-wiring.js';
export {
  type AwsCallOptions,
  type AwsErrorTable,
  awsClientConfig,
  awsServiceMessage,
  awsToolError,
  callAws,
  capAwsResponses,
} from './aws-call.js';
export {
  type BackendAuth,
  BackendHttp,
  type BackendHttpOptions,
  type BackendRequestInit,
  type BackendResponse,
  DEFAULT_MAX_CONCURRENT_CALLS,
  DEFAULT_MAX_RESPONSE_BYTES,
  isBrokenConnection,
  safeUrl,
} from './backend-http.js';
export {
  BACKEND_OUTCOMES,
  BackendCall,
  type BackendOutcome,
  type BackendRecorder,
  type BackendSeries,
  backendLabel,
  outcomeOfError,
  outcomeOfStatus,
  secondsSince,
} from './backend-metrics.js';
export {
  type ClippedText,
  charStartAtOrBefore,
  charStartFrom,
  clipHead,
  clipHeadJson,
  clipTail,
  clipTailJson,
  DEFAULT_MAX_OUTPUT_BYTES,
  dataBudgetOf,
  decodeCursor,
  encodeCursor,
  jsonBytes,
  ListPage,
  type Page,
  pageList,
} from './budget.js';
export { currentCaller, runAsCaller } from './caller-context.js';
export {
  commaSeparated,
  type FullConfig,
  KIT_ENV,
  type KitConfig,
  KitConfigSchema,
  loadConfig,
  RedisTlsConfigSchema,
  redactConfig,
} from './config.js';
export { abortAfter } from './deadline.js';
export {
  boundedMessage,
  ERROR_TABLE,
  type ErrorCode,
  errorMapping,
  MAX_ERROR_MESSAGE_BYTES,
  RavenhelmError,
  ToolError,
  toRavenhelmError,
  withoutUrlPasswords,
  withoutValuePieces,
  withoutValues,
} from './errors.js';
export { ENVELOPE_VERSION_KEY, MODERN_PROTOCOL_VERSION } from './http/era.js';
export { createHttpHandler, type PeerIdentity } from './http/handler.js';
export { MultiplexTransport } from './http/multiplex.js';
export { describeZodError, invokeTool, parseToolInput, raceAbort } from './invoke.js';
export { loadOnce } from './lazy.js';
export { createLogger, type Logger, silentLogger } from './logging.js';
export { runMain } from './main.js';
export { authInfoFor, createMcpServer } from './mcp-server.js';
export { Metrics } from './metrics.js';
export { type OwnRecordOptions, ownRecord, ownValue, putOwn } from './own-record.js';
export {
  changedNote,
  cursorState,
  type KeyPage,
  MAX_CURSOR_STATE,
  newestFirstKey,
  type PageByKeyOptions,
  pageByKey,
  tupleKey,
} from './page-by-key.js';
export { APPROVAL_ARG, APPROVAL_STATUS_TOOL, pendingResult } from './pipeline/approval-flow.js';
export { approvalWebhookMessage, createWebhookNotifier, type WebhookNotifier } from './pipeline/approval-webhook.js';
export {
  APPROVAL_ID,
  type ApprovalBinding,
  type ApprovalRequest,
  ApprovalRequestSchema,
  type ApprovalState,
  type ApprovalStore,
  applyConsume,
  applyDecision,
  createApprovalStore,
  type DecisionInput,
  type NewApproval,
} from './pipeline/approvals.js';
export {
  type AuditEvent,
  type AuditFile,
  type AuditHealth,
  type AuditOutcome,
  type AuditRecord,
  type AuditSink,
  canonicalJson,
  createFileAuditSink,
  createMemoryAuditSink,
  digestArgs,
  type FileAuditSinkOptions,
  openAuditFile,
  type RotationReport,
  redactArgs,
  repairAuditLog,
  type TornTail,
  verifyAuditChain,
} from './pipeline/audit.js';
export { type AuditLock, acquireAuditLock, type LockHolder, readAuditLock } from './pipeline/audit-lock.js';
export type { CapacityWarning } from './pipeline/audit-rotate.js';
export { type FileVerdict, type SetVerdict, verifyAuditSet } from './pipeline/audit-verify.js';
export { type ConfirmationBinding, type ConfirmationStore, createConfirmationStore } from './pipeline/confirm.js';
export { CONFIRMATION_ARG, errorResult, type ListedTool, Pipeline, type ToolResult } from './pipeline/pipeline.js';
export { createRateLimiter, type RateLimiter, type RateLimiterOptions } from './pipeline/rate-limit.js';
export { connectRedis, describeRedisClient, type RedisLike, type RedisTlsFiles, undoLater } from './pipeline/redis.js';
export {
  createTaskStore,
  type TaskLimits,
  type TaskOutcome,
  type TaskStatus,
  type TaskStore,
  type TaskView,
} from './pipeline/tasks.js';
export {
  createToolsetStore,
  DynamicToolsets,
  dynamicToolsetsOf,
  principalKeyOf,
  TOOLSETS_ENABLE_TOOL,
  TOOLSETS_LIST_TOOL,
  type ToolsetStore,
} from './pipeline/toolsets.js';
export {
  createRuntime,
  defaultScopes,
  type HttpServerHandle,
  localAuthenticator,
  localPrincipalOf,
  type RuntimeOverrides,
  type StartHttpOptions,
  type SuiteRuntime,
  startHttp,
} from './runtime.js';
export { Semaphore } from './semaphore.js';
export { defineServer, type ServerDefinition, specsOf } from './server-definition.js';
export { startStdio } from './stdio.js';
export { TASKS_CAPABILITY, TaskRunner, type TaskRunnerOptions } from './tasks.js';
export { countTerminalControls, stripTerminalControls } from './terminal-text.js';
export {
  type AnyTool,
  type BaseContext,
  type BoundPlan,
  createToolDefiner,
  jsonSchemaOf,
  type PlannedContext,
  sensitiveKeysOf,
  type ToolContext,
  type ToolDeclaration,
  toSpec,
} from './tool.js';
export { clipChars, sliceChars, wellFormed } from './unicode.js';
export { compileUserPattern, MAX_PATTERN_SIZE, repeatedSize, type UserPattern } from './user-regex.js';
export { visible } from './visible.js';
