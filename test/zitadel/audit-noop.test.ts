// An idempotent repeat is recorded as what it was: the audit outcome record of a call that changed nothing
// (key already gone, user already deactivated, roles already held or not held) carries
// `result: { kind: 'noop', reason }` beside `outcome: 'success'`; a call that made its change has none. The
// log still verifies (hash chain). Through the real SDK Client over stdio against the simulator.
import { verifyAuditSet } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { callTool, readAudit, useZitadelSession } from './harness.js';

const session = useZitadelSession();

interface Rec {
  tool: string;
  phase: string;
  outcome?: string;
  requestId: string;
  result?: { kind: string; reason: string };
}

/** The outcome records of `tool` in the audit file, oldest first (waits for the group commit). */
async function outcomesOf(tool: string, count: number): Promise<Rec[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const recs = readAudit(session.fx.auditFile)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Rec)
      .filter((r) => r.tool === tool && r.phase === 'outcome');
    if (recs.length >= count || Date.now() > deadline) return recs;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('audit records of idempotent repeats', () => {
  it('keys_delete of a key already deleted: success with result noop; the delete itself has none', async () => {
    const { sim } = session.fx;
    const sa = sim.addServiceAccount({ username: 'agent-noop-key' });
    const keyId = JSON.parse(sa.keyFile).keyId as string;
    const first = await callTool(session.s, 'keys_delete', { user: 'agent-noop-key', keyId });
    const again = await callTool(session.s, 'keys_delete', { user: 'agent-noop-key', keyId });
    expect([first.data?.deleted, again.data?.deleted], `${first.text} | ${again.text}`).toEqual([true, false]);
    const recs = await outcomesOf('keys_delete', 2);
    const [done, repeat] = recs.slice(-2);
    expect(done).toMatchObject({ outcome: 'success' });
    expect(done?.result).toBeUndefined();
    // before the fix: the repeat's record said only outcome 'success', like the delete
    expect(repeat).toMatchObject({ outcome: 'success', result: { kind: 'noop', reason: 'key already absent' } });
    expect(JSON.stringify(recs)).not.toMatch(/PRIVATE KEY/);
  });

  it('users_disable of a user already deactivated, users_enable of one already active', async () => {
    const { sim } = session.fx;
    sim.addServiceAccount({ username: 'agent-noop-user' });
    for (let i = 0; i < 2; i++) {
      const r = await callTool(session.s, 'users_disable', { user: 'agent-noop-user' });
      expect(r.isError, r.text).toBe(false);
    }
    const disables = (await outcomesOf('users_disable', 2)).slice(-2);
    expect(disables.map((r) => r.result ?? null)).toEqual([null, { kind: 'noop', reason: 'user already deactivated' }]);
    for (let i = 0; i < 2; i++) {
      const r = await callTool(session.s, 'users_enable', { user: 'agent-noop-user' });
      expect(r.isError, r.text).toBe(false);
    }
    const enables = (await outcomesOf('users_enable', 2)).slice(-2);
    expect(enables.map((r) => r.result ?? null)).toEqual([null, { kind: 'noop', reason: 'user already active' }]);
  });

  it('roles_grant of roles held and roles_revoke of roles not held; the log verifies', async () => {
    const { sim } = session.fx;
    sim.addServiceAccount({ username: 'agent-noop-roles' });
    const grant = { user: 'agent-noop-roles', roles: ['docker.reader'] };
    for (let i = 0; i < 2; i++) expect((await callTool(session.s, 'roles_grant', grant)).isError).toBe(false);
    for (let i = 0; i < 2; i++) expect((await callTool(session.s, 'roles_revoke', grant)).isError).toBe(false);
    const grants = (await outcomesOf('roles_grant', 2)).slice(-2);
    const revokes = (await outcomesOf('roles_revoke', 2)).slice(-2);
    expect([...grants, ...revokes].map((r) => r.result?.kind ?? null)).toEqual([null, 'noop', null, 'noop']);
    const verdict = await verifyAuditSet(session.fx.auditFile);
    expect(verdict.ok, JSON.stringify(verdict.files)).toBe(true);
  });
});
