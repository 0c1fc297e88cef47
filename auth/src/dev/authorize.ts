/**
 * The dev issuer's browser login: OAuth 2.1 authorization code with PKCE (S256 only) for the public
 * clients registered when the issuer starts (the demo's approvals consoles) and, when `dynamic` is given,
 * for clients that register themselves (RFC 7591, `dynamic.ts`) and refresh their tokens (`refresh.ts`).
 * A development stand-in for Zitadel's login: the operator types or picks a dev user name, no password,
 * and ticks the scopes the token may carry: the requested ones are ticked, and the person may add others
 * the client is allowed for that resource or untick some (RFC 6749 3.3: the issued scope may differ from
 * the requested one "based on ... the resource owner's instructions"; the token response then names it).
 * Redirect URIs match the registered list exactly (a loopback http one on any port, RFC 8252 7.3), so
 * the issuer is never an open redirect. Codes, verifiers and tokens never appear in an error message or a page.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ClientView,
  checkRedirectUri,
  DEV_APPROVER_SCOPE,
  type DevDynamicClients,
  type DevGrant,
  type DevOAuthClient,
} from './clients.js';
import { CLIENT_ONLY_SCOPES, type RegisteredClient, redirectUriMatches } from './dynamic.js';
import {
  choosableScopes,
  type PendingLogin,
  readScopeChoice,
  type SignInRetry,
  sendPage,
  sendRedirect,
  sendScopeNotAllowed,
  sendSignInPage,
} from './pages.js';
import { OAuthError, readForm } from './support.js';
import { handleTokenRequest, type IssuedCode, type TokenEndpointContext } from './token-endpoint.js';

// Defined in `clients.ts` and `token-endpoint.ts`; importers keep finding them here.
export { ACCESS_TOKEN_TTL_SECONDS } from './token-endpoint.js';
export { checkRedirectUri, DEV_APPROVER_SCOPE, type DevDynamicClients, type DevGrant, type DevOAuthClient };

/** Suggested on the login page; any valid name may be typed. */
export const DEFAULT_DEV_USERS = ['ops-alice', 'sec-bob'] as const;

const CODE_TTL_MS = 60_000;
const LOGIN_TTL_MS = 10 * 60_000;
const MAX_PENDING = 200;
const USER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

const token = (bytes: number) => randomBytes(bytes).toString('base64url');

export class DevAuthorizationServer {
  readonly #clients = new Map<string, DevOAuthClient>();
  readonly #users: readonly string[];
  readonly #dynamic: DevDynamicClients | undefined;
  readonly #logins = new Map<string, PendingLogin>();
  readonly #codes = new Map<string, IssuedCode>();
  readonly #tokenEndpoint: TokenEndpointContext;

