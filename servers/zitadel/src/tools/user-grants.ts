import { ToolError, tupleKey } from '@ravenhelm/kit';
import type { ZGrant, ZitadelBackend } from '../backend.js';
import { pageKeyed, readWhole, type WholePage, type WholeRead } from './keyset.js';

/** Grants read per user, over every organisation; more are not read (and the reader says so). */
export const MAX_USER_GRANTS = 500;

/** A grant as read, with the organisation whose listing showed it (the home one first). */
export interface ReadGrant {
  grant: ZGrant;
  orgId: string;
}

export interface UserGrantsRead {
  /** De-duplicated by grant id, in the order the organisations were read. */
  grants: ReadGrant[];
  /** The home organisation first, then each other allowed one: the order the grants are in. */
  orgs: string[];
  /** Allowed organisations (never the home one) whose listing Zitadel refused or failed: their grants are missing. */
  unreadable: { orgId: string; error: ToolError }[];
  /** More than MAX_USER_GRANTS grants: the rest were not read. */
  cut: boolean;
  /**
   * Organisations whose listing changed while it was read in several calls (WholeRead.shifted): Zitadel pages
   * it by offset with no ORDER BY, so a grant added, removed or rewritten between two calls shifts the rows.
   */
  shifted: string[];
}

/**
 * Every grant of the user a token counts, as Zitadel holds it now (its listing brought up to date first: it
 * lags the writes): those made in the server's organisation and in each other organisation of `allowedOrgIds`
 * (one the MCP project is granted to). Zitadel lists only the grants of the organisation a call acts in
 * (internal/api/grpc/management/user_grant.go, AppendMyOrgQuery), so each is read with its own
 * x-zitadel-orgid. The home organisation's failure is thrown; another's is returned in `unreadable` for the
 * caller to decide (a check fails closed on it, a listing names it).
 */
export async function readUserGrants(
  zitadel: ZitadelBackend,
  userId: string,
  allowedOrgIds: readonly string[],
  signal: AbortSignal,
): Promise<UserGrantsRead> {
  await zitadel.syncUserGrants(userId, signal);
  const home = await zitadel.homeOrgId(signal);
  const orgs = [home, ...new Set(allowedOrgIds.filter((o) => o !== home))];
  const found: UserGrantsRead = { grants: [], orgs, unreadable: [], cut: false, shifted: [] };
  const seen = new Set<string>();
  for (const orgId of orgs) {
    let read: WholeRead<ZGrant>;
    try {
      read = await readWhole(
        (window) => zitadel.listUserGrants({ userId }, window, signal, orgId === home ? undefined : orgId),
        (g, n) => g.id || `${orgId}:${n}`,
        MAX_USER_GRANTS - found.grants.length,
      );
    } catch (err) {
      // the home organisation's grants are the answer itself; a cancelled call is no organisation's failing
      if (orgId === home || !(err instanceof ToolError) || signal.aborted) throw err;
      found.unreadable.push({ orgId, error: err });
      continue;
    }
    for (const grant of read.items) {
      if (grant.id && seen.has(grant.id)) continue;
      seen.add(grant.id);
      found.grants.push({ grant, orgId });
    }
    if (read.shifted) found.shifted.push(orgId);
    if (read.cut) {
      found.cut = true;
      break;
    }
  }
  return found;
}

/** One page of a user's grants, after the cursor's position, with the cursor of the next. */
export interface GrantPage<O> extends WholePage<O> {
  unreadableOrgs: string[];
}

/**
 * The user's grants over every allowed organisation, read whole (up to MAX_USER_GRANTS) on every page and
 * paged here by key (the kit's pageByKey), so a page neither repeats nor skips a grant that was there on both
 * reads. The key is the organisation's place in the read (the home one first), then the grant's id. Whatever
 * the page cannot show is said in `notes`: an organisation that could not be read (named, with Zitadel's
 * answer: a partial list is more use to a reader than an error, and the checks that must not run on one use
 * allGrants), grants beyond the bound, a listing that changed while it was read, and a set of grants that
 * changed since the cursor's page (one added before the cursor's position is then not shown).
 */
export async function userGrantsPage<O>(
  zitadel: ZitadelBackend,
  userId: string,
  allowedOrgIds: readonly string[],
  page: { limit: number; cursor?: string | undefined; maxBytes: number; show: (g: ReadGrant) => O },
  signal: AbortSignal,
): Promise<GrantPage<O>> {
  let found = await readUserGrants(zitadel, userId, allowedOrgIds, signal);
  if (found.shifted.length > 0) found = await readUserGrants(zitadel, userId, allowedOrgIds, signal);
  const notes: string[] = [];
  for (const { orgId, error } of found.unreadable) {
    notes.push(
      `grants made in organisation ${orgId} (allowed: they count in tokens) are not shown: Zitadel did not list them (${error.code}: ${error.message})`,
    );
  }
  if (found.cut) {
    notes.push(
      `user ${userId} has more than ${MAX_USER_GRANTS} grants: only the first ${MAX_USER_GRANTS} read are listed; review the rest in Zitadel`,
    );
  }
  if (found.shifted.length > 0) {
    notes.push(
      `the grants of organisation ${found.shifted.join(', ')} changed while they were read: one may be missing; repeat the call`,
    );
  }
  const entries = found.grants.map((g, n) => {
    const at = String(Math.max(0, found.orgs.indexOf(g.orgId))).padStart(4, '0');
    // a grant listed without an id (none should be) gets a key no id can take: tupleKey escapes every NUL in
    // a part, so (at, id) never equals (at, '\uffff', n)
    return { key: g.grant.id ? tupleKey(at, g.grant.id) : tupleKey(at, '\uffff', String(n)), item: page.show(g) };
  });
  const keyed = pageKeyed(entries, {
    tool: 'users_list_grants',
    bind: userId,
    cursor: page.cursor,
    limit: page.limit,
    maxBytes: page.maxBytes,
    notes,
    what: "the user's grants",
  });
  return { ...keyed, total: found.grants.length, unreadableOrgs: found.unreadable.map((u) => u.orgId) };
}
