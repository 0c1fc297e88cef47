/**
 * Dynamic client registration (RFC 7591) for the dev issuer, so MCP clients (Claude Code, Cursor, the
 * SDK's OAuthClientProvider) can register themselves and sign a person in by the MCP authorization flow.
 * Public clients only (`token_endpoint_auth_method: "none"`, PKCE does the rest); grant types
 * authorization_code and refresh_token; redirect URIs on loopback http with any port (RFC 8252 7.3) or
 * https, never with a fragment. Registered clients are kept in the state directory (0600), at most
 * MAX_DYNAMIC_CLIENTS: the oldest go first.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOOPBACK_HOSTS, OAuthError, readJson, SerialWriter } from './support.js';

/** Which tokens self-registered clients may get; absent from `listen`: registration is off. */
export interface DynamicClientsOptions {
  /** Resource indicators (RFC 8707) a registered client may ask tokens for: the MCP servers' resource URIs. */
  resources: readonly string[];
  /** Scopes a token for a registered client may carry (`openid` and `offline_access` are always accepted). */
  scopes: readonly string[];
  /** Lifetime of their access tokens, 1..86400 seconds (default 3600). */
  accessTokenTtlSeconds?: number;
  /** Lifetime of each refresh token, seconds (default 30 days); every rotation starts a new one. */
  refreshTokenTtlSeconds?: number;
}

/** A registered client as RFC 7591 answers it (and as it is stored). */
export interface RegisteredClient {
  client_id: string;
  client_id_issued_at: number;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: 'none';
  client_name?: string;
  scope?: string;
}

export const MAX_DYNAMIC_CLIENTS = 100;
export const MAX_REGISTRATION_BYTES = 8 * 1024;
const MAX_REDIRECT_URIS = 10;
const MAX_URI_LENGTH = 2048;
const MAX_NAME_LENGTH = 200;
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** Scopes every client may ask for without them reaching the token. */
export const CLIENT_ONLY_SCOPES = new Set(['openid', 'offline_access']);

const metadataError = (description: string) => new OAuthError('invalid_client_metadata', description);
const redirectError = (description: string) => new OAuthError('invalid_redirect_uri', description);

/** Refuses a redirect URI a self-registered client may not use (RFC 8252 7.3 loopback http, or https). */
export function checkDynamicRedirectUri(uri: unknown): string {
  if (typeof uri !== 'string' || uri.length === 0 || uri.length > MAX_URI_LENGTH) {
    throw redirectError(`each redirect URI must be a string of 1..${MAX_URI_LENGTH} characters`);
  }
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw redirectError('a redirect URI is not an absolute URL');
  }
  if (uri.includes('#')) throw redirectError('a redirect URI must not contain a fragment (RFC 6749 3.1.2)');
  if (u.username || u.password) throw redirectError('a redirect URI must not carry a user name or password');
  if (u.protocol === 'https:') return uri;
  if (u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname)) return uri;
  throw redirectError(
    'a redirect URI must be https, or http on a loopback host (localhost, 127.0.0.1, [::1]) with any port (RFC 8252 7.3)',
  );
}

/**
 * True when `requested` is one of `registered`: exactly, or, for loopback http, the same URI on another
 * port (RFC 8252 7.3: a native client's port is chosen when it runs). Nothing else, so the issuer never
 * redirects anywhere a client did not register.
 */
export function redirectUriMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let asked: URL;
  try {
    asked = new URL(requested);
  } catch {
    return false;
  }
  if (asked.protocol !== 'http:' || !LOOPBACK_HOSTS.has(asked.hostname) || requested.includes('#')) return false;
  return registered.some((r) => {
    const reg = new URL(r);
    if (reg.protocol !== 'http:' || !LOOPBACK_HOSTS.has(reg.hostname)) return false;
    const samePortAsked = new URL(requested);
    samePortAsked.port = reg.port;
    return samePortAsked.href === reg.href;
  });
}

const stringList = (value: unknown, field: string): string[] | undefined => {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw metadataError(`${field} must be an array of strings`);
  }
  return value as string[];
};

