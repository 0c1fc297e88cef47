import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { DevAuthorizationServer, type DevDynamicClients, type DevOAuthClient } from './authorize.js';
import { CLIENT_ONLY_SCOPES, DynamicClientStore, type DynamicClientsOptions } from './dynamic.js';
import { RefreshTokenStore } from './refresh.js';
import { readJson, writePrivate } from './support.js';

/** Where dev state lives, relative to the working directory. */
export const DEFAULT_DEV_STATE_DIR = '.ravenhelm/dev';
export const DEFAULT_DEV_ISSUER_PORT = 9400;
/** The organisation id used in Zitadel-style role claims minted by the dev issuer. */
export const DEV_ORG_ID = 'ravenhelm-dev';
/** The project id whose role claim the dev issuer writes (configure it as the authenticator's `projectId`). */
export const DEV_PROJECT_ID = 'ravenhelm-dev-project';

const KEY_FILE = 'issuer-key.jwk';
const STATE_FILE = 'issuer.json';
/** Self-registered clients (RFC 7591) and refresh-token hashes, kept across restarts. */
const CLIENTS_FILE = 'dynamic-clients.json';
const REFRESH_FILE = 'refresh-tokens.json';
const MAX_TTL_SECONDS = 24 * 60 * 60;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface MintTokenOptions {
  /** Agent name: becomes `sub` and `client_id`. */
  agent: string;
  /** Space-separated string or a list. */
  scope: string | readonly string[];
  /** The resource URI(s) of the MCP server(s) the token is for. */
  audience: string | readonly string[];
  /** Default 3600, at most 86400. */
  ttlSeconds?: number;
  /** Zitadel-style project roles: `urn:zitadel:iam:org:project:ravenhelm-dev-project:roles: { role: { ravenhelm-dev: ... } }`. */
  roles?: readonly string[];
  /** RFC 8705 binding: base64url SHA-256 of the client certificate's DER (`cnf["x5t#S256"]`). */
  certThumbprint?: string;
  /** Overrides the issuer recorded by the last `listen` (tokens must name the issuer the server trusts). */
  issuer?: string;
  /** The `client_id` claim when it differs from the agent (a person signed in through a client). */
  clientId?: string;
}

/** What `listen` serves besides discovery and the JWKS. */
export interface DevListenOptions {
  port?: number;
  host?: string;
  /** Public clients allowed to sign people in (authorization code + PKCE); none: every /authorize is refused. */
  clients?: readonly DevOAuthClient[];
  /** Dev user names suggested on the login page (default ops-alice, sec-bob). */
  users?: readonly string[];
  /**
   * Dynamic client registration (RFC 7591) and refresh tokens, so MCP clients sign people in by themselves:
   * which resources and scopes a self-registered client may get tokens for. Absent: no registration endpoint.
   * Registered clients and refresh-token hashes are kept in the state directory.
   */
  dynamicClients?: DynamicClientsOptions;
}

/** `mint()` options: the same token as `mintToken`, with scopes as a list and the binding named after `cnf`. */
export interface MintOptions {
  /** Agent name: becomes `sub` and `client_id`. */
  agent: string;
  scopes: readonly string[];
  /** The resource URI(s) of the MCP server(s) the token is for. */
  audience: string | readonly string[];
  /** Default 3600, at most 86400. */
  ttlSeconds?: number;
  roles?: readonly string[];
  /** RFC 8705 `cnf["x5t#S256"]`: base64url SHA-256 of the client certificate's DER. */
  cnfThumbprint?: string;
  issuer?: string;
}

/** Refuses dynamic-client options that could not work (no resource, a resource that is not a URL, a bad scope). */
function checkDynamicOptions(o: DynamicClientsOptions): void {
  if (o.resources.length === 0) throw new Error('dynamicClients.resources needs at least one resource URI');
  for (const r of o.resources) {
    try {
      new URL(r);
    } catch {
      throw new Error(`dynamicClients.resources: '${r}' is not an absolute URI`);
    }
  }
  if (o.scopes.some((s) => !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) {
    throw new Error('dynamicClients.scopes: each scope must be one scope token (no spaces or quotes)');
  }
  const ttl = o.accessTokenTtlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new Error('dynamicClients.accessTokenTtlSeconds must be 1..86400');
  }
}

