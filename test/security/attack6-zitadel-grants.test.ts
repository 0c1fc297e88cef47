/**
 * Attack round 6 on the Zitadel server, from outside: reading grants. Zitadel's management ListUserGrants
 * lists only the grants owned by the x-zitadel-orgid organisation (internal/api/grpc/management/user_grant.go,
 * AppendMyOrgQuery), while auth counts grants of every organisation in allowedOrgIds; and it pages by offset
 * with no ORDER BY (ListUserGrantsRequestToQuery sets no sorting column; internal/query/search_query.go orders
 * only by one), so a grant added, removed or changed (Postgres writes the updated row anew) between two pages
 * shifts the rows under an offset. Also keys_list on expired keys. Through the real bin over stdio with the
 * SDK Client.
 */

import { describe, expect, it } from 'vitest';
import { nextId } from '../simulators/zitadel-proto.js';
import { callTool, type StdioSession, useZitadelSession, type ZitadelFixture } from '../zitadel/harness.js';

// Home and Contractors both allowed.
const session = useZitadelSession({ allowOtherOrg: true });
const start = () => ({ fx: session.fx, s: session.s });

/** Runs `check` with the server's account managing its own organisation only, then restores it. */
async function orgBound(fx: ZitadelFixture, check: () => Promise<void>) {
  fx.sim.orgBoundManagers.add(fx.serviceAccountId);
  try {
    await check();
  } finally {
    fx.sim.orgBoundManagers.delete(fx.serviceAccountId);
  }
}

interface G {
  id: string;
  orgId: string;
  orgName?: string;
  projectId: string;
  roles: string[];
}

/** A service account of the home org with a grant per project id given, made by `orgId` (default: home). */
function withGrants(f: ZitadelFixture, username: string, grants: { projectId: string; orgId?: string }[]) {
  const { userId } = f.sim.addServiceAccount({ username, manager: false });
  const ids = grants.map((g) => {
    const id = nextId();
    f.sim.grants.push({
      id,
      userId,
      projectId: g.projectId,
      orgId: g.orgId ?? f.ids.orgId,
      roleKeys: ['docker.reader'],
    });
    return id;
  });
  return { userId, ids };
}

/** Every page of users_list_grants, `between` run after each page but the last. */
async function allPages(
  session: StdioSession,
  user: string,
  limit: number,
  between?: (page: number, shown: G[]) => unknown,
) {
  const pages: { grants: G[]; notes?: string[] }[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 20; n++) {
    const r = await callTool(session, 'users_list_grants', { user, limit, ...(cursor ? { cursor } : {}) });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    pages.push(r.data as { grants: G[]; notes?: string[] });
    cursor = r.data?.nextCursor as string | undefined;
    expect(r.data?.truncated).toBe(cursor !== undefined);
    if (!cursor) return pages;
    await between?.(n, (r.data as { grants: G[] }).grants);
  }
  throw new Error('users_list_grants did not end');
}

/** Every one of `ids` shown exactly once over the pages. */
function expectEachOnce(pages: { grants: G[] }[], ids: string[]) {
  const seen = pages.flatMap((p) => p.grants.map((g) => g.id));
  expect(seen).toHaveLength(ids.length);
  expect([...seen].sort()).toEqual([...ids].sort());
}

describe('users_list_grants over every allowed organisation', () => {
  it('lists the grants another allowed organisation made, naming it', async () => {
    const { fx, s } = start();
    const { userId, ids } = withGrants(fx, 'agent-two-orgs', [
      { projectId: fx.ids.projectId },
      { projectId: fx.ids.projectId, orgId: fx.ids.otherOrgId },
    ]);
    const r = await callTool(s, 'users_list_grants', { user: userId });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    // before: only the home organisation's grant, total 1
    expect(r.data?.total).toBe(2);
    const grants = r.data?.grants as G[];
    expect(grants.map((g) => g.id).sort()).toEqual([...ids].sort());
    expect(grants.find((g) => g.id === ids[1])).toMatchObject({ orgId: fx.ids.otherOrgId, orgName: 'Contractors' });
    expect(r.data).not.toHaveProperty('notes');
  }, 60_000);

  it('pages across organisations with a cursor: each grant once, none left out', async () => {
    const { fx, s } = start();
    const { userId, ids } = withGrants(fx, 'agent-paged', [
      { projectId: 'p-a' },
      { projectId: 'p-b' },
      { projectId: 'p-c', orgId: fx.ids.otherOrgId },
      { projectId: 'p-d', orgId: fx.ids.otherOrgId },
      { projectId: 'p-e' },
    ]);
    const pages = await allPages(s, userId, 2);
    // before: the three home grants only, over two pages
    expectEachOnce(pages, ids);
  }, 60_000);

  it('names an allowed organisation it cannot read and lists the rest (a partial answer, said)', async () => {
    const { fx, s } = start();
    const { userId, ids } = withGrants(fx, 'agent-unread', [
      { projectId: fx.ids.projectId },
      { projectId: fx.ids.projectId, orgId: fx.ids.otherOrgId },
    ]);
    // the server's account manages its own organisation only
    await orgBound(fx, async () => {
      const r = await callTool(s, 'users_list_grants', { user: userId });
      expect(r.isError, r.text.slice(0, 300)).toBe(false);
      expect(((r.data?.grants ?? []) as G[]).map((g) => g.id)).toEqual([ids[0]]);
      // before: the same single grant, and nothing said about Contractors
      expect(r.data?.unreadableOrgs).toEqual([fx.ids.otherOrgId]);
      const notes = r.data?.notes as string[];
      expect(notes.join('\n')).toMatch(
        new RegExp(`grants made in organisation ${fx.ids.otherOrgId} .*are not shown: .*ERR_NOT_ALLOWED`),
      );
      // keys_add still fails closed on the same view
      const key = await callTool(s, 'keys_add', { user: userId });
      expect(key.isError).toBe(true);
    });
  }, 60_000);
});

