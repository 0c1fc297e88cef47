// events_list paging against Zitadel's event order, through the real SDK Client over stdio. Zitadel lists
// events in the order they were written (`position`: the clock when the row went in) and filters them by
// `creationDate`, the start of the writing transaction (internal/eventstore/v3/push_funcs.sql: created_at
// NOW(), position clock_timestamp(); internal/api/grpc/admin/event.go: OrderDesc, CreationDateBefore). A
// transaction that began before another and wrote after it gives an event listed before one created later.
import { describe, expect, it } from 'vitest';
import { useEventsSession } from './events-session.js';

const { session, account, pages } = useEventsSession();

const isoAt = (ms: number) => new Date(ms).toISOString().replace('Z', '123Z');

describe('events_list over events written out of creation order', () => {
  it('pages through every event: one written late by an early transaction hides none', async () => {
    const id = await account('late-writer');
    const base = Date.now() + 1_000;
    const event = (type: string, at: number) =>
      session.fx.sim.record({
        type,
        aggregateId: id,
        aggregateType: 'user',
        resourceOwner: session.fx.ids.orgId,
        editorUserId: session.fx.serviceAccountId,
        creationDate: isoAt(at),
      });
    // written in this order; the third one's transaction began between the first two's
    event('user.reactivated', base);
    event('user.deactivated', base + 300);
    event('user.unlocked', base + 200);
    event('user.locked', base + 400);
    const seen = (await pages({ user: id, limit: 2 }, { maxPages: 10 })).map((e) => e.type);
    // newest written first, as Zitadel lists them, none left out and none twice
    expect(seen).toEqual([
      'user.locked',
      'user.unlocked',
      'user.deactivated',
      'user.reactivated',
      'user.machine.added',
    ]);
  });
});
