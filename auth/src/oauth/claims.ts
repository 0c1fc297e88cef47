import { createHash } from 'node:crypto';
import { AuthError } from '../errors.js';
import type { AuthRequest, Principal } from '../principal.js';
import { type ResolvedOAuthConfig, SCOPE_TOKEN } from './config.js';

const MAX_SCOPES = 256;

/** What the authenticator keeps about a verified token (cached until `expiresAt`). */
export interface VerifiedToken {
  subject: string;
  clientId?: string | undefined;
  scopes: string[];
  roles: string[];
  expiresAt: number;
  issuer: string;
  /** RFC 8705 `cnf["x5t#S256"]`, when the token is certificate-bound. */
  certThumbprint?: string | undefined;
}

function invalid(message: string): AuthError {
  return new AuthError('ERR_TOKEN_INVALID', message);
}

/** True for a value that can be one scope: never whitespace, quotes, backslashes or control characters. */
export function isScopeToken(value: string): boolean {
  return SCOPE_TOKEN.test(value);
}

/**
 * `scope` as a space-separated string (RFC 9068, Zitadel) or `scp` as an array (Entra, Okta).
 * Every value must be an RFC 6749 scope-token: an `scp` entry such as `"mcp:a:read mcp:b:read"`
 * would otherwise read as one scope here and as two anywhere the list is joined with spaces.
 */
export function parseScopes(claims: Record<string, unknown>): string[] {
  const out = new Set<string>();
  const add = (value: string, claim: string) => {
    if (value.length === 0) return;
    if (!isScopeToken(value)) {
      throw invalid(`"${claim}" holds a value that is not a single scope (whitespace, quote or control character)`);
    }
    out.add(value);
  };
  const { scope, scp } = claims;
  if (typeof scope === 'string') {
    for (const s of scope.split(' ')) add(s, 'scope');
  } else if (scope !== undefined) {
    throw invalid('"scope" claim must be a space-separated string');
  }
  if (Array.isArray(scp)) {
    for (const s of scp) {
      if (typeof s !== 'string') throw invalid('"scp" claim must be an array of strings');
      add(s, 'scp');
    }
  } else if (typeof scp === 'string') {
    for (const s of scp.split(' ')) add(s, 'scp');
  } else if (scp !== undefined) {
    throw invalid('"scp" claim must be an array of strings');
  }
  if (out.size > MAX_SCOPES) throw invalid(`token carries more than ${MAX_SCOPES} scopes`);
  return [...out];
}

/** The claim carrying one project's roles: `urn:zitadel:iam:org:project:{projectId}:roles`. */
export function zitadelRolesClaim(projectId: string): string {
  return `urn:zitadel:iam:org:project:${projectId}:roles`;
}

/**
 * Zitadel project roles, `{ role: { orgId: orgDomain } }`, read only from the configured project's
 * claim `urn:zitadel:iam:org:project:{projectId}:roles`. The generic `urn:zitadel:iam:org:project:roles`
 * and every other project's claim are ignored: a token whose audience lists several projects carries
 * each project's roles, and a role named like ours in someone else's project must not count.
 * Without a project id no role counts. With `allowedOrgIds`, a role counts only when one of those
 * organisations granted it. Malformed role claims are ignored, never trusted.
 */
export function parseZitadelRoles(
  claims: Record<string, unknown>,
  opts: { projectId?: string | undefined; allowedOrgIds?: readonly string[] | undefined },
): string[] {
  if (!opts.projectId) return [];
  const name = zitadelRolesClaim(opts.projectId);
  if (!Object.hasOwn(claims, name)) return [];
  const value = claims[name];
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  const roles = new Set<string>();
  const allowed = opts.allowedOrgIds;
  for (const [role, orgs] of Object.entries(value as Record<string, unknown>)) {
    if (!orgs || typeof orgs !== 'object' || Array.isArray(orgs)) continue;
    const orgIds = Object.keys(orgs);
    if (orgIds.length === 0) continue;
    if (allowed && !orgIds.some((id) => allowed.includes(id))) continue;
    roles.add(role);
  }
  return [...roles];
}

export function scopesFromRoles(roles: readonly string[], roleScopes: Readonly<Record<string, string[]>>): string[] {
  return roles.flatMap((role) => (Object.hasOwn(roleScopes, role) ? (roleScopes[role] ?? []) : []));
}

