// keys_delete as its annotation says (idempotent): a key already gone is the answer, not ERR_NOT_FOUND, for
// a retry after a lost answer or two deletes racing; a key named under another account touches nothing; an
// account gone is still an error. Through the real SDK Client over stdio against the simulator.
import { afterEach, describe, expect, it } from 'vitest';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

afterEach(() => {
  session.fx.sim.beforeKeyRemove = undefined;
});

const keyIdOf = (keyFile: string): string => JSON.parse(keyFile).keyId;

describe('keys_delete of a key that is not there', () => {
  it('two deletes of one key at once: one deletes it, the other finds it gone, neither fails', async () => {
    const { sim } = session.fx;
    const sa = sim.addServiceAccount({ username: 'agent-race-del' });
    const keyId = keyIdOf(sa.keyFile);
    const [a, b] = await Promise.all(
      [0, 1].map(() => callTool(session.s, 'keys_delete', { user: 'agent-race-del', keyId })),
    );
    // before the fix: the second answered "ERR_NOT_FOUND: Zitadel found no key … Machine key not found"
    expect([a?.isError, b?.isError], `${a?.text} | ${b?.text}`).toEqual([false, false]);
    expect([a?.data?.deleted, b?.data?.deleted].sort()).toEqual([false, true]);
    expect(sim.keys.some((k) => k.id === keyId)).toBe(false);
  });

  it("a key of another account named under this one is not this one's: nothing is deleted", async () => {
    const { sim } = session.fx;
    sim.addServiceAccount({ username: 'agent-holder' });
    const other = sim.addServiceAccount({ username: 'agent-other' });
    const otherKey = keyIdOf(other.keyFile);
    const r = await callTool(session.s, 'keys_delete', { user: 'agent-holder', keyId: otherKey });
    expect(r.data, r.text).toMatchObject({ keyId: otherKey, deleted: false });
    expect(sim.keys.some((k) => k.id === otherKey && k.userId === other.userId)).toBe(true);
  });

  it('an account removed between the lookup and the delete is an error, not "already deleted"', async () => {
    const { sim } = session.fx;
    const sa = sim.addServiceAccount({ username: 'agent-vanishing' });
    sim.beforeKeyRemove = (userId) => {
      const i = sim.users.findIndex((u) => u.id === userId);
      if (i >= 0) sim.users.splice(i, 1);
    };
    const r = await callTool(session.s, 'keys_delete', { user: 'agent-vanishing', keyId: keyIdOf(sa.keyFile) });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(new RegExp(`^ERR_NOT_FOUND: Zitadel found no user ${sa.userId}`));
  });
});
