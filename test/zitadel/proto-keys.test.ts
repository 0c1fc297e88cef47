// Keys named `__proto__` (JSON.parse keeps them as own keys; z.record drops them without a word), through the
// real bin over stdio with the SDK Client against the simulator: in the role-to-scope mapping and in an
// event's payload.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { callTool, connectStdio, startZitadelFixture, useZitadelSession } from './harness.js';

describe('ZITADEL_ROLE_SCOPES with a role named __proto__', () => {
  it('stops the start with what to do, instead of dropping that role from the mapping', async () => {
    const fx = await startZitadelFixture();
    try {
      const env = {
        ...fx.env,
        ZITADEL_ROLE_SCOPES: '{"__proto__":["mcp:docker:admin"],"docker.reader":["mcp:docker:read"]}',
      };
      // before the fix: the server started, its mapping silently without the __proto__ role
      const started = await connectStdio(env).then(
        async (s) => {
          const r = await callTool(s, 'roles_list', {});
          await s.close();
          return r.text;
        },
        (err: Error) => err,
      );
      expect(started).toBeInstanceOf(Error);
      const run = spawnSync(
        process.execPath,
        ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/zitadel/src/bin.ts', '--stdio'],
        { cwd: REPO_ROOT, env, input: '', encoding: 'utf8', timeout: 20_000 },
      );
      expect(run.status).not.toBe(0);
      expect(run.stderr).toMatch(/__proto__ cannot be mapped.*rename it/);
    } finally {
      await fx.stop();
    }
  }, 30_000);
});

describe('an event whose payload has a __proto__ field', () => {
  const session = useZitadelSession();

  it('shows the safe fields it names as its own, nothing from __proto__, and pollutes nothing', async () => {
    const { sim } = session.fx;
    const sa = sim.addServiceAccount({ username: 'agent-proto-event' });
    sim.record({
      type: 'user.machine.key.added',
      aggregateId: sa.userId,
      aggregateType: 'user',
      resourceOwner: session.fx.ids.orgId,
      editorUserId: session.fx.serviceAccountId,
      // as Zitadel's JSON would carry it: an own key, holding a field the tool shows
      payload: JSON.parse('{"__proto__":{"keyId":"forged","polluted":true},"expirationDate":"9999-12-31T23:59:59Z"}'),
    });
    const r = await callTool(session.s, 'events_list', { user: sa.userId, categories: ['keys'] });
    expect(r.isError, r.text).toBe(false);
    const events = r.data?.events as { type: string; details?: Record<string, unknown> }[];
    const added = events.find((e) => e.type === 'user.machine.key.added');
    expect(added?.details).toEqual({ expirationDate: '9999-12-31T23:59:59Z' });
    expect(Object.hasOwn(added?.details ?? {}, '__proto__')).toBe(false);
    expect(r.text).not.toMatch(/forged|polluted/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