/** Audience check shared by JWT and introspection results: `aud` must name us. */
export function checkAudience(aud: unknown, accepted: readonly string[]): void {
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!list.some((a) => typeof a === 'string' && accepted.includes(a))) {
    throw new AuthError('ERR_TOKEN_AUDIENCE', 'token audience does not include this resource');
  }
}

/** Reads the token-binding confirmation (RFC 8705); refuses confirmation methods we cannot check. */
export function certThumbprintOf(claims: Record<string, unknown>): string | undefined {
  const { cnf } = claims;
  if (cnf === undefined) return undefined;
  if (!cnf || typeof cnf !== 'object' || Array.isArray(cnf)) throw invalid('"cnf" claim must be an object');
  const entries = Object.entries(cnf as Record<string, unknown>);
  const thumb = (cnf as Record<string, unknown>)['x5t#S256'];
  if (thumb !== undefined && typeof thumb !== 'string') throw invalid('"cnf.x5t#S256" must be a string');
  if (entries.some(([k]) => k !== 'x5t#S256')) {
    // e.g. DPoP "jkt": a proof-of-possession token must not be accepted as a plain bearer token.
    throw new AuthError('ERR_TOKEN_BINDING', 'token is bound with a confirmation method this server does not support');
  }
  return thumb;
}

/** Builds the cached view of a token from claims that already passed signature/introspection checks. */
export function toVerifiedToken(claims: Record<string, unknown>, config: ResolvedOAuthConfig): VerifiedToken {
  const clientIdClaim = claims.client_id ?? claims.azp;
  if (clientIdClaim !== undefined && typeof clientIdClaim !== 'string') throw invalid('"client_id" must be a string');
  const sub = claims.sub ?? clientIdClaim;
  if (typeof sub !== 'string' || sub.length === 0) throw invalid('token has no subject');
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) throw invalid('"exp" must be a number');
  const roles = parseZitadelRoles(claims, config);
  const scopes = [...new Set([...parseScopes(claims), ...scopesFromRoles(roles, config.roleScopes)])];
  return {
    subject: sub,
    clientId: clientIdClaim,
    scopes,
    roles,
    expiresAt: claims.exp,
    issuer: config.issuer,
    certThumbprint: certThumbprintOf(claims),
  };
}

/** base64url(sha256(DER)): the RFC 8705 `x5t#S256` of a certificate. */
export function certificateThumbprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64url');
}

/**
 * Matches a SPIFFE ID against a pattern: exact, or a last segment `*` (exactly one more segment)
 * or `**` (one or more). Same syntax as the registry's allowlists; kept local so auth does not
 * import the registry.
 */
export function spiffePatternMatches(pattern: string, id: string): boolean {
  if (pattern === id) return true;
  const wildcard = pattern.endsWith('/**') ? '**' : pattern.endsWith('/*') ? '*' : undefined;
  if (!wildcard) return false;
  const prefix = pattern.slice(0, -wildcard.length);
  if (!id.startsWith(prefix)) return false;
  const rest = id.slice(prefix.length).split('/');
  if (rest.some((segment) => segment.length === 0)) return false;
  return wildcard === '**' || rest.length === 1;
}

/** Per-request checks that depend on the connection, not only on the token: RFC 8705 and SPIFFE bindings. */
export function toPrincipal(token: VerifiedToken, req: AuthRequest, config: ResolvedOAuthConfig): Principal {
  if (token.certThumbprint !== undefined) {
    if (!req.peerCertificate || certificateThumbprint(req.peerCertificate) !== token.certThumbprint) {
      throw new AuthError(
        'ERR_TOKEN_BINDING',
        'token is bound to a client certificate this connection did not present',
      );
    }
  }
  const bindings = config.spiffeBindings;
  for (const key of [token.clientId, token.subject]) {
    if (key === undefined || !Object.hasOwn(bindings, key)) continue;
    const patterns = bindings[key] ?? [];
    if (!req.peerSpiffeId || !patterns.some((p) => spiffePatternMatches(p, req.peerSpiffeId as string))) {
      throw new AuthError('ERR_TOKEN_BINDING', 'token is bound to a SPIFFE ID this connection did not present');
    }
  }
  return {
    subject: token.subject,
    clientId: token.clientId,
    scopes: [...token.scopes],
    roles: [...token.roles],
    expiresAt: token.expiresAt,
    issuer: token.issuer,
    spiffeId: req.peerSpiffeId,
    source: 'oauth',
  };
}
