// events_list while Zitadel keeps writing events, through the real SDK Client over stdio. ListEvents has no
// continuation token or position in its request or its Event (proto/zitadel/admin.proto ListEventsRequest:
// sequence, limit, asc, editor_user_id, event_types, aggregate_id, aggregate_types, resource_owner,
// creation_date/from/range; proto/zitadel/event.proto Event), lists newest first by position and waits for
// open transactions (internal/api/grpc/admin/event.go: OrderDesc, AwaitOpenTransactions), so an event
// written after a page was read lands ahead of it. A page continues after the last event shown, wherever the
// list now starts: an event written meanwhile is for a new listing, never a reason to skip or repeat one.
import { describe, expect, it } from 'vitest';
import { eventKey as key, useEventsSession } from './events-session.js';
import { callTool } from './harness.js';

const { session, account, pages: listAll } = useEventsSession();
const pages = (args: Record<string, unknown>, between: (page: number) => void) => listAll(args, { between });

describe('events_list while events are written between pages', () => {
  it("a user's events: each one there at the first page shown once, in order; none written later", async () => {
    const id = await account('busy-writer');
    const userEvent = (type: string) =>
      session.fx.sim.record({
        type,
        aggregateId: id,
        aggregateType: 'user',
        resourceOwner: session.fx.ids.orgId,
        editorUserId: session.fx.serviceAccountId,
      });
    for (let i = 0; i < 4; i++) {
      userEvent('user.locked');
      userEvent('user.unlocked');
    }
    const before = session.fx.sim.events.filter((e) => e.aggregateId === id).reverse();
    const seen = await pages({ user: id, limit: 2 }, (page) => {
      // as many as a page, and more, written after each page: they sort ahead of the cursor
      for (let i = 0; i <= page; i++) userEvent(i % 2 === 0 ? 'user.deactivated' : 'user.reactivated');
    });
    expect(seen.map(key)).toEqual(before.map(key));
  });

  it("an organisation's events, with a user's grant written between pages: none skipped, none twice", async () => {
    const id = await account('org-writer');
    for (let i = 0; i < 3; i++) {
      await callTool(session.s, 'users_disable', { user: id });
      await callTool(session.s, 'users_enable', { user: id });
    }
    const org = session.fx.ids.orgId;
    const before = session.fx.sim.events.filter((e) => e.resourceOwner === org).reverse();
    expect(before.length).toBeGreaterThan(8);
    const seen = await pages({ orgId: org, limit: 3 }, (page) => {
      session.fx.sim.record({
        type: page % 2 === 0 ? 'user.locked' : 'user.unlocked',
        aggregateId: id,
        aggregateType: 'user',
        resourceOwner: org,
        editorUserId: session.fx.serviceAccountId,
      });
    });
    expect(seen.map(key)).toEqual(before.map(key));
  });

  it("a user's grant events (one stream per grant) with grant changes written between pages", async () => {
    const id = await account('grant-writer');
    const granted = await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.reader'] });
    const grantId = granted.data?.grantId as string;
    await callTool(session.s, 'users_disable', { user: id });
    await callTool(session.s, 'roles_grant', { user: id, roles: ['docker.operator', 'docker.reader'] });
    await callTool(session.s, 'users_enable', { user: id });
    await callTool(session.s, 'roles_revoke', { user: id, roles: ['docker.operator'] });
    const mine = (e: { aggregateId: string; aggregateType: string }) =>
      e.aggregateId === id || (e.aggregateType === 'usergrant' && e.aggregateId === grantId);
    const before = session.fx.sim.events.filter(mine).reverse();
    expect(before.length).toBeGreaterThan(4);
    const seen = await pages({ user: id, limit: 1 }, (page) => {
      session.fx.sim.record({
        type: 'user.grant.changed',
        aggregateId: grantId,
        aggregateType: 'usergrant',
        resourceOwner: session.fx.ids.orgId,
        editorUserId: session.fx.serviceAccountId,
        payload: { roleKeys: page % 2 === 0 ? ['docker.reader'] : ['docker.operator'] },
      });
    });
    expect(seen.map(key)).toEqual(before.map(key));
  });
});
