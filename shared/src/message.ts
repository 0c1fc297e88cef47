import {
  CallToolRequestSchema,
  InitializeRequestSchema,
  ListToolsRequestSchema,
  PingRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { RavenhelmError } from './errors.js';
import { sliceChars } from './unicode.js';

/**
 * The gate every incoming JSON-RPC message passes before anything else sees it (HTTP and stdio).
 * The SDK silently drops messages that do not match its schemas (the request then never gets an
 * answer) and reports schema failures of known methods as -32603 with a raw zod dump; this module
 * decides first, so every request gets exactly one answer: -32600 for a message that is not a
 * JSON-RPC request, -32602 for bad params, with short messages that never echo input whole.
 */

/** Deepest nesting accepted in `params` (the params object itself is level 1). */
export const MAX_MESSAGE_DEPTH = 32;
/** Longest request id echoed back; longer ids are refused, not echoed. */
export const MAX_ID_CHARS = 256;
/** Longest protocol version accepted in `_meta` (they are dates such as 2026-07-28). */
export const MAX_VERSION_CHARS = 32;
/** MCP tool names are 1-128 characters. */
export const MAX_TOOL_NAME_CHARS = 128;
/** How much of any caller-supplied text an error message may quote. */
export const MAX_ECHO_CHARS = 80;

export type RequestId = string | number;

export type Classified =
  | { kind: 'request'; id: RequestId; method: string; params: Record<string, unknown> | undefined }
  | { kind: 'notification'; method: string }
  | { kind: 'response'; id: RequestId }
  /** Not acceptable. `id` is the request id to answer with (null when there is none or it is unusable). */
  | { kind: 'invalid'; id: RequestId | null; error: RavenhelmError; notification: boolean };

/** Quotes caller input in an error message, clipped to a few dozen characters. */
export function clip(text: string, max = MAX_ECHO_CHARS): string {
  return text.length <= max ? text : `${sliceChars(text, max)}... (${text.length} characters)`;
}

/** Nesting depth of a parsed JSON value, iteratively (a recursive walk overflows on hostile input). */
export function exceedsDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function usableId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length <= MAX_ID_CHARS) || (typeof v === 'number' && Number.isSafeInteger(v));
}

const badRequest = (message: string) => new RavenhelmError('ERR_BAD_REQUEST', message);
const badParams = (message: string) => new RavenhelmError('ERR_INVALID_INPUT', message);

/** Params schemas of the methods this server answers (the SDK's own, so both sides agree). */
const PARAMS: Record<string, z.ZodType> = {
  initialize: InitializeRequestSchema,
  ping: PingRequestSchema,
  'tools/list': ListToolsRequestSchema,
  'tools/call': CallToolRequestSchema,
};

const TOP_LEVEL = new Set(['jsonrpc', 'id', 'method', 'params', 'result', 'error']);

