import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONRPCMessage, JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { Authenticator, AuthRequest, Principal } from '@ravenhelm/auth';
import { ERROR_TABLE, type ErrorCode, RavenhelmError, toRavenhelmError } from '../errors.js';
import type { Logger } from '../logging.js';
import { authInfoFor, type CallerInfo, type ToolCallHandler } from '../mcp-server.js';
import { classifyMessage, clip, MAX_VERSION_CHARS, toolNameOf } from '../message.js';
import type { Metrics } from '../metrics.js';
import { DecisionBody } from '../pipeline/approval-desk.js';
import { errorResult, type Pipeline } from '../pipeline/pipeline.js';
import { stringifyWellFormed } from '../unicode.js';
import { checkJsonBody, contentCoding, readBody } from './body.js';
import { CONSOLE_CSS, CONSOLE_HTML, CONSOLE_ICON, CONSOLE_JS } from './console-assets.js';
import { hasEnvelopeClaim, MODERN_PROTOCOL_VERSION, type ModernLink } from './era.js';
import { callToolFast, fastPathEligible } from './fast-call.js';
import type { CancelCall, MultiplexTransport } from './multiplex.js';
import { OwnCalls } from './own-calls.js';
import { checkRoutingHeaders, headerToolName, headerValues, readRoutingHeaders } from './routing-headers.js';

/** What a browser page on an allowed origin may send: the MCP headers of both protocol versions. */
const CORS_REQUEST_HEADERS =
  'authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id, mcp-method, mcp-name';
/** What it may read besides the simple headers: the protocol version, the sign-in challenge, when to retry. */
const CORS_EXPOSED_HEADERS = 'mcp-session-id, mcp-protocol-version, www-authenticate, retry-after';
const HEADER_NAME_LIST = /^[A-Za-z0-9-]+(?:\s*,\s*[A-Za-z0-9-]+)*$/;

export interface PeerIdentity {
  spiffeId?: string | undefined;
  certificate?: Buffer | undefined;
}

export interface HttpHandlerOptions {
  server: string;
  path: string;
  /** Absolute URL of the MCP endpoint as clients see it: the OAuth protected resource. */
  resourceUrl: string;
  authorizationServers: string[];
  scopesSupported: string[];
  allowedHosts: ReadonlySet<string>;
  allowedOrigins: ReadonlySet<string>;
  maxBodyBytes: number;
  authenticator: Authenticator;
  pipeline: Pipeline<object>;
  /** Feeds the long-lived 2025-11-25 (SDK v1) server. */
  transport: MultiplexTransport;
  /**
   * The tools/call handler the SDK v1 server runs (`createToolCallHandler`). Given: an authorized
   * 2025-era tools/call that needs no task, progress or elicitation runs it directly (the fast path, see
   * `fast-call.ts`); absent: every request goes through the SDK server.
   */
  callTool?: ToolCallHandler | undefined;
  /** The long-lived 2026-07-28 (SDK v2) server, loaded on first use; absent: only 2025-era clients are served. */
  modern?: ModernLink | undefined;
  metrics: Metrics;
  logger: Logger;
  /** Verified peer identity from mTLS or a trusted proxy's forwarded certificate. */
  peer?: (req: IncomingMessage) => Promise<PeerIdentity>;
  ready: () => Promise<{ ready: boolean; reason?: string }>;
  isDraining: () => boolean;
  /** The approvals web console's OIDC client (authorization code + PKCE); absent: the console says it is not configured. */
  console?: { clientId: string; issuer: string; scope: string } | undefined;
}

/** Where protected resource metadata (RFC 9728) lives, before the resource's own path. */
const PRM_PATH = '/.well-known/oauth-protected-resource';
/** The paths answered to GET and HEAD besides the protected resource metadata. */
const READ_ONLY_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

const SUPPORTED_LEGACY = new Set(SUPPORTED_PROTOCOL_VERSIONS);
const SUPPORTED_ALL = new Set([MODERN_PROTOCOL_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS]);