describe('users_list_grants when grants change between pages', () => {
  it('a grant removed after the first page: no other grant is skipped, and the change is said', async () => {
    const { fx, s } = start();
    const { userId, ids } = withGrants(fx, 'agent-shrinking', [
      { projectId: 'p-1' },
      { projectId: 'p-2' },
      { projectId: 'p-3' },
    ]);
    let removed: string | undefined;
    const pages = await allPages(s, userId, 1, (n, shown) => {
      if (n !== 0) return;
      // the grant just shown goes (another admin revokes it)
      removed = shown[0]?.id;
      fx.sim.grants.splice(
        fx.sim.grants.findIndex((g) => g.id === removed),
        1,
      );
    });
    // before: the grant that moved up to offset 0 was never shown
    expectEachOnce(pages, ids);
    expect(pages[1]?.notes?.join('\n')).toMatch(/grants changed since the previous page/);
  }, 60_000);

  it('a grant changed after the first page (Zitadel then lists its row last): shown once, none skipped', async () => {
    const { fx, s } = start();
    const { userId, ids } = withGrants(fx, 'agent-changing', [
      { projectId: fx.ids.projectId },
      { projectId: 'p-2' },
      { projectId: 'p-3' },
    ]);
    const pages = await allPages(s, userId, 1, async (n) => {
      if (n !== 0) return;
      const changed = await callTool(s, 'roles_grant', { user: userId, roles: ['docker.operator'] });
      expect(changed.data?.changed, changed.text.slice(0, 300)).toBe(true);
    });
    // before: the changed grant shown twice, another never
    expectEachOnce(pages, ids);
  }, 60_000);

  it('grants that keep changing while read (offsets shift): checks refuse to decide, the listing says so', async () => {
    const { fx, s } = start();
    const many = Array.from({ length: 150 }, (_, i) => ({ projectId: `p-many-${i}` }));
    const { userId } = withGrants(fx, 'agent-churning', many);
    let calls = 0;
    // another admin adds a grant while each read is between its first and second page of 100
    fx.sim.beforeGrantList = (orgId) => {
      if (orgId !== fx.ids.orgId || ++calls % 2 !== 0) return;
      fx.sim.grants.unshift({ id: nextId(), userId, projectId: `p-new-${calls}`, orgId, roleKeys: [] });
    };
    try {
      const caps = await callTool(s, 'agents_get_capabilities', { user: userId });
      // before: an answer from a read that listed one grant twice and another never
      expect(caps.text).toMatch(/^ERR_CONFLICT: .*changed while they were read, twice/);
      const listed = await callTool(s, 'users_list_grants', { user: userId });
      expect(listed.isError, listed.text.slice(0, 300)).toBe(false);
      expect((listed.data?.notes as string[] | undefined)?.join('\n')).toMatch(
        new RegExp(`grants of organisation ${fx.ids.orgId} changed while they were read`),
      );
    } finally {
      fx.sim.beforeGrantList = undefined;
    }
  }, 60_000);

  it('a cursor is for the user it was issued for', async () => {
    const { fx, s } = start();
    const a = withGrants(fx, 'agent-cursor-a', [{ projectId: 'p-1' }, { projectId: 'p-2' }]);
    const b = withGrants(fx, 'agent-cursor-b', [{ projectId: 'p-1' }, { projectId: 'p-2' }]);
    const first = await callTool(s, 'users_list_grants', { user: a.userId, limit: 1 });
    const cursor = first.data?.nextCursor as string;
    const other = await callTool(s, 'users_list_grants', { user: b.userId, limit: 1, cursor });
    expect(other.text).toMatch(/^ERR_INVALID_INPUT: cursor belongs to another listing/);
  }, 60_000);
});

