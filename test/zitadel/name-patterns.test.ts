// A user reference is a name, never a pattern: against a Zitadel that reads `_` and `%` in its ignore-case
// user-name search as LIKE wildcards (versions before NewTextQuery escaped them), a reference that names no
// user must not resolve to the one user the pattern happens to match. Through the real SDK Client over stdio.
import { afterEach, describe, expect, it } from 'vitest';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

afterEach(() => {
  session.fx.sim.likeWildcards = false;
});

describe('a reference with "_" or "%" against a Zitadel that reads them as wildcards', () => {
  it('names no user when no username or login name is spelled so: nothing is disabled', async () => {
    const { sim } = session.fx;
    const target = sim.addServiceAccount({ username: 'agent-wild' });
    sim.likeWildcards = true;
    // before the fix: Zitadel's one hit for ILIKE 'agent_wild' was agent-wild, and it was deactivated
    const r = await callTool(session.s, 'users_disable', { user: 'agent_wild' });
    expect(r.text).toMatch(/^ERR_NOT_FOUND: no user of organisation \d+ is named 'agent_wild'/);
    expect(sim.users.find((u) => u.id === target.userId)?.state).toBe('USER_STATE_ACTIVE');
    const pct = await callTool(session.s, 'users_get', { user: 'agent-wil%' });
    expect(pct.text).toMatch(/^ERR_NOT_FOUND: /);
  });

  it('still finds the user the name is spelled for, in any case, among the pattern hits', async () => {
    const { sim } = session.fx;
    const exact = sim.addServiceAccount({ username: 'agent_tame' });
    sim.addServiceAccount({ username: 'agent-tame' });
    sim.likeWildcards = true;
    const r = await callTool(session.s, 'users_get', { user: 'Agent_Tame' });
    expect(r.data?.user, r.text).toMatchObject({ id: exact.userId, username: 'agent_tame' });
  });
});