/** The metadata a registration request may set, checked and completed; other fields are ignored. */
export function checkRegistration(
  body: unknown,
  allowedScopes: readonly string[],
): Omit<RegisteredClient, 'client_id' | 'client_id_issued_at'> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw metadataError('the registration body must be a JSON object');
  }
  const m = body as Record<string, unknown>;
  const method = m.token_endpoint_auth_method;
  // RFC 7591 would default to client_secret_basic; this issuer has public clients only and says so in the answer.
  if (method !== undefined && method !== 'none') {
    throw metadataError(
      "token_endpoint_auth_method must be 'none': the dev issuer registers public clients only (PKCE, no client secret)",
    );
  }
  const redirectUris = stringList(m.redirect_uris, 'redirect_uris');
  if (!redirectUris || redirectUris.length === 0) throw redirectError('redirect_uris is required (at least one)');
  if (redirectUris.length > MAX_REDIRECT_URIS) throw redirectError(`at most ${MAX_REDIRECT_URIS} redirect URIs`);
  redirectUris.forEach(checkDynamicRedirectUri);
  const grantTypes = stringList(m.grant_types, 'grant_types') ?? ['authorization_code'];
  if (!grantTypes.includes('authorization_code') || grantTypes.some((g) => !GRANT_TYPES.has(g))) {
    throw metadataError("grant_types must include 'authorization_code' and may add 'refresh_token', nothing else");
  }
  const responseTypes = stringList(m.response_types, 'response_types') ?? ['code'];
  if (responseTypes.length === 0 || responseTypes.some((r) => r !== 'code')) {
    throw metadataError("response_types may only be ['code']");
  }
  const name = m.client_name;
  if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH)) {
    throw metadataError(`client_name must be a string of at most ${MAX_NAME_LENGTH} characters`);
  }
  let scope: string | undefined;
  if (m.scope !== undefined) {
    if (typeof m.scope !== 'string') throw metadataError('scope must be a space-separated string');
    const asked = m.scope.split(' ').filter(Boolean);
    if (asked.some((s) => !SCOPE_TOKEN.test(s))) throw metadataError('scope holds a value that is not a scope token');
    const allowed = new Set([...CLIENT_ONLY_SCOPES, ...allowedScopes]);
    const unknown = asked.filter((s) => !allowed.has(s));
    if (unknown.length > 0) {
      throw metadataError(`scope may only name: ${[...allowed].join(' ')} (refused: ${unknown.join(' ')})`);
    }
    scope = [...new Set(asked)].join(' ') || undefined;
  }
  return {
    redirect_uris: [...new Set(redirectUris)],
    grant_types: [...new Set(grantTypes)],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...(typeof name === 'string' && name.trim() ? { client_name: name.trim() } : {}),
    ...(scope ? { scope } : {}),
  };
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/json')) {
      reject(metadataError('the registration body must be application/json'));
      req.resume();
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > MAX_REGISTRATION_BYTES) {
        refused = true;
        reject(
          new OAuthError(
            'invalid_client_metadata',
            `the registration body is larger than ${MAX_REGISTRATION_BYTES} bytes`,
            413,
          ),
        );
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (refused) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(metadataError('the registration body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** The registered clients, in registration order, persisted in the state directory. */
export class DynamicClientStore {
  readonly #clients = new Map<string, RegisteredClient>();
  readonly #writer: SerialWriter;
  /** Told when a client is evicted (its refresh tokens go with it). */
  onEvict: (clientId: string) => void = () => {};

  private constructor(path: string) {
    this.#writer = new SerialWriter(path, () => ({ version: 1, clients: [...this.#clients.values()] }));
  }

  /** Loads the clients registered before (entries that no longer pass the checks are dropped). */
  static async open(path: string): Promise<DynamicClientStore> {
    const store = new DynamicClientStore(path);
    const saved = (await readJson(path)) as { clients?: unknown } | undefined;
    for (const c of Array.isArray(saved?.clients) ? (saved.clients as RegisteredClient[]) : []) {
      try {
        const checked = checkRegistration(c, (c.scope ?? '').split(' ').filter(Boolean));
        if (typeof c.client_id === 'string' && Number.isInteger(c.client_id_issued_at)) {
          store.#clients.set(c.client_id, {
            client_id: c.client_id,
            client_id_issued_at: c.client_id_issued_at,
            ...checked,
          });
        }
      } catch {
        // A hand-edited or older entry: the client registers again.
      }
    }
    while (store.#clients.size > MAX_DYNAMIC_CLIENTS)
      store.#clients.delete(store.#clients.keys().next().value as string);
    return store;
  }

  get(clientId: string): RegisteredClient | undefined {
    return this.#clients.get(clientId);
  }

  get size(): number {
    return this.#clients.size;
  }

  async register(metadata: Omit<RegisteredClient, 'client_id' | 'client_id_issued_at'>): Promise<RegisteredClient> {
    const client: RegisteredClient = {
      client_id: `dyn-${randomBytes(12).toString('base64url')}`,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      ...metadata,
    };
    while (this.#clients.size >= MAX_DYNAMIC_CLIENTS) {
      const oldest = this.#clients.keys().next().value as string;
      this.#clients.delete(oldest);
      this.onEvict(oldest);
    }
    this.#clients.set(client.client_id, client);
    await this.#writer.save();
    return client;
  }

  /** POST /register: 201 with the client, or an RFC 7591 error body. */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    allowedScopes: readonly string[],
    cors: Record<string, string> = {},
  ): Promise<void> {
    const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache', ...cors };
    try {
      const client = await this.register(checkRegistration(await readJsonBody(req), allowedScopes));
      res.writeHead(201, headers).end(JSON.stringify(client));
    } catch (err) {
      const e =
        err instanceof OAuthError ? err : new OAuthError('server_error', 'the client could not be registered', 500);
      res.writeHead(e.status, headers).end(JSON.stringify({ error: e.error, error_description: e.description }));
    }
  }
}
