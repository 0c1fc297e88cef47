import type { CallerInfo, ToolCallHandler } from '../mcp-server.js';

/**
 * The tools/call fast path over HTTP: a 2025-era tools/call that needs nothing but a result runs the
 * same tools/call handler the SDK server runs (`createToolCallHandler`), in-process through
 * `MultiplexTransport.run`, without the SDK's Protocol (its zod parses of the message, request and
 * result, its per-request closures) and without the id remapping. Everything else keeps the SDK path.
 */

const RELATED_TASK_META_KEY = 'io.modelcontextprotocol/related-task';

/**
 * Whether an authorized 2025-era tools/call may take the fast path: not task-augmented (MCP Tasks), no
 * progress token (progress needs the server's notifications), not related to a task.
 */
export function fastPathEligible(params: Record<string, unknown>): boolean {
  if (params.task !== undefined) return false;
  const meta = params._meta as Record<string, unknown> | undefined;
  return meta === undefined || (meta.progressToken === undefined && meta[RELATED_TASK_META_KEY] === undefined);
}

/** Runs the shared handler the way the SDK server does: params as the SDK hands them, result in its key order. */
export async function callToolFast(
  callTool: ToolCallHandler,
  params: Record<string, unknown>,
  caller: CallerInfo,
  controller: AbortController,
): Promise<object> {
  let args = params.arguments as Record<string, unknown> | undefined;
  if (args !== undefined && Object.hasOwn(args, '__proto__')) args = withoutProtoKey(args);
  const result = await callTool({ name: params.name as string, arguments: args }, caller, {
    signal: controller.signal,
    controller,
    requestId: caller.requestId as string,
  });
  return inSdkOrder(result as Record<string, unknown>);
}

/**
 * The SDK's zod parse of `arguments` (a record) copies each key by assignment, so an own `__proto__` key
 * from JSON.parse does not survive as an argument: it is dropped here too, so both paths see the same
 * arguments (the tool never receives it either way).
 */
function withoutProtoKey(args: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(args)) if (key !== '__proto__') copy[key] = args[key];
  return copy;
}

/**
 * The SDK validates a tools/call result with its CallToolResultSchema, whose output lists the schema's
 * keys first (`_meta`, `content`, `structuredContent`, `isError`), then any others: the same order here,
 * so both paths answer byte for byte alike (our results are built valid; only the order can differ).
 */
export function inSdkOrder(result: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(result);
  if (keys.length === 2 && keys[0] === 'content' && keys[1] === 'structuredContent') return result;
  const { _meta, content, structuredContent, isError, ...rest } = result;
  return {
    ...(_meta !== undefined ? { _meta } : {}),
    content: content ?? [],
    ...(structuredContent !== undefined ? { structuredContent } : {}),
    ...(isError !== undefined ? { isError } : {}),
    ...rest,
  };
}
