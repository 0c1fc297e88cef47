/**
 * Protocol 2026-07-28 through SDK v2 (`@modelcontextprotocol/server` 2.4), served by ONE long-lived
 * v2 `Server` per process next to the long-lived 2025-11-25 server.
 *
 * Why not the SDK's `createMcpHandler`: it connects the instance its factory returns to a fresh
 * single-exchange `PerRequestHTTPServerTransport` for every request and refuses an instance that is
 * still connected (`assertNotServing`: "Return a new instance for each request"), because a v2
 * `Server` is bound to one transport at a time. Nothing else in a modern-era instance is per
 * request: the era is instance state (`_negotiatedProtocolVersion`), and the request's client info,
 * capabilities, `requestState` and `inputResponses` travel in the message (`ctx.mcpReq`). So this
 * module binds one instance to the 2026-07-28 era at construction and connects it once to the kit's
 * `MultiplexTransport`, which remaps every request id to a UUID and routes each answer back to its
 * HTTP request (or stdio line), exactly as for the 2025 server.
 */
import type { IncomingMessage } from 'node:http';
import {
  acceptedContent,
  CLIENT_CAPABILITIES_META_KEY,
  classifyInboundRequest,
  inputRequired,
  ProtocolError,
  Server,
  type ServerContext,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Transport,
  UnsupportedProtocolVersionError,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import { toRavenhelmError } from '../errors.js';
import { type CallerInfo, callerOf, cursorFault } from '../mcp-server.js';
import { clip } from '../message.js';
import { CONFIRMATION_ARG, type Pipeline } from '../pipeline/pipeline.js';
import { MODERN_PROTOCOL_VERSION } from './era.js';
import { MultiplexTransport } from './multiplex.js';

export { hasEnvelopeClaim, MODERN_PROTOCOL_VERSION } from './era.js';

export interface ModernServerOptions {
  name: string;
  version: string;
  description: string;
  pipeline: Pipeline<object>;
  /** The principal for transports without per-message identity (stdio). */
  localPrincipal?: CallerInfo['principal'];
}

/** A v2 Server bound to the 2026-07-28 era for its whole life (what the SDK's entries do per request). */
class LongLivedModernServer extends Server {
  constructor(...args: ConstructorParameters<typeof Server>) {
    super(...args);
    this._negotiatedProtocolVersion = MODERN_PROTOCOL_VERSION;
  }
}

const Confirmation = z.object({ confirm: z.boolean() });
const CONFIRM_SCHEMA = {
  type: 'object',
  properties: { confirm: { type: 'boolean', title: 'Carry out this action?' } },
  required: ['confirm'],
} as const;

/**
 * The 2026-07-28 server over the kit's pipeline. A destructive call under a `confirm` policy is
 * confirmed by a multi-round-trip request: the first answer is `input_required` with a form
 * elicitation showing the plan and, as `requestState`, the confirmation store's single-use token
 * (bound to caller, tool and arguments, so a forged, replayed or re-targeted state is refused by the
 * store). The client asks its user and retries with `inputResponses`; on accept the call runs.
 * This works over stateless HTTP and stdio alike. A client without form elicitation gets the
 * plan-and-token result every client understands.
 */
export function createModernServer(o: ModernServerOptions): Server {
  const server = new LongLivedModernServer(
    { name: `ravenhelm-${o.name}`, title: `Ravenhelm ${o.name}`, version: o.version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions: o.description,
      supportedProtocolVersions: [...new Set([MODERN_PROTOCOL_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS])],
      // tools/list depends on the caller's scopes: cacheable, but only by that caller.
      cacheHints: { 'tools/list': { ttlMs: 60_000, cacheScope: 'private' } },
    } as ConstructorParameters<typeof Server>[1],
  );
  const callerFor = (ctx: ServerContext) => callerOf(ctx.http?.authInfo, o.localPrincipal);
  server.setRequestHandler('tools/list', async (req, ctx) => {
    const badCursor = cursorFault(req.params?.cursor);
    if (badCursor) throw new ProtocolError(-32602, badCursor, { code: 'ERR_INVALID_INPUT' });
    return {
      // Tasks are a 2025-11-25 feature here (2026-07-28 moved them to an extension this server does not offer).
      tools: o.pipeline.listTools(callerFor(ctx).principal).map(({ execution: _, ...tool }) => tool) as never,
    };
  });
  server.setRequestHandler('tools/call', async (req, ctx) => {
    const caller = callerFor(ctx);
    const { name } = req.params;
    const args = { ...(req.params.arguments ?? {}) } as Record<string, unknown>;
    const state = ctx.mcpReq.requestState<string>();
    if (state !== undefined) {
      // Second round of a confirmation: the store redeems the state (a tampered or replayed one fails).
      const answer = acceptedContent(ctx.mcpReq.inputResponses, 'confirm', Confirmation);
      if (answer?.confirm !== true) {
        return {
          isError: true,
          content: [{ type: 'text', text: `ERR_CONFIRMATION_INVALID: the user declined: ${name} was not run` }],
        };
      }
      args[CONFIRMATION_ARG] = state;
    }
    try {
      const result = await o.pipeline.call(caller.principal, name, args, {
        requestId: caller.requestId ?? String(ctx.mcpReq.id),
        signal: ctx.mcpReq.signal,
        preflighted: caller.preflighted === true,
      });
      const confirmation = result._meta?.['ravenhelm/confirmation'] as { token: string; plan: string } | undefined;
      const envelope = ctx.mcpReq.envelope as Record<string, { elicitation?: unknown } | undefined> | undefined;
      const canElicit = envelope?.[CLIENT_CAPABILITIES_META_KEY]?.elicitation;
      if (confirmation && state === undefined && canElicit !== undefined) {
        return inputRequired({
          inputRequests: {
            confirm: inputRequired.elicit({
              mode: 'form',
              message: `Confirm: ${confirmation.plan}`,
              requestedSchema: CONFIRM_SCHEMA,
            } as never),
          },
          requestState: confirmation.token,
        }) as never;
      }
      return result as never;
    } catch (err) {
      // Protocol-level failures keep their stable code in error.data, as on the 2025 path.
      const e = toRavenhelmError(err);
      throw new ProtocolError(e.mapping.jsonrpc, e.message, { code: e.code, ...e.details });
    }
  });
  return server;
}

/** A 2026-07-28 request the SDK's validation ladder refuses: its JSON-RPC error and HTTP status. */
export interface EraRefusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

const SUPPORTED_MODERN: readonly string[] = [MODERN_PROTOCOL_VERSION];

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

const headerMissing = (message: string): EraRefusal => ({ status: 400, code: -32020, message });

/**
 * Which era a request belongs to, by the SDK's own classifier (`classifyInboundRequest`, the code
 * `createMcpHandler` routes with), and the refusal for a 2026-07-28 request that fails its ladder:
 * malformed envelope, unsupported revision, or a required standard header (`MCP-Protocol-Version`,
 * `Mcp-Method`, `Mcp-Name` for tools/call) missing. Header/body mismatches are refused earlier by
 * routing-headers.ts, for both eras.
 */
export function classifyEra(req: IncomingMessage, parsed: unknown): { modern: boolean; refusal?: EraRefusal } {
  const protocolVersionHeader = headerOf(req, 'mcp-protocol-version');
  const mcpMethodHeader = headerOf(req, 'mcp-method');
  const mcpNameHeader = headerOf(req, 'mcp-name');
  const era = classifyEnvelope(parsed, {
    ...(protocolVersionHeader !== undefined ? { protocolVersionHeader } : {}),
    ...(mcpMethodHeader !== undefined ? { mcpMethodHeader } : {}),
    ...(mcpNameHeader !== undefined ? { mcpNameHeader } : {}),
  });
  if (!era.modern || era.refusal || !era.request) return era;
  if (protocolVersionHeader === undefined) {
    return {
      modern: true,
      refusal: headerMissing(
        `the body names protocol version ${era.revision}; send the MCP-Protocol-Version header too`,
      ),
    };
  }
  const { method, params } = era.request;
  if (mcpMethodHeader === undefined) {
    return { modern: true, refusal: headerMissing(`send the Mcp-Method header ('${clip(method)}') with this request`) };
  }
  const name = (params as { name?: unknown } | undefined)?.name;
  if (method === 'tools/call' && typeof name === 'string' && mcpNameHeader === undefined) {
    return { modern: true, refusal: headerMissing(`send the Mcp-Name header ('${clip(name)}') with this tools/call`) };
  }
  return { modern: true };
}

/**
 * The era of one message by the SDK's classifier, for HTTP (with its headers) and stdio (body only),
 * and the refusal of a malformed envelope or an unsupported revision.
 */
export function classifyEnvelope(
  parsed: unknown,
  headers: { protocolVersionHeader?: string; mcpMethodHeader?: string; mcpNameHeader?: string } = {},
): {
  modern: boolean;
  refusal?: EraRefusal;
  revision?: string;
  request?: { method: string; params?: unknown };
} {
  const outcome = classifyInboundRequest({ httpMethod: 'POST', ...headers, body: parsed });
  if (outcome.kind === 'legacy') return { modern: false };
  if (outcome.kind === 'reject') {
    return {
      modern: true,
      refusal: {
        status: outcome.httpStatus,
        code: outcome.code,
        message: clip(outcome.message, 300),
        ...(outcome.data !== undefined ? { data: outcome.data } : {}),
      },
    };
  }
  const revision = outcome.classification.revision;
  if (revision === undefined || !SUPPORTED_MODERN.includes(revision)) {
    const e = new UnsupportedProtocolVersionError({
      supported: [...SUPPORTED_MODERN],
      requested: revision ?? 'unknown',
    });
    return { modern: true, refusal: { status: 400, code: e.code, message: e.message, data: e.data } };
  }
  if (outcome.messageKind !== 'request') return { modern: true, revision };
  return { modern: true, revision, request: outcome.message };
}

/** The one long-lived 2026-07-28 server of this process, connected to its multiplexing transport. */
export async function connectModernServer(o: ModernServerOptions, deadlineMs: number): Promise<MultiplexTransport> {
  const transport = new MultiplexTransport({ deadlineMs });
  await createModernServer(o).connect(transport as unknown as Transport);
  return transport;
}