/**
 * A development-only token issuer: one ES256 key kept in the state directory (mode 0600), a discovery
 * document and a JWKS served on loopback, and JWT access tokens (RFC 9068 shape, `typ: at+jwt`) minted
 * for named agents. Point `createOAuthAuthenticator({ issuer })` at it and the demo runs with real
 * signature checks. Never use it for anything but local development.
 */
export class DevIssuer {
  readonly stateDir: string;
  readonly kid: string;
  readonly #privateKey: CryptoKey;
  readonly #publicJwk: JWK;
  #issuer: string | undefined;
  #server: Server | undefined;
  #authorization: DevAuthorizationServer | undefined;

  private constructor(stateDir: string, kid: string, privateKey: CryptoKey, publicJwk: JWK, issuer?: string) {
    this.stateDir = stateDir;
    this.kid = kid;
    this.#privateKey = privateKey;
    this.#publicJwk = publicJwk;
    this.#issuer = issuer;
  }

  /**
   * Loads the signing key from the state directory, creating it (and the directory, mode 0700) on first use;
   * with `create: false` (minting a token for an issuer that already runs) a missing key is an error, not a
   * new key nobody's server trusts, written wherever the command ran.
   */
  static async open(opts: { stateDir?: string; create?: boolean } = {}): Promise<DevIssuer> {
    const stateDir = resolve(opts.stateDir ?? DEFAULT_DEV_STATE_DIR);
    const keyPath = join(stateDir, KEY_FILE);
    if (opts.create === false && (await readJson(keyPath)) === undefined) {
      throw new Error(
        `no dev issuer key in ${stateDir}: start the dev issuer first (dev-issuer, or npm run demo), or pass --state with its state directory`,
      );
    }
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    let jwk = (await readJson(keyPath)) as JWK | undefined;
    if (!jwk) {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      jwk = await exportJWK(privateKey);
      await writePrivate(keyPath, `${JSON.stringify(jwk)}\n`);
    }
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string') {
      throw new Error(`${keyPath} does not hold an ES256 private key`);
    }
    const { d: _d, ...publicJwk } = jwk;
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateKey = (await importJWK(jwk, 'ES256')) as CryptoKey;
    const state = (await readJson(join(stateDir, STATE_FILE))) as { issuer?: unknown } | undefined;
    const issuer = typeof state?.issuer === 'string' ? state.issuer : undefined;
    return new DevIssuer(stateDir, kid, privateKey, { ...publicJwk, kid, alg: 'ES256', use: 'sig' }, issuer);
  }

  /** The issuer URL of the running server, or the one recorded by the last `listen` in this state directory. */
  get issuer(): string | undefined {
    return this.#issuer;
  }

  get jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.#publicJwk }] };
  }

  /**
   * Serves discovery and the JWKS on loopback, and a browser login (authorization code + PKCE) for the
   * registered `clients` and, with `dynamicClients`, for clients that register themselves (RFC 7591) and
   * refresh their tokens; port 0 picks a free one. Records the issuer in the state dir.
   */
  async listen(opts: DevListenOptions = {}): Promise<{ issuer: string; jwksUri: string }> {
    if (this.#server) throw new Error('the dev issuer is already listening');
    const host = opts.host ?? '127.0.0.1';
    if (!LOOPBACK.has(host)) throw new Error('the dev issuer listens on loopback only');
    let dynamic: DevDynamicClients | undefined;
    if (opts.dynamicClients) {
      checkDynamicOptions(opts.dynamicClients);
      dynamic = {
        options: opts.dynamicClients,
        clients: await DynamicClientStore.open(join(this.stateDir, CLIENTS_FILE)),
        refresh: await RefreshTokenStore.open(
          join(this.stateDir, REFRESH_FILE),
          opts.dynamicClients.refreshTokenTtlSeconds,
        ),
      };
    }
    const authorization = new DevAuthorizationServer({
      clients: opts.clients ?? [],
      ...(opts.users ? { users: opts.users } : {}),
      dynamic,
      mint: (grant, ttlSeconds) =>
        this.mintToken({
          agent: grant.user,
          clientId: grant.clientId,
          scope: grant.scopes.filter((s) => !CLIENT_ONLY_SCOPES.has(s)),
          audience: grant.resource,
          ttlSeconds,
        }),
    });
    const server = createServer((req, res) => {
      // DNS rebinding: a web page whose host name now resolves to 127.0.0.1 reads this server same-origin, and the
      // dev login has no password. Only the loopback names this server listens on are its Host.
      const port = (server.address() as AddressInfo).port;
      const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
      if (!allowed.includes((req.headers.host ?? '').toLowerCase())) {
        res
          .writeHead(421, { 'content-type': 'text/plain; charset=utf-8' })
          .end(
            `The dev issuer answers only to its loopback names (${allowed.join(', ')}): open it through one of those, not another host name.\n`,
          );
        return;
      }
      const url = new URL(req.url ?? '/', 'http://dev-issuer');
      authorization
        .handle(req, res, url)
        .then((handled) => {
          if (!handled) this.#serveDocument(req, res, url.pathname);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        });
    });
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? DEFAULT_DEV_ISSUER_PORT, host, () => resolveListen());
    });
    this.#server = server;
    this.#authorization = authorization;
    const { port } = server.address() as AddressInfo;
    this.#issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    await writePrivate(join(this.stateDir, STATE_FILE), `${JSON.stringify({ issuer: this.#issuer, kid: this.kid })}\n`);
    return { issuer: this.#issuer, jwksUri: `${this.#issuer}/jwks` };
  }

  /** Discovery and the JWKS: public documents, readable cross-origin (the approvals console fetches them). */
  #serveDocument(req: IncomingMessage, res: ServerResponse, path: string): void {
    const body =
      path === '/jwks'
        ? this.jwks
        : path === '/.well-known/openid-configuration' || path === '/.well-known/oauth-authorization-server'
          ? this.#metadata()
          : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    if (!body) return void res.writeHead(404).end();
    res
      .writeHead(200, {
        'content-type': 'application/json',
        'cache-control': 'max-age=60',
        'access-control-allow-origin': '*',
      })
      .end(JSON.stringify(body));
  }

  /** Alias of `listen`: serves discovery and the JWKS on loopback (default port 9400; 0 picks a free one). */
  start(opts: DevListenOptions = {}): Promise<{ issuer: string; jwksUri: string }> {
    return this.listen(opts);
  }

  #metadata(): Record<string, unknown> {
    return {
      issuer: this.#issuer,
      jwks_uri: `${this.#issuer}/jwks`,
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
      ...(this.#authorization?.metadata(this.#issuer as string) ?? {}),
    };
  }

  /** A signed JWT access token for an agent. */
  async mintToken(opts: MintTokenOptions): Promise<string> {
    const issuer = opts.issuer ?? this.#issuer;
    if (!issuer) throw new Error('no issuer known: start the dev issuer first (dev-issuer) or pass an issuer');
    if (!NAME.test(opts.agent)) throw new Error('agent name must be 1-63 characters of letters, digits, ".", "_", "-"');
    const ttl = opts.ttlSeconds ?? 3600;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) throw new Error('ttl must be 1..86400 seconds');
    const scope = (typeof opts.scope === 'string' ? opts.scope.split(' ') : [...opts.scope]).filter(Boolean).join(' ');
    const audience = typeof opts.audience === 'string' ? [opts.audience] : [...opts.audience];
    if (audience.length === 0 || audience.some((a) => a.length === 0)) throw new Error('an audience is required');
    if (opts.clientId !== undefined && !NAME.test(opts.clientId)) throw new Error('client id must be a plain name');
    const claims: Record<string, unknown> = { client_id: opts.clientId ?? opts.agent, scope };
    if (opts.roles && opts.roles.length > 0) {
      // As Zitadel asserts them: the generic claim and the per-project claim (the only one that counts).
      const roles = Object.fromEntries(opts.roles.map((role) => [role, { [DEV_ORG_ID]: 'ravenhelm.local' }]));
      claims['urn:zitadel:iam:org:project:roles'] = roles;
      claims[`urn:zitadel:iam:org:project:${DEV_PROJECT_ID}:roles`] = roles;
    }
    if (opts.certThumbprint) claims.cnf = { 'x5t#S256': opts.certThumbprint };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: this.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject(opts.agent)
      .setAudience(audience.length === 1 ? (audience[0] as string) : audience)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .setJti(randomUUID())
      .sign(this.#privateKey);
  }

  /** A signed JWT access token for an agent (`mintToken` with the options named as in the CLI docs). */
  mint(opts: MintOptions): Promise<string> {
    const { scopes, cnfThumbprint, ...rest } = opts;
    return this.mintToken({ ...rest, scope: scopes, ...(cnfThumbprint ? { certThumbprint: cnfThumbprint } : {}) });
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.#authorization = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  }
}
