/**
 * Refresh tokens for the dev issuer's self-registered clients (OAuth 2.1 4.3, refresh token rotation):
 * each one is single use and answers with a new one from the same family; presenting a spent one revokes
 * the whole family (someone else may hold a copy), so the person signs in again. Only SHA-256 hashes are
 * kept, in the state directory (0600), so tokens survive a restart of the demo without the file being
 * worth stealing. Each expires (default 30 days after it was issued).
 */
import { createHash, randomBytes } from 'node:crypto';
import { CLIENT_ONLY_SCOPES } from './dynamic.js';
import { OAuthError, readJson, SerialWriter } from './support.js';

export const DEFAULT_REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
export const MAX_REFRESH_TOKENS = 2000;

/** What a refresh token stands for: one person's sign-in through one client for one resource. */
export interface RefreshGrant {
  user: string;
  clientId: string;
  scopes: string[];
  resource: string;
}

interface RefreshRecord extends RefreshGrant {
  hash: string;
  family: string;
  /** Epoch milliseconds. */
  expires: number;
  spent: boolean;
}

export type RefreshLookup =
  | { status: 'ok'; record: Readonly<RefreshRecord> }
  | { status: 'unknown' }
  | { status: 'reused' };

const hashOf = (token: string) => createHash('sha256').update(token).digest('base64url');

function isRecord(r: unknown): r is RefreshRecord {
  const x = r as RefreshRecord;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.hash === 'string' &&
    typeof x.family === 'string' &&
    typeof x.user === 'string' &&
    typeof x.clientId === 'string' &&
    typeof x.resource === 'string' &&
    Array.isArray(x.scopes) &&
    x.scopes.every((s) => typeof s === 'string') &&
    typeof x.expires === 'number' &&
    typeof x.spent === 'boolean'
  );
}

export class RefreshTokenStore {
  /** By hash, oldest first. */
  readonly #records = new Map<string, RefreshRecord>();
  readonly #writer: SerialWriter;

  private constructor(
    path: string,
    readonly ttlMs: number,
  ) {
    this.#writer = new SerialWriter(path, () => ({ version: 1, tokens: [...this.#records.values()] }));
  }

  static async open(path: string, ttlSeconds = DEFAULT_REFRESH_TOKEN_TTL_SECONDS): Promise<RefreshTokenStore> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
      throw new Error('refreshTokenTtlSeconds must be a whole number >= 1');
    const store = new RefreshTokenStore(path, ttlSeconds * 1000);
    const saved = (await readJson(path)) as { tokens?: unknown } | undefined;
    const now = Date.now();
    for (const r of Array.isArray(saved?.tokens) ? saved.tokens : []) {
      if (isRecord(r) && r.expires > now) store.#records.set(r.hash, { ...r, scopes: [...r.scopes] });
    }
    return store;
  }

  get size(): number {
    return this.#records.size;
  }

  /**
   * What `token` stands for. A spent token revokes its whole family (reuse means two holders); an expired
   * one is forgotten. Synchronous up to here, so two requests with the same token cannot both pass.
   */
  lookup(token: string, now = Date.now()): RefreshLookup {
    const record = this.#records.get(hashOf(token));
    if (!record) return { status: 'unknown' };
    if (record.spent) {
      this.#revokeFamily(record.family);
      return { status: 'reused' };
    }
    if (record.expires <= now) {
      this.#records.delete(record.hash);
      return { status: 'unknown' };
    }
    return { status: 'ok', record };
  }

  /** Spends `record` and returns its successor in the same family (same grant, a new lifetime). */
  rotate(record: Readonly<RefreshRecord>, now = Date.now()): string {
    const live = this.#records.get(record.hash);
    if (!live || live.spent) throw new Error('refresh token already spent');
    live.spent = true;
    return this.#add(record, record.family, now);
  }

  /** A new family: the first refresh token of a sign-in. */
  issue(grant: RefreshGrant, now = Date.now()): string {
    return this.#add(grant, randomBytes(16).toString('base64url'), now);
  }

  /** Every token a client holds (it was evicted). */
  dropClient(clientId: string): void {
    for (const [k, r] of this.#records) if (r.clientId === clientId) this.#records.delete(k);
  }

  save(): Promise<void> {
    return this.#writer.save();
  }

  #revokeFamily(family: string): void {
    for (const [k, r] of this.#records) if (r.family === family) this.#records.delete(k);
  }

  #add(grant: RefreshGrant, family: string, now: number): string {
    for (const [k, r] of this.#records) if (r.expires <= now) this.#records.delete(k);
    // Bounded: the oldest entries go first (spent ones are kept only to detect reuse).
    while (this.#records.size >= MAX_REFRESH_TOKENS) this.#records.delete(this.#records.keys().next().value as string);
    const token = randomBytes(32).toString('base64url');
    const { user, clientId, scopes, resource } = grant;
    this.#records.set(hashOf(token), {
      hash: hashOf(token),
      family,
      user,
      clientId,
      scopes: [...scopes],
      resource,
      expires: now + this.ttlMs,
      spent: false,
    });
    return token;
  }
}

/** What the token endpoint knows of a client when it redeems a refresh token. */
interface RefreshingClient {
  resources: readonly string[];
  scopes?: readonly string[] | undefined;
  registered?: { refresh: boolean } | undefined;
}

/**
 * grant_type=refresh_token: spends the presented token (single use) and returns its successor with the
 * same grant, or the grant for a narrower scope. Synchronous from lookup to rotation, so one token never
 * rotates twice. Errors are OAuth errors that never hold the token.
 */
export function redeemRefreshToken(
  form: URLSearchParams,
  store: RefreshTokenStore,
  clientOf: (clientId: string) => RefreshingClient | undefined,
): { grant: RefreshGrant; refreshToken: string } {
  const found = store.lookup(form.get('refresh_token') ?? '');
  if (found.status === 'reused') {
    throw new OAuthError(
      'invalid_grant',
      'the refresh token was already used, so every token of that sign-in is now revoked; sign in again',
    );
  }
  if (found.status === 'unknown') {
    throw new OAuthError('invalid_grant', 'the refresh token is unknown, expired or revoked; sign in again');
  }
  const { record } = found;
  if (form.get('client_id') !== record.clientId) {
    throw new OAuthError('invalid_grant', 'the refresh token was issued to another client');
  }
  const client = clientOf(record.clientId);
  if (!client?.registered?.refresh) {
    throw new OAuthError('invalid_grant', 'the client is no longer registered; register and sign in again');
  }
  if (!client.resources.includes(record.resource)) {
    throw new OAuthError(
      'invalid_grant',
      'the dev issuer no longer serves the resource this token was for (did the demo restart on other ports?); sign in again',
    );
  }
  const resource = form.get('resource');
  if (resource !== null && resource !== record.resource) {
    throw new OAuthError('invalid_target', 'resource differs from the one this refresh token was issued for');
  }
  // Scopes the issuer no longer offers drop out; a request may keep or narrow the rest, never widen them.
  const granted = record.scopes.filter((s) => CLIENT_ONLY_SCOPES.has(s) || (client.scopes ?? []).includes(s));
  const asked = form.get('scope');
  const scopes = asked === null ? granted : [...new Set(asked.split(' ').filter(Boolean))];
  if (scopes.some((s) => !granted.includes(s))) {
    throw new OAuthError('invalid_scope', `a refreshed token may carry at most: ${granted.join(' ')}`);
  }
  return {
    refreshToken: store.rotate(record),
    grant: { user: record.user, clientId: record.clientId, scopes, resource: record.resource },
  };
}
