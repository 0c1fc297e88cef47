// A listing read whole in several calls (keyset.ts readWhole), through the real SDK Client over stdio against the
// simulator. Zitadel pages ListUserGrants by offset with no ORDER BY (see the simulator's list-order note): a
// grant added before the offset and another removed there between two calls leave the count and the number of
// rows read as they were, while one row read is gone and another was never read.
import { describe, expect, it } from 'vitest';
import { nextId } from '../simulators/zitadel-proto.js';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

describe('a whole read that one add and one remove leave the same size', () => {
  it('users_list_grants shows the grants as they now are, not the removed one in place of the added one', async () => {
    const { sim, ids } = session.fx;
    const { userId } = sim.addServiceAccount({ username: 'whole-read', manager: false });
    for (let i = 0; i < 150; i++)
      sim.grants.push({ id: nextId(), userId, projectId: `p-whole-${i}`, orgId: ids.orgId, roleKeys: [] });
    const mine = () => sim.grants.filter((g) => g.userId === userId);
    let calls = 0;
    let added = '';
    let removed = '';
    sim.beforeGrantList = (orgId) => {
      // between the first read's first page (rows 0-99) and its second: another admin adds a grant (listed
      // first: in a table without ORDER BY it may land anywhere) and removes one the first page listed
      if (orgId !== ids.orgId || ++calls !== 2) return;
      const gone = mine()[10];
      if (!gone) throw new Error('no grant to remove');
      removed = gone.id;
      sim.grants.splice(sim.grants.indexOf(gone), 1);
      added = nextId();
      sim.grants.unshift({ id: added, userId, projectId: 'p-whole-new', orgId: ids.orgId, roleKeys: [] });
    };
    try {
      const shown: string[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < 10; n++) {
        const r = await callTool(session.s, 'users_list_grants', {
          user: userId,
          limit: 100,
          ...(cursor ? { cursor } : {}),
        });
        expect(r.isError, r.text.slice(0, 300)).toBe(false);
        shown.push(...((r.data?.grants ?? []) as { id: string }[]).map((g) => g.id));
        cursor = r.data?.nextCursor as string | undefined;
        if (!cursor) break;
      }
      expect(added).not.toBe('');
      // before: the removed grant shown, the added one never, and no word of it (150 = 150)
      expect(shown).not.toContain(removed);
      expect(shown).toContain(added);
      expect([...shown].sort()).toEqual(
        mine()
          .map((g) => g.id)
          .sort(),
      );
    } finally {
      sim.beforeGrantList = undefined;
    }
  }, 60_000);

  it('agents_get_capabilities decides on the grants as they now are', async () => {
    const { sim, ids } = session.fx;
    const { userId } = sim.addServiceAccount({ username: 'whole-caps', manager: false });
    for (let i = 0; i < 120; i++)
      sim.grants.push({ id: nextId(), userId, projectId: `p-caps-${i}`, orgId: ids.orgId, roleKeys: [] });
    let calls = 0;
    sim.beforeGrantList = (orgId) => {
      if (orgId !== ids.orgId || ++calls !== 2) return;
      // the MCP-project grant comes (listed first), a grant the first page listed goes
      const gone = sim.grants.find((g) => g.userId === userId && g.projectId === 'p-caps-3');
      if (gone) sim.grants.splice(sim.grants.indexOf(gone), 1);
      sim.grants.unshift({
        id: nextId(),
        userId,
        projectId: ids.projectId,
        orgId: ids.orgId,
        roleKeys: ['docker.reader'],
      });
    };
    try {
      const r = await callTool(session.s, 'agents_get_capabilities', { user: userId });
      expect(r.isError, r.text.slice(0, 300)).toBe(false);
      // before: decided on a read that never saw the new grant: no scopes
      expect(JSON.stringify(r.data)).toContain('mcp:docker:read');
    } finally {
      sim.beforeGrantList = undefined;
    }
  }, 60_000);
});
