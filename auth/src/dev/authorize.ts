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
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CLIENT_ONLY_SCOPES,
  type DynamicClientStore,
  type DynamicClientsOptions,
  type RegisteredClient,
  redirectUriMatches,
} from './dynamic.js';
import { type RefreshTokenStore, redeemRefreshToken } from './refresh.js';
import { LOOPBACK_HOSTS, OAuthError } from './support.js';

export interface DevOAuthClient {
  clientId: string;
  /** Exact redirect URIs (loopback http or https), e.g. `https://localhost:8701/approvals/console`. */
  redirectUris: readonly string[];
  /** Resource indicators (RFC 8707) the client may ask tokens for: the token's audience. */
  resources: readonly string[];
  /** Scopes a token for this client may carry (default `mcp:approvals:approve`); `openid` is always accepted. */
  scopes?: readonly string[];
}

/** What the token endpoint mints once a code is redeemed. */
export interface DevGrant {
  user: string;
  clientId: string;
  scopes: string[];
  resource: string;
}

export const DEV_APPROVER_SCOPE = 'mcp:approvals:approve';
/** Suggested on the login page; any valid name may be typed. */
export const DEFAULT_DEV_USERS = ['ops-alice', 'sec-bob'] as const;
export const ACCESS_TOKEN_TTL_SECONDS = 3600;

const CODE_TTL_MS = 60_000;
const LOGIN_TTL_MS = 10 * 60_000;
const MAX_PENDING = 200;
const MAX_BODY = 8 * 1024;
const USER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** Self-registration and refresh tokens (absent: only the clients given at start sign people in). */
export interface DevDynamicClients {
  options: DynamicClientsOptions;
  clients: DynamicClientStore;
  refresh: RefreshTokenStore;
}

/** A client as /authorize and /token see it, whichever way it was registered. */
interface ClientView extends DevOAuthClient {
  /** Self-registered: its name, if it gave one, and whether it gets refresh tokens. */
  registered?: { name: string | undefined; refresh: boolean; scope: string | undefined };
}

interface PendingLogin {
  client: ClientView;
  redirectUri: string;
  state: string | undefined;
  challenge: string;
  /** `openid` / `offline_access` as requested: passed through, never shown as a choice. */
  clientScopes: string[];
  /** The server scopes the person may tick; the only ones the POST may grant. */
  offered: string[];
  /** The server scopes the client asked for: ticked when the page opens. */
  requested: string[];
  resource: string;
  expires: number;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  grant: DevGrant;
  expires: number;
}

/** What a scope of each level lets a token do, in a line, beside its checkbox. */
const SCOPE_MEANINGS: Record<string, string> = {
  read: 'list and read',
  write: 'start, stop, restart and other changes',
  admin: 'HIGH-tier tools, which also need a SPIFFE ID over mTLS',
  approve: 'approve or deny requests waiting in the approvals console',
};
/** `docker` for `mcp:docker:write`; undefined for a scope not named after a server. */
const serverOf = (scope: string) => /^mcp:([^:\s]+):[^:\s]+$/.exec(scope)?.[1];

/**
 * The server scopes the person may choose from. A configured client: its own. A self-registered one: those
 * of the servers its request names, since the issuer has no other way to tell a resource's server and a
 * token for one server has no use for another's scopes; all it may have when the request names no server.
 */