/** The HTTP front of one server: transport checks, authentication, per-message authorization, dispatch. */
export function createHttpHandler(o: HttpHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { prmUrl, prmPaths } = metadataLocations(o.resourceUrl, o.path);
  const readScope = o.scopesSupported[0] ?? '';
  /** What a caller's notifications/cancelled may stop: its own running calls only. */
  const ownCalls = new OwnCalls();

  const prm = JSON.stringify({
    resource: o.resourceUrl,
    authorization_servers: o.authorizationServers,
    scopes_supported: o.scopesSupported,
    bearer_methods_supported: ['header'],
    resource_name: `Ravenhelm ${o.server} MCP server`,
  });

  function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    o.metrics.httpRequests.inc({ server: o.server, status: String(status) });
    if (o.isDraining()) headers.connection = 'close';
    // Content-Length, not chunked: the head and the body leave in one write.
    res.writeHead(status, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(body);
  }

  function challenge(e: RavenhelmError): string {
    const parts = [`resource_metadata="${prmUrl}"`];
    if (e.code === 'ERR_INSUFFICIENT_SCOPE') {
      parts.unshift('error="insufficient_scope"');
      parts.push(`scope="${((e.details.requiredScopes as string[]) ?? []).join(' ')}"`);
    } else {
      // RFC 6750 3.1: a malformed request (token in the query, two headers) is invalid_request, 400.
      if (e.code === 'ERR_TOKEN_MALFORMED_REQUEST') parts.unshift('error="invalid_request"');
      else if (e.code !== 'ERR_TOKEN_MISSING') parts.unshift('error="invalid_token"');
      parts.push(`scope="${readScope}"`);
    }
    // RFC 6750 3.1: a request without any credentials gets no error information, only how to get some
    // (the JSON-RPC body still says what happened).
    if (e.code !== 'ERR_TOKEN_MISSING') parts.push(`error_description="${e.message.replace(/["\\]/g, "'")}"`);
    return `Bearer ${parts.join(', ')}`;
  }

  /**
   * `counted`: the pipeline already recorded this refusal in the metrics. A refused client certificate closes the
   * connection (ERR_PEER_CERT_INVALID): the identity is the connection's, so a kept-alive one would carry the same
   * refused identity into every later request (each verified and refused again) instead of a fresh handshake.
   */
  function sendError(res: ServerResponse, err: unknown, id: JSONRPCRequest['id'] | null = null, counted = false): void {
    const e = toRavenhelmError(err);
    if (e.code === 'ERR_INTERNAL') o.logger.error({ err }, 'request failed');
    const status = e.mapping.http;
    const headers: Record<string, string> = {};
    if (status === 401 || e.code === 'ERR_INSUFFICIENT_SCOPE' || e.code === 'ERR_TOKEN_MALFORMED_REQUEST') {
      headers['www-authenticate'] = challenge(e);
    }
    if (e.code === 'ERR_PEER_CERT_INVALID') headers.connection = 'close';
    if (e.code === 'ERR_RATE_LIMITED') headers['retry-after'] = String(e.details.retryAfterSeconds ?? 1);
    // RFC 9110 10.2.3: a 503 that will pass says when; one that will not (a misconfigured issuer) says nothing.
    else if (status === 503 && typeof e.details.retryAfterSeconds === 'number') {
      headers['retry-after'] = String(e.details.retryAfterSeconds);
    }
    if (status === 405) headers.allow = typeof e.details.allow === 'string' ? e.details.allow : 'POST';
    if (typeof e.details.acceptEncoding === 'string') headers['accept-encoding'] = e.details.acceptEncoding;
    if (!counted) o.metrics.reject(e.code);
    send(
      res,
      status,
      stringifyWellFormed({
        jsonrpc: '2.0',
        id,
        error: { code: e.mapping.jsonrpc, message: e.message, data: { code: e.code, ...e.details } },
      }),
      headers,
    );
  }

  function checkTransport(req: IncomingMessage): void {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!o.allowedHosts.has(host)) {
      throw new RavenhelmError(
        'ERR_HOST_FORBIDDEN',
        `Host '${clip(host)}' is not served here; add it to http.allowedHosts`,
      );
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !o.allowedOrigins.has(origin.toLowerCase())) {
      throw new RavenhelmError(
        'ERR_ORIGIN_FORBIDDEN',
        `Origin '${clip(origin)}' is not allowed; add it to http.allowedOrigins`,
      );
    }
  }

  /**
   * CORS for the origins the operator allowed (http.allowedOrigins; checkTransport has refused any other):
   * a page there may call the endpoint and read the answers, the 401 challenge that starts its sign-in
   * included. A preflight is answered here (true); it names the request headers it wants, which are
   * granted as asked when they are a plain list of header names.
   */
  function cors(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('vary', 'origin');
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
    if (!preflight) {
      res.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS);
      return false;
    }
    const asked = req.headers['access-control-request-headers'] ?? '';
    const allowHeaders = asked.length <= 1024 && HEADER_NAME_LIST.test(asked) ? asked : CORS_REQUEST_HEADERS;
    res.writeHead(204, {
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': allowHeaders,
      'access-control-max-age': '600',
    });
    res.end();
    o.metrics.httpRequests.inc({ server: o.server, status: '204' });
    return true;
  }

  async function authenticate(req: IncomingMessage, url: URL): Promise<Principal> {
    const peer = o.peer ? await o.peer(req) : {};
    const authReq: AuthRequest = {
      headers: req.headers as AuthRequest['headers'],
      query: url.searchParams,
      remoteAddress: req.socket.remoteAddress,
      peerSpiffeId: peer.spiffeId,
      peerCertificate: peer.certificate,
    };
    // Node joins repeated headers; the authenticator must see a repeated Authorization as such (not
    // req.headersDistinct: that builds a second copy of every header on each request).
    const all = headerValues(req, 'authorization');
    if (all && all.length > 1) authReq.headers = { ...authReq.headers, authorization: all };
    return o.authenticator.authenticate(authReq);
  }

  async function handleMcp(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') {
      throw new RavenhelmError(
        'ERR_METHOD_NOT_ALLOWED',
        `${req.method} is not supported: this server is stateless, POST JSON-RPC messages to ${o.path}`,
      );
    }
    const coding = checkJsonBody(req);
    if (!acceptsJson(req.headers.accept)) {
      throw new RavenhelmError(
        'ERR_NOT_ACCEPTABLE',
        'Accept must include application/json (responses are JSON, not SSE)',
      );
    }
    const version = req.headers['mcp-protocol-version'];
    const supported = o.modern ? SUPPORTED_ALL : SUPPORTED_LEGACY;
    const versionRefused =
      typeof version === 'string' && !supported.has(version)
        ? new RavenhelmError(
            'ERR_PROTOCOL_VERSION',
            `unsupported MCP-Protocol-Version '${clip(version)}'; supported: ${[...supported].join(', ')}`,
          )
        : undefined;
    // An unknown version is refused here, unless the body may be a 2026-era request naming it in its
    // envelope: SDK v2 answers that with UnsupportedProtocolVersionError carrying the request's id.
    if (versionRefused && (!o.modern || (version as string).length > MAX_VERSION_CHARS)) throw versionRefused;
    const principal = await authenticate(req, url);
    const routing = readRoutingHeaders(req);
    const requestId = randomUUID();
    const early = headerToolName(routing);
    if (early !== undefined && !o.pipeline.permits(principal, early)) {
      // Refused on the headers alone, before the body is read: preflight records the denial.
      try {
        await o.pipeline.preflight(principal, early, {}, requestId);
      } catch (err) {
        res.setHeader('connection', 'close'); // the unread body is not worth reading
        sendError(res, err, null, true);
        return;
      }
    }
    const text = await readBody(req, o.maxBodyBytes, coding);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new RavenhelmError('ERR_PARSE', 'body is not valid JSON');
    }
    const claim = o.modern !== undefined && hasEnvelopeClaim(parsed);
    if (versionRefused && !claim) throw versionRefused;
    // A 2026-era request is validated by the v2 server against its own era's schemas, not SDK v1's.
    const message = classifyMessage(parsed, { methodSchemas: !claim });
    if (message.kind === 'invalid') {
      // A notification or response that cannot be accepted gets an HTTP error with no id (MCP
      // Streamable HTTP); a request gets its JSON-RPC error with its id when that id is usable.
      if (message.notification) {
        sendError(res, new RavenhelmError('ERR_BAD_REQUEST', message.error.message));
        return;
      }
      await refuseCall(parsed, principal, requestId, message.error.code);
      sendError(res, message.error, message.id);
      return;
    }
    if (message.kind === 'request' || message.kind === 'notification') {
      const name = message.kind === 'request' ? (message.params?.name as string | undefined) : undefined;
      checkRoutingHeaders(routing, message.method, name);
    }
    // 2026-07-28 requests (per-request `_meta` envelope) go to the v2 server, after the SDK's ladder.
    // (A 2025-era message has neither the envelope claim nor the 2026 header: it skips the ladder.)
    const claimsModern = claim || version === MODERN_PROTOCOL_VERSION;
    const side = o.modern && claimsModern && message.kind !== 'response' ? await o.modern.load() : undefined;
    const era = side ? side.classifyEra(req, parsed) : { modern: false };
    if (era.refusal) {
      o.metrics.reject(era.refusal.code === -32020 ? 'ERR_HEADER_MISMATCH' : 'ERR_BAD_REQUEST');
      const id = message.kind === 'request' ? message.id : null;
      const { status, code, message: text, data } = era.refusal;
      send(
        res,
        status,
        stringifyWellFormed({ jsonrpc: '2.0', id, error: { code, message: text, ...(data ? { data } : {}) } }),
      );
      return;
    }
    if (message.kind !== 'request') {
      // Notifications and responses are accepted and never reach the shared server (a caller's
      // notifications/cancelled could name another caller's request there). A client cancels a call by
      // closing its connection, or (SDK clients keep the connection open) by notifications/cancelled,
      // which this handler applies to the sender's own call alone.
      if (message.kind === 'notification' && message.method === 'notifications/cancelled') {
        const params = (parsed as { params?: unknown }).params;
        if (params && typeof params === 'object')
          ownCalls.cancel(principal, (params as { requestId?: unknown }).requestId);
      }
      o.metrics.httpRequests.inc({ server: o.server, status: '202' });
      res.writeHead(202).end();
      return;
    }
    const request = parsed as JSONRPCRequest;
    let preflighted = false;
    if (request.method === 'tools/call') {
      const params = message.params as { name: string; arguments?: unknown };
      try {
        await o.pipeline.preflight(principal, params.name, params.arguments, requestId);
      } catch (err) {
        const e = toRavenhelmError(err);
        if (e.mapping.kind === 'tool') {
          // A refusal the model can act on (the toolset is not enabled: call toolsets_enable) is a tool
          // result, as over stdio; authorization refusals keep their HTTP status (401/403/429).
          const result = era.modern ? { resultType: 'complete', ...errorResult(e) } : errorResult(e);
          const answer = { jsonrpc: '2.0', id: request.id, result };
          send(res, 200, stringifyWellFormed(answer), { 'x-request-id': requestId });
          return;
        }
        sendError(res, e, request.id, true);
        return;
      }
      preflighted = true;
    }
    const caller: CallerInfo = { principal, preflighted, requestId };
    if (typeof req.headers.traceparent === 'string') caller.traceparent = req.headers.traceparent;
    let cancel: CancelCall | undefined;
    const onClose = () => {
      if (!res.writableEnded) cancel?.('disconnected');
    };
    const onCancel = (c: CancelCall) => {
      cancel = c;
      ownCalls.add(principal, request.id, c);
    };
    res.on('close', onClose);
    if (res.destroyed) {
      // The caller left while its call was being authorized (its close came before this listener): the
      // call is not started, and nobody is waiting for an answer.
      res.off('close', onClose);
      o.metrics.reject('ERR_CANCELLED');
      return;
    }
    const callTool = o.callTool;
    const params = message.params as Record<string, unknown>;
    let response: JSONRPCMessage;
    try {
      response =
        preflighted && callTool && !era.modern && fastPathEligible(params)
          ? await o.transport.run(request, (controller) => callToolFast(callTool, params, caller, controller), onCancel)
          : await (era.modern && side ? side.transport : o.transport).dispatch(
              request,
              { authInfo: authInfoFor(caller) },
              onCancel,
            );
    } finally {
      // Also when the transport refuses the dispatch (it is closing): nothing may stay behind per call.
      res.off('close', onClose);
      if (cancel) ownCalls.remove(principal, request.id, cancel);
    }
    if (res.destroyed) return;
    send(res, statusOf(response, era.modern), stringifyWellFormed(response), { 'x-request-id': requestId });
  }

  /** The operators' approval API: REST-style JSON, the same bearer authentication as MCP, approver scope or role. */
  async function handleApprovals(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    checkTransport(req);
    if (url.pathname === '/approvals/console' || url.pathname.startsWith('/approvals/console/')) {
      return serveConsole(req, res, url);
    }
    const principal = await authenticate(req, url);
    const desk = o.pipeline.approvalDesk;
    const parts = url.pathname.split('/').filter(Boolean); // ['approvals', id?, action?]
    const id = parts[1];
    if (id !== undefined && !/^apr_[A-Za-z0-9_-]{1,64}$/.test(id)) {
      throw new RavenhelmError('ERR_APPROVAL_NOT_FOUND', 'not an approval request id; list them with GET /approvals');
    }
    if (parts.length === 1) {
      if (req.method !== 'GET') throw methodNotAllowed(req, url, 'GET');
      const state = url.searchParams.get('state') ?? 'pending';
      if (state !== 'pending' && state !== 'all') {
        throw new RavenhelmError('ERR_BAD_REQUEST', "state must be 'pending' (default) or 'all'");
      }
      return sendJson(res, 200, { approvals: await desk.list(principal, { all: state === 'all' }) });
    }
    if (parts.length === 2 && id) {
      if (req.method !== 'GET') throw methodNotAllowed(req, url, 'GET');
      return sendJson(res, 200, await desk.get(principal, id));
    }
    const action = parts[2];
    if (parts.length === 3 && id && (action === 'approve' || action === 'reject')) {
      if (req.method !== 'POST') throw methodNotAllowed(req, url, 'POST');
      const text = await readBody(req, o.maxBodyBytes, contentCoding(req));
      let body: unknown = {};
      if (text.trim() !== '') {
        checkJsonBody(req);
        try {
          body = JSON.parse(text);
        } catch {
          throw new RavenhelmError('ERR_PARSE', 'body is not valid JSON; send {"comment": "..."} or nothing');
        }
      }
      const parsed = DecisionBody.safeParse(body);
      if (!parsed.success) {
        const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
        throw new RavenhelmError('ERR_BAD_REQUEST', `${why}; the body is {"comment": "<optional text>"}`);
      }
      return sendJson(res, 200, await desk.decide(principal, id, action === 'approve', parsed.data.comment));
    }
    throw new RavenhelmError(
      'ERR_APPROVAL_NOT_FOUND',
      'no such approvals route: GET /approvals, GET /approvals/<id>, POST /approvals/<id>/approve|reject',
    );
  }

  /** The console's static files: public (they hold no data), under a strict CSP with no inline script or style. */
  async function serveConsole(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'GET') throw methodNotAllowed(req, url, 'GET');
    const issuerOrigin = o.console ? ` ${new URL(o.console.issuer).origin}` : '';
    const security = {
      'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'${issuerOrigin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    };
    const file = url.pathname.slice('/approvals/console'.length);
    switch (file) {
      case '':
      case '/':
        return send(res, 200, CONSOLE_HTML, { ...security, 'content-type': 'text/html; charset=utf-8' });
      case '/app.js':
        return send(res, 200, CONSOLE_JS, { ...security, 'content-type': 'text/javascript; charset=utf-8' });
      case '/app.css':
        return send(res, 200, CONSOLE_CSS, { ...security, 'content-type': 'text/css; charset=utf-8' });
      case '/favicon.svg':
        return send(res, 200, CONSOLE_ICON, { ...security, 'content-type': 'image/svg+xml' });
      case '/config.json':
        if (!o.console) {
          throw new RavenhelmError(
            'ERR_APPROVAL_NOT_FOUND',
            'the approvals console has no OIDC client: set RAVENHELM_APPROVALS_CONSOLE_CLIENT_ID (approvals.consoleClientId)',
          );
        }
        return sendJson(res, 200, {
          server: o.server,
          issuer: o.console.issuer,
          clientId: o.console.clientId,
          scope: o.console.scope,
          resource: o.resourceUrl,
        });
      default:
        throw new RavenhelmError('ERR_APPROVAL_NOT_FOUND', 'no such console file; open /approvals/console');
    }
  }

  function methodNotAllowed(req: IncomingMessage, url: URL, allowed: string): RavenhelmError {
    return new RavenhelmError(
      'ERR_METHOD_NOT_ALLOWED',
      `${req.method} ${clip(url.pathname)} is not supported; use ${allowed}`,
      {
        allow: allowed,
      },
    );
  }

  function sendJson(res: ServerResponse, status: number, body: unknown): void {
    send(res, status, stringifyWellFormed(body));
  }

  /** Approval API errors: a plain JSON error (not JSON-RPC), with the bearer challenge where it applies. */
  function sendApiError(res: ServerResponse, err: unknown): void {
    const e = toRavenhelmError(err);
    if (e.code === 'ERR_INTERNAL') o.logger.error({ err }, 'approvals request failed');
    // The store (Redis) down or slow is the server's trouble, not a bad request: 503, try again shortly.
    const unavailable = e.code === 'ERR_BACKEND_UNAVAILABLE' || e.code === 'ERR_BACKEND_TIMEOUT';
    const status = unavailable ? 503 : e.mapping.http === 200 ? 400 : e.mapping.http;
    const headers: Record<string, string> = {};
    if (e.code === 'ERR_PEER_CERT_INVALID') headers.connection = 'close';
    if (unavailable) headers['retry-after'] = '2';
    else if (status === 503 && typeof e.details.retryAfterSeconds === 'number') {
      headers['retry-after'] = String(e.details.retryAfterSeconds);
    }
    if (status === 401 || e.code === 'ERR_TOKEN_MALFORMED_REQUEST') headers['www-authenticate'] = challenge(e);
    if (e.code === 'ERR_APPROVAL_FORBIDDEN' && e.details.requiredScopes) {
      headers['www-authenticate'] =
        `Bearer error="insufficient_scope", scope="${(e.details.requiredScopes as string[]).join(' ')}", resource_metadata="${prmUrl}"`;
    }
    if (status === 405 && typeof e.details.allow === 'string') headers.allow = e.details.allow;
    if (typeof e.details.acceptEncoding === 'string') headers['accept-encoding'] = e.details.acceptEncoding;
    o.metrics.reject(e.code);
    send(res, status, stringifyWellFormed({ error: { code: e.code, message: e.message } }), headers);
  }

  /** A refused tools/call for a tool this server has still leaves an audit record (without its arguments). */
  async function refuseCall(parsed: unknown, principal: Principal, requestId: string, code: ErrorCode): Promise<void> {
    const name = toolNameOf(parsed);
    if (name !== undefined) await o.pipeline.refused(principal, name, requestId, code);
  }

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = async () => {
      if (url.pathname === o.path) {
        if (o.isDraining())
          throw new RavenhelmError('ERR_SHUTTING_DOWN', 'server is shutting down; retry on another replica');
        checkTransport(req);
        if (cors(req, res)) return;
        return handleMcp(req, res, url);
      }
      if (url.pathname === '/approvals' || url.pathname.startsWith('/approvals/')) {
        return handleApprovals(req, res, url).catch((err) => {
          if (res.headersSent) res.destroy();
          else {
            refuseUnreadBody(req, res);
            sendApiError(res, err);
          }
        });
      }
      const metadata = prmPaths.has(url.pathname);
      if (!metadata && !READ_ONLY_PATHS.has(url.pathname)) {
        // No such resource, whatever the method (RFC 9110 15.5.5): a 405 would say POST /mcp/ exists.
        return send(res, 404, JSON.stringify({ error: 'not found', mcpEndpoint: o.path }));
      }
      // RFC 9110 9.1: GET and HEAD (Node sends a HEAD answer's headers without its body); 15.5.6: a
      // 405 lists the methods this resource supports.
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new RavenhelmError(
          'ERR_METHOD_NOT_ALLOWED',
          `${req.method} ${clip(url.pathname)} is not supported; use GET`,
          { allow: 'GET, HEAD' },
        );
      }
      if (metadata) {
        checkTransport(req);
        return send(res, 200, prm, { 'access-control-allow-origin': '*' });
      }
      switch (url.pathname) {
        case '/healthz':
          return send(res, 200, '{"status":"ok"}');
        case '/readyz': {
          const state = o.isDraining() ? { ready: false, reason: 'shutting down' } : await o.ready();
          return send(
            res,
            state.ready ? 200 : 503,
            JSON.stringify({
              status: state.ready ? 'ready' : 'not ready',
              ...(state.reason ? { reason: state.reason } : {}),
            }),
          );
        }
        case '/metrics': {
          const body = await o.metrics.registry.metrics();
          return send(res, 200, body, { 'content-type': o.metrics.registry.contentType });
        }
        default:
          return send(res, 404, JSON.stringify({ error: 'not found', mcpEndpoint: o.path }));
      }
    };
    route().catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      refuseUnreadBody(req, res);
      sendError(res, err);
    });
  };
}

