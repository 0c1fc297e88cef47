/**
 * The dev issuer's token endpoint (/token): redeems an authorization code once, for the client, redirect
 * URI and PKCE verifier it was issued with, or (with self-registration) rotates a refresh token
 * (`refresh.ts`), and answers with an access token minted for the grant. CORS is answered only for the
 * origins of registered redirect URIs. Codes, verifiers and tokens never appear in an error message.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientView, DevDynamicClients, DevGrant } from './clients.js';
import { CLIENT_ONLY_SCOPES } from './dynamic.js';
import { redeemRefreshToken } from './refresh.js';
import { OAuthError, readForm } from './support.js';

export const ACCESS_TOKEN_TTL_SECONDS = 3600;

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** A code handed to the client's redirect URI, waiting to be redeemed here. */
export interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  grant: DevGrant;
  expires: number;
}

/** What the token endpoint takes from the authorization server that issued the codes. */
export interface TokenEndpointContext {
  codes: Map<string, IssuedCode>;
  dynamic: DevDynamicClients | undefined;
  client: (clientId: string) => ClientView | undefined;
  mint: (grant: DevGrant, ttlSeconds: number) => Promise<string>;
  /** The origins of every registered redirect URI: the only ones the token endpoint answers CORS for. */
  origins: () => Set<string>;
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/** Answers a request to /token: the CORS preflight, a POST, or 405. */
export async function handleTokenRequest(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: TokenEndpointContext,
): Promise<void> {
  const origin = req.headers.origin;
  const cors: Record<string, string> =
    origin && ctx.origins().has(origin) ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
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
    await token(req, res, cors, ctx);
  }
}

function accessTtl(client: ClientView | undefined, dynamic: DevDynamicClients | undefined): number {
  return client?.registered
    ? (dynamic?.options.accessTokenTtlSeconds ?? ACCESS_TOKEN_TTL_SECONDS)
    : ACCESS_TOKEN_TTL_SECONDS;
}

async function token(
  req: IncomingMessage,
  res: ServerResponse,
  cors: Record<string, string>,
  ctx: TokenEndpointContext,
): Promise<void> {
  const headers = { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' };
  try {
    const form = await readForm(req);
    const grantType = form.get('grant_type');
    let grant: DevGrant;
    let refreshToken: string | undefined;
    if (grantType === 'authorization_code') {
      grant = codeGrant(ctx.codes, form);
      // A self-registered client that asked for refresh tokens starts a new family with this sign-in.
      if (ctx.client(grant.clientId)?.registered?.refresh) refreshToken = ctx.dynamic?.refresh.issue(grant);
    } else if (grantType === 'refresh_token' && ctx.dynamic) {
      const refresh = ctx.dynamic.refresh;
      try {
        ({ grant, refreshToken } = redeemRefreshToken(form, refresh, ctx.client));
      } catch (err) {
        // A family revoked for reuse, or an expired token forgotten, is on disk before the answer.
        await refresh.save().catch(() => {});
        throw err;
      }
    } else {
      throw new OAuthError(
        'unsupported_grant_type',
        `grant_type must be 'authorization_code'${ctx.dynamic ? " or 'refresh_token'" : ''}`,
      );
    }
    const ttl = accessTtl(ctx.client(grant.clientId), ctx.dynamic);
    const accessToken = await ctx.mint(grant, ttl);
    // On disk before it is handed out: a restart never brings back a spent token or loses a new one.
    if (refreshToken) await ctx.dynamic?.refresh.save();
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
function codeGrant(codes: Map<string, IssuedCode>, form: URLSearchParams): DevGrant {
  const codeValue = form.get('code') ?? '';
  const issued = codes.get(codeValue);
  // One use only, whatever happens next: a failed verifier burns the code too.
  codes.delete(codeValue);
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
