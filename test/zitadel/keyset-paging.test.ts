// Listings paged by key through the real SDK Client over stdio against the simulator: a row added or removed
// between two pages neither skips nor repeats another. Zitadel lists organisations, roles and keys with no
// ORDER BY and users by id (see the simulator's list-order note), by offset: an offset cursor skips the row
// that moves up into a removed row's place, and shows twice the one an added row pushes down.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nextId } from '../simulators/zitadel-proto.js';
import { callTool, useZitadelSession } from './harness.js';

const session = useZitadelSession();

type Row = Record<string, unknown>;

/** Every page of `tool` with `args`, `between(n, shown)` run after page n; each page's rows and notes. */
async function allPages(
  tool: string,
  args: Record<string, unknown>,
  field: string,
  between: (n: number, shown: Row[]) => void,
): Promise<{ rows: Row[]; notes: string[] }> {
  const rows: Row[] = [];
  const notes: string[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 20; n++) {
    const r = await callTool(session.s, tool, { ...args, ...(cursor ? { cursor } : {}) });
    expect(r.isError, r.text.slice(0, 300)).toBe(false);
    const shown = (r.data?.[field] as Row[]) ?? [];
    rows.push(...shown);
    notes.push(...((r.data?.notes as string[] | undefined) ?? []));
    cursor = r.data?.nextCursor as string | undefined;
    expect(r.data?.truncated).toBe(cursor !== undefined);
    if (!cursor) return { rows, notes };
    between(n, shown);
  }
  throw new Error(`${tool} did not end within 20 pages`);
}

/** Each of `want` shown exactly once, nothing else. */
function expectEachOnce(shown: unknown[], want: string[]) {
  expect([...shown].sort()).toEqual([...want].sort());
}

describe('orgs_list pages by key', () => {
  it('an organisation removed after the first page skips none', async () => {
    const { sim } = session.fx;
    const made = ['a', 'b', 'c', 'd', 'e'].map((x) => {
      const id = nextId();
      sim.orgs.push({ id, name: `Paged org ${x}`, domain: `paged-${x}.zitadel.test` });
      return id;
    });
    const { rows, notes } = await allPages('orgs_list', { name: 'paged org', limit: 2 }, 'orgs', (n, shown) => {
      if (n !== 0) return;
      // another admin removes an organisation the first page showed
      sim.orgs.splice(
        sim.orgs.findIndex((o) => o.id === shown[0]?.id),
        1,
      );
    });
    // before: offset 2 of the four left skipped the one that moved up into the removed one's place
    expectEachOnce(
      rows.map((o) => o.id),
      made,
    );
    expect(notes.join('\n')).toMatch(/the organisations changed since the previous page/);
  });

  it('an organisation added in front after the first page repeats none', async () => {
    const { sim } = session.fx;
    const made = ['f', 'g', 'h'].map((x) => {
      const id = nextId();
      sim.orgs.push({ id, name: `Grown org ${x}`, domain: `grown-${x}.zitadel.test` });
      return id;
    });
    let added = '';
    const { rows } = await allPages('orgs_list', { name: 'grown org', limit: 2 }, 'orgs', (n) => {
      if (n !== 0) return;
      added = nextId();
      sim.orgs.unshift({ id: added, name: 'Grown org i', domain: 'grown-i.zitadel.test' });
    });
    // before: the row pushed down to offset 2 was shown twice. The new one (keyed after the cursor) shows once.
    expectEachOnce(
      rows.map((o) => o.id),
      [...made, added],
    );
  });
});

describe('roles_list pages by key', () => {
  it('a role removed after the first page skips none', async () => {
    const { sim, ids } = session.fx;
    const project = sim.projects.find((p) => p.id === ids.otherProjectId);
    if (!project) throw new Error('no billing project');
    for (const k of ['r1', 'r2', 'r3', 'r4']) project.roles.push({ key: `billing.${k}`, displayName: k, group: '' });
    const want = project.roles.map((r) => r.key);
    const { rows, notes } = await allPages(
      'roles_list',
      { project: ids.otherProjectId, limit: 2 },
      'roles',
      (n, shown) => {
        if (n !== 0) return;
        // a role the first page showed goes: every offset after it moves up by one
        project.roles.splice(
          project.roles.findIndex((r) => r.key === shown[0]?.key),
          1,
        );
      },
    );
    // before: the role that moved up to offset 2 was never shown
    expectEachOnce(
      rows.map((r) => r.key),
      want,
    );
    expect(notes.join('\n')).toMatch(/the roles changed since the previous page/);
  });
});