function choosableScopes(client: ClientView, requested: readonly string[]): string[] {
  const all = [...new Set(client.scopes ?? [DEV_APPROVER_SCOPE])].filter((s) => !CLIENT_ONLY_SCOPES.has(s));
  const servers = new Set(requested.map(serverOf).filter((s) => s !== undefined));
  if (!client.registered || servers.size === 0) return all;
  return all.filter((s) => requested.includes(s) || servers.has(serverOf(s) ?? ''));
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const token = (bytes: number) => randomBytes(bytes).toString('base64url');
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/** Refuses a redirect URI that is not an absolute loopback http(s) URL without a fragment. */
export function checkRedirectUri(uri: string): void {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new Error(`redirect URI '${uri}' is not an absolute URL`);
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || !LOOPBACK_HOSTS.has(u.hostname) || u.hash !== '') {
    throw new Error(`redirect URI '${uri}' must be a loopback http(s) URL without a fragment (dev issuer)`);
  }
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      reject(new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded'));
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new OAuthError('invalid_request', 'the body is too large', 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

export class DevAuthorizationServer {
  readonly #clients = new Map<string, DevOAuthClient>();
  readonly #users: readonly string[];
  readonly #mint: (grant: DevGrant, ttlSeconds: number) => Promise<string>;
  readonly #dynamic: DevDynamicClients | undefined;
  readonly #logins = new Map<string, PendingLogin>();
  readonly #codes = new Map<string, IssuedCode>();

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
    this.#mint = opts.mint;
    this.#dynamic = opts.dynamic;
    // An evicted client's refresh tokens go with it.
    if (this.#dynamic) this.#dynamic.clients.onEvict = (id) => this.#dynamic?.refresh.dropClient(id);
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

  #accessTtl(client: ClientView | undefined): number {
    return client?.registered
      ? (this.#dynamic?.options.accessTokenTtlSeconds ?? ACCESS_TOKEN_TTL_SECONDS)
      : ACCESS_TOKEN_TTL_SECONDS;
  }

  /** The origins of every registered redirect URI: the only ones the token endpoint answers CORS for. */
  get #origins(): Set<string> {
    return new Set([...this.#clients.values()].flatMap((c) => c.redirectUris.map((u) => new URL(u).origin)));
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
      if (req.method === 'POST') await this.#dynamic.clients.handle(req, res, this.#dynamic.options.scopes);
      else res.writeHead(405, { allow: 'POST' }).end();
      return true;
    }
    if (url.pathname === '/authorize') {
      if (req.method === 'GET') this.#authorize(res, url.searchParams);
      else if (req.method === 'POST') await this.#login(req, res);
      else res.writeHead(405, { allow: 'GET, POST' }).end();
      return true;
    }
    if (url.pathname === '/token') {
      const origin = req.headers.origin;
      const cors: Record<string, string> =
        origin && this.#origins.has(origin) ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
      if (req.method === 'OPTIONS') {
        res
          .writeHead(204, {
            ...cors,
            'access-control-allow-methods': 'POST',
            'access-control-allow-headers': 'content-type',
          })
          .end();
      } else if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST, OPTIONS' }).end();
      } else {
        await this.#token(req, res, cors);
      }
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
      return this.#page(res, 400, 'Unknown client', '<p>This client is not registered with the dev issuer.</p>');
    if (!redirectUriMatches(client.redirectUris, redirectUri)) {
      return this.#page(res, 400, 'Wrong redirect URI', '<p>The redirect URI is not registered for this client.</p>');
    }
    const state = q.get('state') ?? undefined;
    const fail = (error: string, description: string) =>
      this.#redirect(res, redirectUri, { error, error_description: description, state });
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

  /**
   * The sign-in form for a new pending login (single use, its own id). `chosen` and `user` keep what the
   * person entered when the form comes back with `problem`.
   */
  #signInPage(
    res: ServerResponse,
    status: number,
    login: PendingLogin,
    again?: { problem: string; chosen: readonly string[]; user: string },
  ): ServerResponse {
    const id = token(24);
    this.#logins.set(id, login);
    const { client, resource } = login;
    const ticked = again?.chosen ?? login.requested;
    const user = again?.user ?? this.#users[0] ?? '';
    const options = this.#users.map((u) => `<option value="${escapeHtml(u)}"></option>`).join('');
    const boxes = login.offered
      .map((s, i) => {
        const meaning = SCOPE_MEANINGS[s.split(':').at(-1) ?? ''];
        return `<input type="checkbox" name="scope" value="${escapeHtml(s)}" id="scope-${i}"${ticked.includes(s) ? ' checked' : ''}>
<label for="scope-${i}"><code>${escapeHtml(s)}</code>${meaning ? `: ${escapeHtml(meaning)}` : ''}</label><br>`;
      })
      .join('\n');
    return this.#page(
      res,
      status,
      'Sign in (dev issuer)',
      `${again ? `<p role="alert"><strong>${escapeHtml(again.problem)}</strong></p>\n` : ''}<p><strong>Development only.</strong> This is the demo's dev issuer: there is no password. Any dev user
name signs in as that person, and the token carries the scopes ticked below.</p>
<p>${
        client.registered
          ? `${client.registered.name ? `<strong>${escapeHtml(client.registered.name)}</strong>, a` : 'A'} client that registered itself as <code>${escapeHtml(client.clientId)}</code>,`
          : `Client <code>${escapeHtml(client.clientId)}</code>`
      } asks for a token for <code>${escapeHtml(resource)}</code>.</p>
<form method="post" action="/authorize">
<input type="hidden" name="login" value="${id}">
<p><label for="user">Dev user name</label><br>
<input id="user" name="user" list="dev-users" required autocomplete="username" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,62}" aria-describedby="user-hint" value="${escapeHtml(user)}">
<datalist id="dev-users">${options}</datalist><br>
<span id="user-hint">For example ${this.#users.map((u) => `<code>${escapeHtml(u)}</code>`).join(' or ')}; letters, digits, ".", "_", "-".</span></p>
${
  boxes
    ? `<fieldset>
<legend>What the token may do (the client asked for the ticked ones; tick more or fewer, at least one)</legend>
${boxes}
</fieldset>`
    : ''
}
<p><button type="submit" name="action" value="allow">Sign in</button>
<button type="submit" name="action" value="deny" formnovalidate>Cancel</button></p>
</form>`,
      new URL(login.redirectUri).origin,
    );
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<ServerResponse> {
    let form: URLSearchParams;
    try {
      form = await readForm(req);
    } catch (err) {
      return this.#page(
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
      return this.#page(
        res,
        400,
        'Sign-in expired',
        '<p>This sign-in expired or was used; start again from the console.</p>',
      );
    }
    const { redirectUri, state } = pending;
    if (form.get('action') === 'deny') {
      return this.#redirect(res, redirectUri, {
        error: 'access_denied',
        error_description: 'the operator cancelled',
        state,
      });
    }
    const user = form.get('user') ?? '';
    if (!USER.test(user)) {
      return this.#redirect(res, redirectUri, {
        error: 'access_denied',
        error_description: 'not a dev user name',
        state,
      });
    }
    // The person's choice, checked against what this login offered: the form is never trusted.
    const chosen = [...new Set(form.getAll('scope'))];
    const refused = chosen.filter((s) => !pending.offered.includes(s));
    if (refused.length > 0) {
      return this.#page(
        res,
        400,
        'Scope not allowed',
        `<p>The client may not receive <code>${escapeHtml(refused.join(' '))}</code> for <code>${escapeHtml(pending.resource)}</code>
(it may receive: <code>${escapeHtml(pending.offered.join(' ') || 'no server scope')}</code>). Nothing was granted; start again from the client.</p>`,
      );
    }
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
    return this.#redirect(res, redirectUri, { code, state });
  }

  async #token(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): Promise<void> {
    const headers = { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' };
    try {
      const form = await readForm(req);
      const grantType = form.get('grant_type');
      let grant: DevGrant;
      let refreshToken: string | undefined;
      if (grantType === 'authorization_code') {
        grant = this.#codeGrant(form);
        // A self-registered client that asked for refresh tokens starts a new family with this sign-in.
        if (this.#client(grant.clientId)?.registered?.refresh) refreshToken = this.#dynamic?.refresh.issue(grant);
      } else if (grantType === 'refresh_token' && this.#dynamic) {
        const refresh = this.#dynamic.refresh;
        try {
          ({ grant, refreshToken } = redeemRefreshToken(form, refresh, (id) => this.#client(id)));
        } catch (err) {
          // A family revoked for reuse, or an expired token forgotten, is on disk before the answer.
          await refresh.save().catch(() => {});
          throw err;
        }
      } else {
        throw new OAuthError(
          'unsupported_grant_type',
          `grant_type must be 'authorization_code'${this.#dynamic ? " or 'refresh_token'" : ''}`,
        );
      }
      const ttl = this.#accessTtl(this.#client(grant.clientId));
      const accessToken = await this.#mint(grant, ttl);
      // On disk before it is handed out: a restart never brings back a spent token or loses a new one.
      if (refreshToken) await this.#dynamic?.refresh.save();
      res.writeHead(200, headers).end(
        JSON.stringify({
          access_token: accessToken,
          token_type: 'Bearer',
          expires_in: ttl,
          scope: grant.scopes.filter((s) => !CLIENT_ONLY_SCOPES.has(s)).join(' '),
          ...(refreshToken ? { refresh_token: refreshToken } : {}),
        }),
      );
    } catch (err) {
      const e = err instanceof OAuthError ? err : new OAuthError('server_error', 'the token could not be issued', 500);
      res.writeHead(e.status, headers).end(JSON.stringify({ error: e.error, error_description: e.description }));
    }
  }

  /** grant_type=authorization_code: the code's grant, once, for the client, redirect URI and verifier it was issued with. */
  #codeGrant(form: URLSearchParams): DevGrant {
    const codeValue = form.get('code') ?? '';
    const issued = this.#codes.get(codeValue);
    // One use only, whatever happens next: a failed verifier burns the code too.
    this.#codes.delete(codeValue);
    if (!issued || issued.expires <= Date.now()) {
      throw new OAuthError('invalid_grant', 'the code is unknown, expired or already used');
    }
    if (form.get('client_id') !== issued.clientId)
      throw new OAuthError('invalid_grant', 'the code was issued to another client');
    if (form.get('redirect_uri') !== issued.redirectUri) {
      throw new OAuthError('invalid_grant', 'redirect_uri differs from the one in the authorization request');
    }
    const resource = form.get('resource');
    if (resource !== null && resource !== issued.grant.resource) {
      throw new OAuthError('invalid_target', 'resource differs from the one in the authorization request');
    }
    const verifier = form.get('code_verifier') ?? '';
    const expected = Buffer.from(issued.challenge);
    const actual = Buffer.from(VERIFIER.test(verifier) ? s256(verifier) : '');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
      throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge');
    }
    return issued.grant;
  }

  #redirect(res: ServerResponse, redirectUri: string, params: Record<string, string | undefined>): ServerResponse {
    const target = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
    return res
      .writeHead(303, { location: target.toString(), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
      .end();
  }

  #page(res: ServerResponse, status: number, title: string, body: string, formTarget?: string): ServerResponse {
    // No script and no style at all; the form may post here and then redirect to the client's origin.
    const csp = `default-src 'none'; form-action 'self'${formTarget ? ` ${formTarget}` : ''}; base-uri 'none'; frame-ancestors 'none'`;
    return res
      .writeHead(status, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      })
      .end(
        `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} - Ravenhelm dev issuer</title></head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`,
      );
  }
}
