/**
 * Attack round 7 on the Zitadel server, from outside: its paged listings. Cursors carried from one listing to
 * another, a Zitadel (or a proxy in front of it) whose answers are odd: rows without ids, users of another
 * organisation in an organisation's search. Through the real bin over stdio with the SDK Client against the
 * simulator, or through the real tool and client library against a stand-in server for answers the simulator
 * (built from Zitadel's own code) never gives.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invokeTool, silentLogger } from '@ravenhelm/kit';
import { parseKeyFile, tools, ZitadelBackend, type ZitadelServices } from '@ravenhelm/mcp-zitadel';
import { describe, expect, it } from 'vitest';
import { listen } from '../simulators/http.js';
import { nextId } from '../simulators/zitadel-proto.js';
import { callTool, useZitadelSession } from '../zitadel/harness.js';

const session = useZitadelSession();

/** The Zitadel client pointed at a stand-in server, with a real key from the simulator. */
function probeBackend(url: string, username: string): ZitadelBackend {
  return new ZitadelBackend({
    url,
    keyFile: parseKeyFile(session.fx.sim.addServiceAccount({ username }).keyFile, 'probe key'),
    orgId: session.fx.ids.orgId,
    timeoutMs: 2000,
    maxResponseBytes: 1024 * 1024,
    scope: 'openid',
  });
}

/** A stand-in Zitadel: a token for anyone, `answer(path, body)` for every API call. */
async function standIn(answer: (path: string, body: Record<string, unknown>) => unknown) {
  return listen(async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const c of req) raw += c;
    const body = raw && req.url !== '/oauth/v2/token' ? (JSON.parse(raw) as Record<string, unknown>) : {};
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        req.url === '/oauth/v2/token'
          ? { access_token: 'attack7-access-token', expires_in: 300 }
          : answer(req.url ?? '', body),
      ),
    );
  });
}

/** One call of a tool through the kit's invokeTool, the way the server runs it. */
async function invoke(zitadel: ZitadelBackend, name: string, args: Record<string, unknown>) {
  const tool = tools.find((t) => t.name === name);
  if (!tool) throw new Error(`no ${name}`);
  const services = { zitadel, mapping: { allowedOrgIds: [], roleScopes: {} }, registry: async () => undefined };
  return invokeTool(
    tool,
    args,
    services as unknown as ZitadelServices,
    {
      signal: new AbortController().signal,
      logger: silentLogger(),
      principal: { subject: 'probe', scopes: [], roles: [], source: 'stdio' },
      requestId: 'attack7',
      maxOutputBytes: 26_000,
      options: {},
    },
    { timeoutMs: 5000 },
  );
}

describe('cursors carried to another listing', () => {
  it('an orgs_list cursor is refused by roles_list and keys_list (it would start them at its offset)', async () => {
    const { sim, ids } = session.fx;
    for (const x of ['a', 'b', 'c']) sim.orgs.push({ id: nextId(), name: `Carry ${x}`, domain: `carry-${x}.test` });
    const orgs = await callTool(session.s, 'orgs_list', { name: 'carry', limit: 1 });
    const cursor = orgs.data?.nextCursor as string;
    expect(cursor).toBeTruthy();
    // before: both accepted it as an offset and began at their second row
    const roles = await callTool(session.s, 'roles_list', { project: ids.projectId, limit: 1, cursor });
    expect(roles.text).toMatch(/^ERR_INVALID_INPUT: cursor belongs to another listing of roles_list/);
    const account = sim.addServiceAccount({ username: 'carry-keys', orgId: ids.orgId, manager: false });
    const keys = await callTool(session.s, 'keys_list', { user: account.userId, cursor });
    expect(keys.text).toMatch(/^ERR_INVALID_INPUT: cursor belongs to another listing of keys_list/);
  });

  it("a keys_list cursor of one account is refused for another's keys", async () => {
    const { sim, ids } = session.fx;
    const a = sim.addServiceAccount({ username: 'carry-a', orgId: ids.orgId, manager: false });
    const b = sim.addServiceAccount({ username: 'carry-b', orgId: ids.orgId, manager: false });
    for (const who of [a, b]) {
      const k = sim.keys.find((x) => x.userId === who.userId);
      if (!k) throw new Error('no key');
      sim.keys.push({ ...k, id: nextId() }, { ...k, id: nextId() });
    }
    const first = await callTool(session.s, 'keys_list', { user: a.userId, limit: 1 });
    const cursor = first.data?.nextCursor as string;
    expect(cursor).toBeTruthy();
    // before: accepted, b's keys from the second on
    const other = await callTool(session.s, 'keys_list', { user: b.userId, limit: 1, cursor });
    expect(other.text).toMatch(/^ERR_INVALID_INPUT: cursor belongs to another listing of keys_list/);
  });
});

describe('a Zitadel whose listings are odd', () => {
  it('users_list_grants pages grants listed without ids: none skipped', async () => {
    const home = session.fx.ids.orgId;
    const grant = (id: string, projectId: string) => ({
      id,
      userId: '4242',
      projectId,
      orgId: home,
      roleKeys: ['docker.reader'],
      details: { resourceOwner: home },
    });
    const odd = await standIn((path) => {
      if (path === '/v2/users/4242')
        return { user: { userId: '4242', username: 'agent-odd', details: { resourceOwner: home } } };
      if (path === '/management/v1/users/grants/_search')
        return { details: { totalResult: '3' }, result: [grant('', 'p-1'), grant('', 'p-2'), grant('g-3', 'p-3')] };
      return { userGrant: grant('0', 'p-0') };
    });
    try {
      const zitadel = probeBackend(odd.url, 'odd-grants');
      const projects: string[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < 5; n++) {
        const out = await invoke(zitadel, 'users_list_grants', {
          user: '4242',
          limit: 1,
          ...(cursor ? { cursor } : {}),
        });
        const data = out as unknown as { grants: { projectId: string }[]; nextCursor?: string };
        projects.push(...data.grants.map((g) => g.projectId));
        cursor = data.nextCursor;
        if (!cursor) break;
      }
      // before: both id-less grants had one key, and the page after the first skipped the second
      expect(projects.sort()).toEqual(['p-1', 'p-2', 'p-3']);
    } finally {
      await odd.close();
    }
  });

  it("users_search does not list a user Zitadel says is another organisation's", async () => {
    const home = session.fx.ids.orgId;
    const odd = await standIn((path) => {
      if (path !== '/v2/users') return {};
      // a Zitadel (or proxy) that dropped the organisationIdQuery: every organisation's users
      return {
        details: { totalResult: '2' },
        result: [
          { userId: '501', username: 'own-user', details: { resourceOwner: home } },
          { userId: '502', username: 'their-admin', details: { resourceOwner: 'other-org-77' } },
        ],
      };
    });
    try {
      const out = await invoke(probeBackend(odd.url, 'odd-users'), 'users_search', {});
      const data = out as unknown as { users: { username: string }[]; total: number; notes?: string[] };
      // before: their-admin listed as if it were of this organisation
      expect(data.users.map((u) => u.username)).toEqual(['own-user']);
      expect(data.total).toBe(1);
      expect(data.notes?.join('\n')).toMatch(
        /1 users Zitadel listed are not shown: they belong to another organisation/,
      );
    } finally {
      await odd.close();
    }
  });
});
