import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '@ravenhelm/auth';
import { toRavenhelmError } from './errors.js';
import type { Pipeline } from './pipeline/pipeline.js';

/** What the transports attach to each message: the caller, and whether HTTP already ran preflight. */
export interface CallerInfo {
  principal: Principal;
  preflighted?: boolean;
  /** Correlates logs and audit with the HTTP request. */
  requestId?: string;
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
}

/** One long-lived MCP server per process; every transport feeds it. */
export function createMcpServer(opts: McpServerOptions): Server {
  const server = new Server(
    { name: `ravenhelm-${opts.name}`, title: `Ravenhelm ${opts.name}`, version: opts.version },
    {
      // Only a session (stdio) can be told; stateless HTTP clients list again after toolsets_enable.
      capabilities: { tools: { listChanged: opts.pipeline.dynamicToolsets && opts.localPrincipal !== undefined } },
      instructions: opts.description,
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => {
    const { principal } = callerOf(extra.authInfo, opts.localPrincipal);
    return { tools: await opts.pipeline.listToolsFor(principal) };
  });
  if (opts.pipeline.dynamicToolsets && opts.localPrincipal) {
    const off = opts.pipeline.onToolListChanged(() => void server.sendToolListChanged().catch(() => undefined));
    server.onclose = off;
  }
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const caller = callerOf(extra.authInfo, opts.localPrincipal);
    const supportsElicitation = opts.elicitation && server.getClientCapabilities()?.elicitation !== undefined;
    try {
      return await opts.pipeline.call(caller.principal, req.params.name, req.params.arguments, {
        requestId: caller.requestId ?? String(extra.requestId),
        signal: extra.signal,
        preflighted: caller.preflighted === true,
        ...(supportsElicitation ? { elicitConfirmation: (plan: string) => confirmByElicitation(server, plan) } : {}),
      });
    } catch (err) {
      // Protocol-level failures keep their stable code in error.data, so the HTTP layer can map the status.
      const e = toRavenhelmError(err);
      throw new McpError(e.mapping.jsonrpc, e.message, { code: e.code, ...e.details });
    }
  });
  return server;
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