/** Classifies one parsed JSON value; never throws. */
export function classifyMessage(m: unknown, opts: { methodSchemas?: boolean } = {}): Classified {
  const invalid = (id: RequestId | null, error: RavenhelmError, notification = false): Classified => ({
    kind: 'invalid',
    id,
    error,
    notification,
  });
  if (Array.isArray(m)) {
    return invalid(
      null,
      badRequest('JSON-RPC batches are not supported (MCP 2025-06-18 and later); send one message per request'),
    );
  }
  if (!isPlainObject(m)) return invalid(null, badRequest('a JSON-RPC message must be a JSON object'));
  const hasId = 'id' in m;
  const id = hasId && usableId(m.id) ? m.id : null;
  // Only a message with a method and no id is a notification (never answered, even when invalid).
  const notification = 'method' in m && !hasId;
  if (hasId && id === null) {
    return invalid(
      null,
      badRequest(
        `the request id must be a string of at most ${MAX_ID_CHARS} characters or an integer, not ${describe(m.id)}`,
      ),
    );
  }
  if (m.jsonrpc !== '2.0') return invalid(id, badRequest('"jsonrpc" must be "2.0"'), notification);
  const extra = Object.keys(m).filter((k) => !TOP_LEVEL.has(k));
  if (extra.length > 0) {
    return invalid(
      id,
      badRequest(`unexpected member(s) ${clip(extra.join(', '))} in a JSON-RPC message`),
      notification,
    );
  }
  if (!('method' in m)) {
    const isResult = 'result' in m;
    const isError = 'error' in m;
    if (!hasId || isResult === isError || 'params' in m) {
      return invalid(
        null,
        badRequest('not a JSON-RPC message: a request needs "method", a response "id" and one of "result"/"error"'),
      );
    }
    if (isResult ? !isPlainObject(m.result) : !isPlainObject(m.error)) {
      return invalid(null, badRequest(`a JSON-RPC response's "${isResult ? 'result' : 'error'}" must be an object`));
    }
    return { kind: 'response', id: id as RequestId };
  }
  if (typeof m.method !== 'string' || m.method.length === 0) {
    return invalid(id, badRequest('"method" must be a non-empty string'), notification);
  }
  if ('result' in m || 'error' in m) {
    return invalid(id, badRequest('a message cannot carry both "method" and "result"/"error"'), notification);
  }
  const method = m.method;
  if ('params' in m && !isPlainObject(m.params)) {
    return invalid(id, badParams(`"params" must be an object, not ${describe(m.params)}`), notification);
  }
  const params = m.params as Record<string, unknown> | undefined;
  if (params && '_meta' in params) {
    const fault = metaFault(params._meta);
    if (fault) return invalid(id, badParams(fault), notification);
  }
  if (exceedsDepth(params, MAX_MESSAGE_DEPTH)) {
    return invalid(
      id,
      badParams(`params nest deeper than ${MAX_MESSAGE_DEPTH} levels; send flatter arguments`),
      notification,
    );
  }
  if (notification) return { kind: 'notification', method };
  if (method === 'tools/call' && params) {
    const fault = callFault(params);
    if (fault) return invalid(id, badParams(fault));
  }
  const schema = opts.methodSchemas === false ? undefined : Object.hasOwn(PARAMS, method) ? PARAMS[method] : undefined;
  // A tools/call whose params are only a name and arguments that passed callFault always satisfies
  // the SDK's schema (a string name, a record of unknown values): the common call skips the parse.
  if (schema && !(method === 'tools/call' && params && onlyNameAndArguments(params))) {
    const parsed = schema.safeParse({ method, ...(params ? { params } : {}) });
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${clip(i.path.join('.') || '(message)', 60)}: ${clip(i.message)}`)
        .join('; ');
      return invalid(id, badParams(`invalid params for ${method}: ${issues}`));
    }
  }
  return { kind: 'request', id: id as RequestId, method, params };
}

function onlyNameAndArguments(params: Record<string, unknown>): boolean {
  for (const key in params) if (key !== 'name' && key !== 'arguments') return false;
  return true;
}

function metaFault(meta: unknown): string | undefined {
  if (!isPlainObject(meta)) return `"params._meta" must be an object, not ${describe(meta)}`;
  const token = meta.progressToken;
  if (token !== undefined && typeof token !== 'string' && !(typeof token === 'number' && Number.isSafeInteger(token))) {
    return '"params._meta.progressToken" must be a string or an integer';
  }
  // A protocol version is a date; SDK v2 echoes an unsupported one whole in its error data.
  const version = meta['io.modelcontextprotocol/protocolVersion'];
  if (version !== undefined && (typeof version !== 'string' || version.length > MAX_VERSION_CHARS)) {
    return `"params._meta.io.modelcontextprotocol/protocolVersion" must be a protocol version string (at most ${MAX_VERSION_CHARS} characters)`;
  }
  const related = meta['io.modelcontextprotocol/related-task'];
  if (related !== undefined && !(isPlainObject(related) && typeof related.taskId === 'string')) {
    return '"params._meta.io.modelcontextprotocol/related-task" must be an object with a string "taskId"';
  }
  return undefined;
}

/** The checks that must hold before a tools/call is authorized, rate limited or audited. */
function callFault(params: Record<string, unknown>): string | undefined {
  const { name, arguments: args } = params;
  if (typeof name !== 'string' || name.length === 0) {
    return 'tools/call needs "params.name": the name of a tool from tools/list';
  }
  if (name.length > MAX_TOOL_NAME_CHARS) {
    return `tool names are at most ${MAX_TOOL_NAME_CHARS} characters; this one has ${name.length}: call tools/list for the names`;
  }
  if (args !== undefined && !isPlainObject(args)) {
    return `"params.arguments" must be an object of argument names to values, not ${describe(args)}`;
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `a string ("${clip(v, 40)}")`;
  if (typeof v === 'number') return `the number ${clip(String(v), 40)}`;
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** The JSON-RPC error body for a refused message. */
export function errorResponse(id: RequestId | null, e: RavenhelmError): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    error: { code: e.mapping.jsonrpc, message: e.message, data: { code: e.code, ...e.details } },
  });
}

/** The tool a refused tools/call named, when it is a plausible name (for the audit record). */
export function toolNameOf(parsed: unknown): string | undefined {
  if (!isPlainObject(parsed) || parsed.method !== 'tools/call' || !isPlainObject(parsed.params)) return undefined;
  const name = parsed.params.name;
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_TOOL_NAME_CHARS ? name : undefined;
}