/**
 * Where the protected resource metadata (RFC 9728) is served, and the URL the 401 challenge names.
 * RFC 9728 3.1 puts the metadata of `https://host/docker/mcp` at
 * `https://host/.well-known/oauth-protected-resource/docker/mcp`: this server answers that path, the bare one and the
 * one under its own listen path (`/.well-known/oauth-protected-resource/mcp`). Behind a proxy that
 * strips a prefix (public `/docker/mcp`, listen path `/mcp`) the challenge names the metadata under that
 * prefix (`https://host/docker/.well-known/oauth-protected-resource/mcp`): the route that reaches the MCP
 * endpoint reaches it too, where the host's root well-known path is shared by every server behind it.
 */
function metadataLocations(resourceUrl: string, path: string): { prmUrl: string; prmPaths: Set<string> } {
  const publicPath = new URL(resourceUrl).pathname;
  const wellKnown = `${PRM_PATH}${publicPath === '/' ? '' : publicPath}`;
  const prefix = publicPath.endsWith(path) ? publicPath.slice(0, -path.length) : undefined;
  const prmUrl = new URL(prefix ? `${prefix}${PRM_PATH}${path}` : wellKnown, resourceUrl).toString();
  return { prmUrl, prmPaths: new Set([PRM_PATH, `${PRM_PATH}${path}`, wellKnown]) };
}

