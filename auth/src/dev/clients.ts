/**
 * The clients the dev issuer signs people in for, whichever way they were registered, and the grant a
 * sign-in produces. Shared by the authorization endpoint (`authorize.ts`), its pages (`pages.ts`) and
 * the token endpoint (`token-endpoint.ts`).
 */
import type { DynamicClientStore, DynamicClientsOptions } from './dynamic.js';
import type { RefreshTokenStore } from './refresh.js';
import { LOOPBACK_HOSTS } from './support.js';

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

/** Self-registration and refresh tokens (absent: only the clients given at start sign people in). */
export interface DevDynamicClients {
  options: DynamicClientsOptions;
  clients: DynamicClientStore;
  refresh: RefreshTokenStore;
}

/** A client as /authorize and /token see it, whichever way it was registered. */
export interface ClientView extends DevOAuthClient {
  /** Self-registered: its name, if it gave one, and whether it gets refresh tokens. */
  registered?: { name: string | undefined; refresh: boolean; scope: string | undefined };
}

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
