// events_list for one user shows the user's grant changes, through the real SDK Client over stdio. Zitadel
// writes them on the grant's own aggregate (type `usergrant`, id the grant's id), not the user's; only
// `user.grant.added` names the user, in its payload (internal/repository/usergrant/aggregate.go,
// user_grant.go). ListEvents takes one aggregate id (internal/api/grpc/admin/event.go).
import { describe, expect, it } from 'vitest';
import { type Ev, eventKey as key, useEventsSession } from './events-session.js';
import { callTool } from './harness.js';

const { session, account, pages: listAll } = useEventsSession();
const pages = (args: Record<string, unknown>) => listAll(args, { truncatedSaid: true, maxPages: 30 });

describe("events_list for a user shows the user's grants", () => {
  it('grant added, changed and removed come among the user own events, newest first, across pages', async () => {
    const id = await account('grant-history');
    const granted = await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.reader'] });
    const grantId = granted.data?.grantId as string;
    await callTool(session.s, 'users_disable', { user: id });
    await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator', 'docker.reader'] });
    await callTool(session.s, 'users_enable', { user: id });
    await callTool(session.s, 'roles_revoke', { user: id, roles: ['docker.operator', 'docker.reader'] });
    await callTool(session.s, 'users_disable', { user: id });
    // what Zitadel's store holds for this user and its grant, newest written first
    const expected = session.fx.sim.events
      .filter((e) => e.aggregateId === id || (e.aggregateType === 'usergrant' && e.aggregateId === grantId))
      .reverse();
    expect(expected.map((e) => e.type)).toEqual([
      'user.deactivated',
      'user.grant.removed',
      'user.reactivated',
      'user.grant.changed',
      'user.deactivated',
      'user.grant.added',
      'user.machine.added',
    ]);
    const seen = await pages({ user: id, limit: 2 });
    expect(seen.map(key)).toEqual(expected.map(key));
    for (const e of seen) expect(e.userId).toBe(id);
    const grants = seen.filter((e) => e.type.startsWith('user.grant.'));
    expect(grants.map((e) => e.details?.grantId)).toEqual([grantId, grantId, grantId]);
    expect(grants[1]?.details).toEqual({ grantId, roleKeys: ['docker.operator', 'docker.reader'] });
  });

  it("categories ['grants'] alone lists the grant events, a removed grant's too", async () => {
    const id = await account('grant-only');
    const granted = await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.admin'] });
    await callTool(session.s, 'roles_revoke', { user: id, roles: ['docker.admin'] });
    const again = await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.reader'] });
    expect(again.data?.grantId).not.toBe(granted.data?.grantId);
    const seen = await pages({ user: id, categories: ['grants'], limit: 1 });
    expect(seen.map((e) => [e.type, e.details?.grantId])).toEqual([
      ['user.grant.added', again.data?.grantId],
      ['user.grant.removed', granted.data?.grantId],
      ['user.grant.added', granted.data?.grantId],
    ]);
    expect(seen[2]?.details).toMatchObject({ projectId: session.fx.ids.projectId, roleKeys: ['docker.admin'] });
  });

  it("a user without grants lists its own events, none of another user's grants", async () => {
    const id = await account('grant-less');
    const other = await account('grant-neighbour');
    await callTool(session.s, 'roles_grant', { user: other, roles: ['docker.reader'] });
    await callTool(session.s, 'users_disable', { user: id });
    const seen = await pages({ user: id, limit: 1 });
    expect(seen.map((e) => e.type)).toEqual(['user.deactivated', 'user.machine.added']);
    expect(await pages({ user: id, categories: ['grants'] })).toEqual([]);
  });

  it('a user with more grants than it reads: grant events asked for are refused; by default the page says they are left out', async () => {
    const id = await account('grant-hoarder');
    // eleven grants, removed since: only their added events are left to find them by
    for (let i = 0; i < 11; i++) {
      const grant = `hoard-${i}`;
      const on = { aggregateId: grant, aggregateType: 'usergrant', resourceOwner: session.fx.ids.orgId };
      const by = { editorUserId: session.fx.serviceAccountId };
      session.fx.sim.record({ type: 'user.grant.added', ...on, ...by, payload: { userId: id, projectId: 'p1' } });
      session.fx.sim.record({ type: 'user.grant.removed', ...on, ...by });
    }
    const asked = await callTool(session.s, 'events_list', { user: id, categories: ['grants', 'lifecycle'] });
    expect(asked.text).toBe(
      `ERR_INVALID_INPUT: user ${id} has had more than 10 grants; events_list reads the grant events of a user with at most 10 grants (current and removed). Leave 'grants' out of categories for the user's own events, or list orgId with categories ['grants'] for the organisation's grant events`,
    );
    // no categories: the user's own events, and a note that its grant events are not among them
    const plain = await callTool(session.s, 'events_list', { user: id });
    expect(((plain.data?.events ?? []) as Ev[]).map((e) => e.type)).toEqual(['user.machine.added']);
    expect(plain.data?.notes).toEqual([
      `user ${id} has had more than 10 grants, more than the 10 whose events a page reads: no grant events are shown. List orgId with categories ['grants'] for the organisation's grant events`,
    ]);
    const own = await callTool(session.s, 'events_list', { user: id, categories: ['lifecycle'] });
    expect(((own.data?.events ?? []) as Ev[]).map((e) => e.type)).toEqual(['user.machine.added']);
    expect(own.data?.notes).toBeUndefined();
    const org = await callTool(session.s, 'events_list', {
      orgId: session.fx.ids.orgId,
      categories: ['grants'],
      limit: 22,
    });
    expect(((org.data?.events ?? []) as Ev[]).filter((e) => e.userId === id)).toHaveLength(11);
  });

  it('an instance with more grant additions than it searches: current grants still shown, the limit said', async () => {
    const id = await account('grant-late');
    const on = (grant: string) => ({
      aggregateId: grant,
      aggregateType: 'usergrant',
      resourceOwner: session.fx.ids.orgId,
    });
    const by = { editorUserId: session.fx.serviceAccountId };
    // an old grant of this user, removed since, then 3,000 other users' grants added after it
    session.fx.sim.record({
      type: 'user.grant.added',
      ...on('late-old'),
      ...by,
      payload: { userId: id, projectId: 'p1' },
    });
    session.fx.sim.record({ type: 'user.grant.removed', ...on('late-old'), ...by });
    for (let i = 0; i < 3000; i++)
      session.fx.sim.record({
        type: 'user.grant.added',
        ...on(`other-${i}`),
        ...by,
        payload: { userId: `u${i}`, projectId: 'p1' },
      });
    const r = await callTool(session.s, 'events_list', { user: id });
    expect(r.text).not.toMatch(/^ERR_/);
    expect(((r.data?.events ?? []) as Ev[]).map((e) => e.type)).toContain('user.machine.added');
    const notes = (r.data?.notes ?? []) as string[];
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(
      new RegExp(
        `^the events of user ${id}'s current grants are shown, and of grants removed since the newest 3000 grant additions`,
      ),
    );
    expect(notes[0]).toContain("List orgId with categories ['grants']");
  });
});