/**
 * Whether an Accept header lets the answer be application/json (RFC 9110 12.5.1): the most specific
 * range that matches it decides (application/json, then application/*, then *\/*), and a q of 0 means
 * "not acceptable". No header at all accepts anything. `application/jsonl` or `application/json-seq`
 * are other media types, not JSON.
 */
export function acceptsJson(header: string | undefined): boolean {
  if (header === undefined) return true;
  let best = 0;
  let q = 0;
  for (const range of header.split(',')) {
    const [type = '', ...params] = range.split(';');
    const t = type.trim().toLowerCase();
    const specificity = t === 'application/json' ? 3 : t === 'application/*' ? 2 : t === '*/*' ? 1 : 0;
    if (specificity === 0 || specificity < best) continue;
    let weight = 1;
    for (const param of params) {
      const [name = '', value = ''] = param.split('=');
      if (name.trim().toLowerCase() !== 'q') continue;
      const n = Number(value.trim());
      weight = Number.isFinite(n) ? n : 1;
    }
    // Two ranges of the same specificity: the higher q counts.
    q = specificity > best ? weight : Math.max(q, weight);
    best = specificity;
  }
  return best > 0 && q > 0;
}

/** Up to this much unread body is read and dropped to keep a refused request's connection alive. */
const DISCARD_BYTES = 64 * 1024;

/**
 * A request refused before its body was read (on its headers, or by its declared Content-Length) is
 * answered with `Connection: close` unless what is left is small: otherwise Node reads and discards the
 * rest of the body to reuse the connection, and a client that declared a gigabyte (or sends chunks
 * without end) could keep the server reading after the 413.
 */
function refuseUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  const declared = req.headers['content-length'];
  if (declared === undefined || !(Number(declared) <= DISCARD_BYTES)) res.setHeader('connection', 'close');
}

/** A JSON-RPC error that carries one of our codes gets that code's HTTP status (e.g. 503 when the audit log is down). */
function statusOf(response: JSONRPCMessage, modern: boolean): number {
  const error = (response as { error?: { code?: unknown; data?: { code?: unknown } } }).error;
  // 2026-07-28 over HTTP: a method the server does not implement is 404 (-32601).
  if (modern && error?.code === -32601) return 404;
  const code = error?.data?.code;
  return typeof code === 'string' && code in ERROR_TABLE ? ERROR_TABLE[code as ErrorCode].http : 200;
}
