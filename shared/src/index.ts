export { BackendHttp, type BackendAuth, type BackendHttpOptions, type BackendResponse, safeUrl } from './backend-http.js';
export { clipHead, clipTail, type ClippedText, DEFAULT_MAX_OUTPUT_BYTES, decodeCursor, encodeCursor, jsonBytes, ListPage, type Page, pageList } from './budget.js';
export { ERROR_TABLE, type ErrorCode, errorMapping, RavenhelmError, ToolError, toRavenhelmError } from './errors.js';
export { describeZodError, invokeTool, parseToolInput } from './invoke.js';
export { createLogger, type Logger, silentLogger } from './logging.js';
export { defineServer, type ServerDefinition, specsOf } from './server-definition.js';
export { type AnyTool, type BaseContext, createToolDefiner, jsonSchemaOf, type ToolContext, type ToolDeclaration, toSpec } from './tool.js';
