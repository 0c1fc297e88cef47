import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '@ravenhelm/auth';
import { toRavenhelmError } from './errors.js';
import type { Pipeline } from './pipeline/pipeline.js';
import { TASKS_CAPABILITY, type TaskRunner } from './tasks.js';

/** What the transports attach to each message: the caller, and whether HTTP already ran preflight. */
export interface CallerInfo {
  principal: Principal;
  preflighted?: boolean;
  /** Correlates logs and audit with the HTTP request. */
  requestId?: string;
  /** The request's W3C traceparent header: the tool call's span joins the caller's trace. */
  traceparent?: string;
}

export function authInfoFor(caller: CallerInfo): AuthInfo {
  return {
    token: '', // the caller's token never travels past authentication
    clientId: caller.principal.clientId ?? caller.principal.subject,
    scopes: caller.principal.scopes,
    ...(caller.principal.expiresAt ? { expiresAt: caller.principal.expiresAt } : {}),
    extra: { caller },
  };
}

export function callerOf(authInfo: AuthInfo | undefined, fallback: Principal | undefined): CallerInfo {
  const caller = authInfo?.extra?.caller as CallerInfo | undefined;
  if (caller) return caller;
  if (fallback) return { principal: fallback };
  throw new Error('no caller attached to the request');
}

export interface McpServerOptions {
  name: string;
  version: string;
  description: string;
  pipeline: Pipeline<object>;
  /** The principal for transports without per-message identity (stdio). */
  localPrincipal?: Principal;
  /** stdio sessions may confirm destructive calls by MCP elicitation. */
  elicitation?: boolean;
  /** Task-augmented tools/call and the tasks/* methods (MCP 2025-11-25 Tasks); absent: not offered. */
  tasks?: TaskRunner;
}