describe('keys_list pages by key', () => {
  it('a key removed after the first page skips none', async () => {
    const { sim, ids } = session.fx;
    const account = sim.addServiceAccount({ username: 'paged-keys', orgId: ids.orgId, manager: false });
    const first = sim.keys.find((k) => k.userId === account.userId);
    if (!first) throw new Error('no key');
    const expiration = new Date(Date.now() + 86_400_000).toISOString();
    for (let i = 0; i < 4; i++)
      sim.keys.push({ ...first, id: nextId(), expiration, created: new Date().toISOString() });
    const want = sim.keys.filter((k) => k.userId === account.userId).map((k) => k.id);
    const { rows, notes } = await allPages('keys_list', { user: account.userId, limit: 2 }, 'keys', (n, shown) => {
      if (n !== 0) return;
      sim.keys.splice(
        sim.keys.findIndex((k) => k.id === shown[1]?.id),
        1,
      );
    });
    // before: the key that moved up to offset 2 was never shown
    expectEachOnce(
      rows.map((k) => k.id),
      want,
    );
    expect(notes.join('\n')).toMatch(/the keys changed since the previous page/);
  });
});

describe('users_search pages by key', () => {
  it('a user removed after the first page skips none; one added before the cursor repeats none', async () => {
    const { sim, ids } = session.fx;
    const tag = `paged-${randomBytes(3).toString('hex')}`;
    const base = 920_000_000_000_000_000n + BigInt(randomBytes(2).readUInt16BE(0)) * 1000n;
    const user = (id: bigint, name: string) => ({
      id: String(id),
      orgId: ids.orgId,
      username: `${tag}-${name}`,
      state: 'USER_STATE_ACTIVE' as const,
      created: new Date().toISOString(),
      machine: { name, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER' as const },
    });
    const want: string[] = [];
    for (let i = 0; i < 5; i++) {
      sim.users.push(user(base + BigInt(i * 10), `u${i}`));
      want.push(String(base + BigInt(i * 10)));
    }
    const removed = await allPages('users_search', { username: tag, limit: 2 }, 'users', (n, shown) => {
      if (n !== 0) return;
      sim.users.splice(
        sim.users.findIndex((u) => u.id === shown[0]?.id),
        1,
      );
    });
    // before: Zitadel orders by id; offset 2 of the four left skipped the third user
    expectEachOnce(
      removed.rows.map((u) => u.id),
      want,
    );
    expect(removed.notes.join('\n')).toMatch(/the users changed since the previous page/);

    const left = want.slice(1);
    const added = await allPages('users_search', { username: tag, limit: 2 }, 'users', (n) => {
      if (n !== 0) return;
      // one whose id sorts before the cursor comes
      sim.users.push(user(base + 1n, 'new'));
    });
    // before: offset 2 showed the second user again. The new one, before the cursor, is not shown: said so.
    expectEachOnce(
      added.rows.map((u) => u.id),
      left,
    );
    expect(added.notes.join('\n')).toMatch(/the users changed since the previous page/);
  });

  it('a cursor of one search is refused for another', async () => {
    const tag = `bound-${randomBytes(3).toString('hex')}`;
    const { sim, ids } = session.fx;
    for (let i = 0; i < 3; i++)
      sim.users.push({
        id: nextId(),
        orgId: ids.orgId,
        username: `${tag}-${i}`,
        state: 'USER_STATE_ACTIVE',
        created: new Date().toISOString(),
        machine: { name: `Bound ${i}`, description: '', accessTokenType: 'ACCESS_TOKEN_TYPE_BEARER' },
      });
    const first = await callTool(session.s, 'users_search', { username: tag, limit: 1 });
    const cursor = first.data?.nextCursor as string;
    expect(cursor).toBeTruthy();
    const other = await callTool(session.s, 'users_search', { username: tag, type: 'human', limit: 1, cursor });
    expect(other.text).toMatch(/^ERR_INVALID_INPUT: cursor belongs to another listing of users_search/);
  });
});