describe('projects_list when projects change between pages', () => {
  it('a project removed after the first page: no other project is skipped, and the change is said', async () => {
    const { fx, s } = start();
    const added = ['pl-a', 'pl-b', 'pl-c'].map((name) => ({ id: nextId(), orgId: fx.ids.orgId, name, roles: [] }));
    fx.sim.projects.push(...added);
    const args = { name: 'pl-', limit: 1 };
    const first = await callTool(s, 'projects_list', args);
    const shown = ((first.data?.projects ?? []) as { id: string }[])[0]?.id;
    fx.sim.projects.splice(
      fx.sim.projects.findIndex((p) => p.id === shown),
      1,
    );
    const seen = [shown];
    const notes: string[] = [];
    let cursor = first.data?.nextCursor as string | undefined;
    for (let n = 0; cursor && n < 10; n++) {
      const r = await callTool(s, 'projects_list', { ...args, cursor });
      expect(r.isError, r.text.slice(0, 300)).toBe(false);
      seen.push(...((r.data?.projects ?? []) as { id: string }[]).map((p) => p.id));
      notes.push(...((r.data?.notes ?? []) as string[]));
      cursor = r.data?.nextCursor as string | undefined;
    }
    // before: the project that moved up to offset 0 was never shown
    expect([...seen].sort()).toEqual(added.map((p) => p.id).sort());
    expect(notes.join('\n')).toMatch(/the projects changed since the previous page/);
    // a cursor of one filter is refused for another
    const other = await callTool(s, 'projects_list', { limit: 1, cursor: first.data?.nextCursor });
    expect(other.text).toMatch(/^ERR_INVALID_INPUT: cursor belongs to another listing/);
  }, 60_000);
});

describe('events_list over every allowed organisation', () => {
  it('shows the events of a grant another allowed organisation made, past the grant additions it searches', async () => {
    const { fx, s } = start();
    const { userId } = fx.sim.addServiceAccount({ username: 'agent-partner-events', manager: false });
    const grantId = nextId();
    fx.sim.grants.push({
      id: grantId,
      userId,
      projectId: fx.ids.projectId,
      orgId: fx.ids.otherOrgId,
      roleKeys: ['docker.admin'],
    });
    const on = (grant: string, owner: string) => ({
      aggregateId: grant,
      aggregateType: 'usergrant',
      resourceOwner: owner,
      editorUserId: fx.serviceAccountId,
    });
    fx.sim.record({
      type: 'user.grant.added',
      ...on(grantId, fx.ids.otherOrgId),
      payload: { userId, projectId: fx.ids.projectId, roleKeys: ['docker.admin'] },
    });
    // 3,000 other users' grants added after it: more than events_list searches for removed grants
    for (let i = 0; i < 3000; i++)
      fx.sim.record({
        type: 'user.grant.added',
        ...on(`other-${i}`, fx.ids.orgId),
        payload: { userId: `u${i}`, projectId: 'p1' },
      });
    const r = await callTool(s, 'events_list', { user: userId, categories: ['grants'] });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    // before: no event (the grant is Contractors', so never among the current grants read)
    const events = r.data?.events as { type: string; details?: { grantId?: string } }[];
    expect(events.map((e) => [e.type, e.details?.grantId])).toEqual([['user.grant.added', grantId]]);
  }, 60_000);

  it('names an allowed organisation whose grants it could not list', async () => {
    const { fx, s } = start();
    const { userId } = fx.sim.addServiceAccount({ username: 'agent-events-unread', manager: false });
    await orgBound(fx, async () => {
      const r = await callTool(s, 'events_list', { user: userId });
      expect(r.isError, r.text.slice(0, 300)).toBe(false);
      // before: no note; a grant Contractors made would have been silently left out
      expect((r.data?.notes as string[] | undefined)?.join('\n')).toMatch(
        new RegExp(`from organisation ${fx.ids.otherOrgId} could not be listed \\(ERR_NOT_ALLOWED`),
      );
    });
  }, 60_000);
});

describe('keys_list', () => {
  it('says expired for a key past its expiration, not for one without (9999-12-31) or a future one', async () => {
    const { fx, s } = start();
    const { userId } = fx.sim.addServiceAccount({ username: 'agent-keys-expiry', manager: false });
    const key = fx.sim.keys.find((k) => k.userId === userId);
    if (!key) throw new Error('no key');
    const future = key.expiration;
    fx.sim.keys.push(
      { ...key, id: nextId(), expiration: '2020-01-01T00:00:00Z' },
      { ...key, id: nextId(), expiration: '9999-12-31T23:59:59Z' },
    );
    const r = await callTool(s, 'keys_list', { user: userId });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    const keys = r.data?.keys as { expirationDate: string; expired?: boolean }[];
    const by = (exp: string) => keys.find((k) => k.expirationDate === exp);
    // before: no key said expired
    expect(by('2020-01-01T00:00:00Z')).toMatchObject({ expired: true });
    expect(by('9999-12-31T23:59:59Z')).not.toHaveProperty('expired');
    expect(by(future)).not.toHaveProperty('expired');
  }, 60_000);
});