/** One long-lived MCP server per process; every transport feeds it. */
export function createMcpServer(opts: McpServerOptions): Server {
  const server = new Server(
    { name: `ravenhelm-${opts.name}`, title: `Ravenhelm ${opts.name}`, version: opts.version },
    {
      // Only a session (stdio) can be told; stateless HTTP clients list again after toolsets_enable.
      capabilities: {
        tools: { listChanged: opts.pipeline.dynamicToolsets && opts.localPrincipal !== undefined },
        ...(opts.tasks ? { tasks: TASKS_CAPABILITY } : {}),
      },
      instructions: opts.description,
    },
  );
  // A method without a handler (resources/list, prompts/get...): the SDK's bare "Method not found" carries
  // no stable code; ours says what the server does serve, with data.code as every other refusal.
  // The name is echoed as printable ASCII only: JSON leaves U+2028/U+2029 raw, and a client that splits
  // stdio lines on them (Node 24's readline does) would read half an answer.
  server.fallbackRequestHandler = async (request) => {
    const method = String(request.method)
      .slice(0, 60)
      .replace(/["\\]/g, '\\$&')
      .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    throw new McpError(
      ErrorCode.MethodNotFound,
      `no method "${method}" on this server: it serves tools (tools/list, tools/call)`,
      { code: 'ERR_METHOD_NOT_FOUND' },
    );
  };
  server.setRequestHandler(ListToolsRequestSchema, async (req, extra) => {
    const badCursor = cursorFault(req.params?.cursor);
    if (badCursor) throw new McpError(ErrorCode.InvalidParams, badCursor, { code: 'ERR_INVALID_INPUT' });
    const { principal } = callerOf(extra.authInfo, opts.localPrincipal);
    return { tools: await opts.pipeline.listToolsFor(principal) };
  });
  opts.tasks?.register(server, opts.localPrincipal);
  if (opts.pipeline.dynamicToolsets && opts.localPrincipal) {
    const off = opts.pipeline.onToolListChanged(() => void server.sendToolListChanged().catch(() => undefined));
    server.onclose = off;
  }
  const callTool = createToolCallHandler(opts);
  server.setRequestHandler(CallToolRequestSchema, (req, extra) => {
    const caller = callerOf(extra.authInfo, opts.localPrincipal);
    const supportsElicitation = opts.elicitation && server.getClientCapabilities()?.elicitation !== undefined;
    return callTool(req.params, caller, {
      signal: extra.signal,
      requestId: String(extra.requestId),
      ...(supportsElicitation ? { elicitConfirmation: (plan: string) => confirmByElicitation(server, plan) } : {}),
    });
  });
  return server;
}

/**
 * tools/list answers every tool in one page and never returns `nextCursor`, so any cursor a client sends
 * was not issued here: MCP pagination says an invalid cursor SHOULD be -32602 Invalid params (a list
 * answered anyway would let the client believe it read page two). Both eras' tools/list handlers ask this.
 */
export function cursorFault(cursor: unknown): string | undefined {
  if (cursor === undefined) return undefined;
  return 'invalid cursor: this server lists every tool in one page and never issues a cursor; send tools/list without a cursor';
}

/** What a transport hands the tools/call handler besides the message: the call's signal and ids. */
export interface ToolCallExtra {
  /** Aborted when the transport cancels this call (client gone, deadline passed, shutdown). */
  signal: AbortSignal;
  /** The controller behind `signal`, when the transport made it for this call alone (the HTTP fast path). */
  controller?: AbortController | undefined;
  /** Fallback request id for logs and audit when the caller carries none (stdio). */
  requestId: string;
  elicitConfirmation?: (plan: string) => Promise<boolean>;
}

export type ToolCallParams = { name: string; arguments?: Record<string, unknown> | undefined; task?: unknown };
export type ToolCallHandler = (params: ToolCallParams, caller: CallerInfo, extra: ToolCallExtra) => Promise<object>;

/**
 * The tools/call handler: the SDK server runs it for every transport, and the HTTP fast path
 * (`http/fast-call.ts`) runs the very same function without the SDK's Protocol. It throws McpError,
 * with our stable code in `data.code` for protocol-level failures.
 */
export function createToolCallHandler(opts: Pick<McpServerOptions, 'pipeline' | 'tasks'>): ToolCallHandler {
  return async (params, caller, extra) => {
    try {
      if (opts.tasks) {
        const support = opts.pipeline.taskSupport(params.name);
        if (params.task !== undefined) {
          // The same pipeline runs in the background; the confirmation of a task-run call is plan-and-token.
          return await opts.tasks.start(
            caller.principal,
            params.name,
            params.arguments,
            params.task,
            caller.preflighted === true,
            caller.traceparent,
          );
        }
        if (support === 'required') {
          throw new McpError(
            ErrorCode.MethodNotFound,
            `${params.name} runs only as a task: send params.task (MCP 2025-11-25 Tasks)`,
          );
        }
      }
      return await opts.pipeline.call(caller.principal, params.name, params.arguments, {
        requestId: caller.requestId ?? extra.requestId,
        signal: extra.signal,
        controller: extra.controller,
        preflighted: caller.preflighted === true,
        traceparent: caller.traceparent,
        ...(extra.elicitConfirmation ? { elicitConfirmation: extra.elicitConfirmation } : {}),
      });
    } catch (err) {
      if (err instanceof McpError) throw err;
      // Protocol-level failures keep their stable code in error.data, so the HTTP layer can map the status.
      const e = toRavenhelmError(err);
      throw new McpError(e.mapping.jsonrpc, e.message, { code: e.code, ...e.details });
    }
  };
}

async function confirmByElicitation(server: Server, plan: string): Promise<boolean> {
  const answer = await server.elicitInput({
    mode: 'form',
    message: `Confirm: ${plan}`,
    requestedSchema: {
      type: 'object',
      properties: { confirm: { type: 'boolean', title: 'Carry out this action?' } },
      required: ['confirm'],
    },
  });
  return answer.action === 'accept' && answer.content?.confirm === true;
}