  constructor(opts: {
    clients: readonly DevOAuthClient[];
    users?: readonly string[];
    mint: (grant: DevGrant, ttlSeconds: number) => Promise<string>;
    dynamic?: DevDynamicClients | undefined;
  }) {
    for (const c of opts.clients) {
      if (!USER.test(c.clientId)) throw new Error(`client id '${c.clientId}' is not a plain name`);
      if (c.redirectUris.length === 0 || c.resources.length === 0) {
        throw new Error(`client '${c.clientId}' needs at least one redirect URI and one resource`);
      }
      c.redirectUris.forEach(checkRedirectUri);
      this.#clients.set(c.clientId, c);
    }
    this.#users = opts.users ?? DEFAULT_DEV_USERS;
    this.#dynamic = opts.dynamic;
    // An evicted client's refresh tokens go with it.
    if (this.#dynamic) this.#dynamic.clients.onEvict = (id) => this.#dynamic?.refresh.dropClient(id);
    this.#tokenEndpoint = {
      codes: this.#codes,
      dynamic: this.#dynamic,
      client: (id) => this.#client(id),
      mint: opts.mint,
      origins: () => new Set([...this.#clients.values()].flatMap((c) => c.redirectUris.map((u) => new URL(u).origin))),
    };
  }

  /** A client given at start, or a self-registered one (allowed the resources and scopes `dynamic` names). */
  #client(clientId: string): ClientView | undefined {
    const fixed = this.#clients.get(clientId);
    if (fixed) return fixed;
    const d = this.#dynamic;
    const r: RegisteredClient | undefined = d?.clients.get(clientId);
    if (!d || !r) return undefined;
    return {
      clientId: r.client_id,
      redirectUris: r.redirect_uris,
      resources: d.options.resources,
      scopes: d.options.scopes,
      registered: { name: r.client_name, refresh: r.grant_types.includes('refresh_token'), scope: r.scope },
    };
  }

  metadata(issuer: string): Record<string, unknown> {
    const dynamic = this.#dynamic?.options;
    return {
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      ...(dynamic ? { registration_endpoint: `${issuer}/register` } : {}),
      response_types_supported: ['code'],
      grant_types_supported: dynamic ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      scopes_supported: [
        ...new Set([
          'openid',
          ...(dynamic ? ['offline_access', ...dynamic.scopes] : []),
          ...[...this.#clients.values()].flatMap((c) => c.scopes ?? [DEV_APPROVER_SCOPE]),
        ]),
      ],
    };
  }

  /** Handles /authorize, /token and (with `dynamic`) /register; false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === '/register' && this.#dynamic) {
      const cors = registrationCors(req.headers.origin);
      if (req.method === 'OPTIONS') {
        res
          .writeHead(204, {
            ...cors,
            'access-control-allow-methods': 'POST',
            'access-control-allow-headers': 'content-type, authorization',
          })
          .end();
      } else if (req.method === 'POST')
        await this.#dynamic.clients.handle(req, res, this.#dynamic.options.scopes, cors);
      else res.writeHead(405, { allow: 'POST, OPTIONS' }).end();
      return true;
    }
    if (url.pathname === '/authorize') {
      if (req.method === 'GET') this.#authorize(res, url.searchParams);
      else if (req.method === 'POST') await this.#login(req, res);
      else res.writeHead(405, { allow: 'GET, POST' }).end();
      return true;
    }
    if (url.pathname === '/token') {
      await handleTokenRequest(req, res, this.#tokenEndpoint);
      return true;
    }
    return false;
  }

  #prune(now: number): void {
    for (const [k, v] of this.#logins) if (v.expires <= now) this.#logins.delete(k);
    for (const [k, v] of this.#codes) if (v.expires <= now) this.#codes.delete(k);
    // Bounded: the oldest pending logins go first.
    while (this.#logins.size >= MAX_PENDING) this.#logins.delete(this.#logins.keys().next().value as string);
    while (this.#codes.size >= MAX_PENDING) this.#codes.delete(this.#codes.keys().next().value as string);
  }

  #authorize(res: ServerResponse, q: URLSearchParams): ServerResponse {
    const client = this.#client(q.get('client_id') ?? '');
    const redirectUri = q.get('redirect_uri') ?? '';
    // Until the client and its exact redirect URI are known, errors are shown here, never redirected.
    if (!client)
      return sendPage(res, 400, 'Unknown client', '<p>This client is not registered with the dev issuer.</p>');
    if (!redirectUriMatches(client.redirectUris, redirectUri)) {
      return sendPage(res, 400, 'Wrong redirect URI', '<p>The redirect URI is not registered for this client.</p>');
    }
    const state = q.get('state') ?? undefined;
    const fail = (error: string, description: string) =>
      sendRedirect(res, redirectUri, { error, error_description: description, state });
    if (state !== undefined && state.length > 512)
      return fail('invalid_request', 'state is longer than 512 characters');
    if (q.get('response_type') !== 'code') return fail('unsupported_response_type', "response_type must be 'code'");
    if (q.get('code_challenge_method') !== 'S256') {
      return fail('invalid_request', "PKCE is required with code_challenge_method 'S256' ('plain' is refused)");
    }
    const challenge = q.get('code_challenge') ?? '';
    if (!CHALLENGE.test(challenge))
      return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
    const allowed = new Set([
      'openid',
      ...(client.registered ? ['offline_access'] : []),
      ...(client.scopes ?? [DEV_APPROVER_SCOPE]),
    ]);
    const asked = (q.get('scope') ?? client.registered?.scope ?? '').split(' ').filter(Boolean);
    const scopes = [...new Set(asked.length > 0 ? asked : [...allowed])];
    if (scopes.some((s) => !allowed.has(s)))
      return fail('invalid_scope', `this client may ask for: ${[...allowed].join(' ')}`);
    const resource = q.get('resource') ?? (client.resources.length === 1 ? client.resources[0] : undefined);
    if (!resource || !client.resources.includes(resource)) {
      return fail('invalid_target', 'resource must name one of the resources registered for this client');
    }
    const requested = scopes.filter((s) => !CLIENT_ONLY_SCOPES.has(s));
    const now = Date.now();
    this.#prune(now);
    return this.#signInPage(res, 200, {
      client,
      redirectUri,
      state,
      challenge,
      clientScopes: scopes.filter((s) => CLIENT_ONLY_SCOPES.has(s)),
      offered: choosableScopes(client, requested),
      requested,
      resource,
      expires: now + LOGIN_TTL_MS,
    });
  }

  /** The sign-in form for a new pending login (single use, its own id). */
  #signInPage(res: ServerResponse, status: number, login: PendingLogin, again?: SignInRetry): ServerResponse {
    const id = token(24);
    this.#logins.set(id, login);
    return sendSignInPage(res, status, id, login, this.#users, again);
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<ServerResponse> {
    let form: URLSearchParams;
    try {
      form = await readForm(req);
    } catch (err) {
      return sendPage(
        res,
        err instanceof OAuthError ? err.status : 400,
        'Bad request',
        '<p>The form could not be read.</p>',
      );
    }
    const now = Date.now();
    const id = form.get('login') ?? '';
    const pending = this.#logins.get(id);
    this.#logins.delete(id);
    if (!pending || pending.expires <= now) {
      return sendPage(
        res,
        400,
        'Sign-in expired',
        '<p>This sign-in expired or was used; start again from the console.</p>',
      );
    }
    const { redirectUri, state } = pending;
    if (form.get('action') === 'deny') {
      return sendRedirect(res, redirectUri, {
        error: 'access_denied',
        error_description: 'the operator cancelled',
        state,
      });
    }
    const user = form.get('user') ?? '';
    if (!USER.test(user)) {
      return sendRedirect(res, redirectUri, {
        error: 'access_denied',
        error_description: 'not a dev user name',
        state,
      });
    }
    const { chosen, refused } = readScopeChoice(form, pending);
    if (refused.length > 0) return sendScopeNotAllowed(res, pending, refused);
    this.#prune(now);
    if (chosen.length === 0 && pending.offered.length > 0) {
      return this.#signInPage(res, 400, pending, {
        problem: 'Tick at least one scope: a token without one allows nothing.',
        chosen,
        user,
      });
    }
    const scopes = [...pending.clientScopes, ...pending.offered.filter((s) => chosen.includes(s))];
    const code = token(32);
    this.#codes.set(code, {
      clientId: pending.client.clientId,
      redirectUri,
      challenge: pending.challenge,
      grant: { user, clientId: pending.client.clientId, scopes, resource: pending.resource },
      expires: now + CODE_TTL_MS,
    });
    return sendRedirect(res, redirectUri, { code, state });
  }
}

/**
 * Registration is open to pages served from this machine (a browser-based MCP client such as the
 * Inspector's web UI registers from its page), never to a page from elsewhere: one could fill the bounded
 * client list and push out the clients people registered.
 */
export function registrationCors(origin: string | undefined): Record<string, string> {
  if (origin === undefined) return {};
  let host: string;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return {};
    host = u.hostname;
  } catch {
    return {};
  }
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]'
    ? { 'access-control-allow-origin': origin, vary: 'origin' }
    : {};
}
