/**
 * The Zitadel server attacked from outside (attackgz), through its real bin over stdio with the SDK
 * Client against the stateful simulator: what a HIGH agent may do to the server's own identity.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invokeTool, silentLogger } from '@ravenhelm/kit';
import { parseKeyFile, tools, ZitadelBackend, type ZitadelServices } from '@ravenhelm/mcp-zitadel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../simulators/http.js';
import {
  connectStdio,
  readAudit,
  type StdioSession,
  startZitadelFixture,
  type ZitadelFixture,
} from '../zitadel/harness.js';

let fx: ZitadelFixture;
let s: StdioSession;

beforeAll(async () => {
  fx = await startZitadelFixture();
  s = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await s?.close();
  await fx?.stop();
});

async function call(name: string, args: Record<string, unknown>) {
  const r = await s.client.callTool({ name, arguments: args });
  return { isError: r.isError === true, text: (r.content as { text: string }[])[0]?.text ?? '' };
}

/** The Zitadel client pointed at a stand-in server, with a real key from the simulator. */
function probeBackend(url: string, username: string): ZitadelBackend {
  return new ZitadelBackend({
    url,
    keyFile: parseKeyFile(fx.sim.addServiceAccount({ username }).keyFile, 'probe key'),
    orgId: fx.ids.orgId,
    timeoutMs: 2000,
    maxResponseBytes: 1024 * 1024,
    scope: 'openid',
  });
}

describe("the server's own service account", () => {
  it.each([
    ['its id', () => fx.serviceAccountId],
    ['its username', () => 'ravenhelm-mcp'],
  ])('keys_add refuses to mint a key for it (by %s): that key would be the server itself', async (_how, ref) => {
    const before = fx.sim.keys.filter((k) => k.userId === fx.serviceAccountId).length;
    const r = await call('keys_add', { user: ref() });
    // before the fix: a fresh private key of the server's own account, returned to the caller
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^ERR_NOT_ALLOWED: .*the server's own service account/);
    expect(r.text).not.toMatch(/PRIVATE KEY/);
    expect(fx.sim.keys.filter((k) => k.userId === fx.serviceAccountId).length).toBe(before);
    expect(readAudit(fx.auditFile)).not.toMatch(/PRIVATE KEY/);
  });
});

describe('a Zitadel (or a proxy in front of it) that echoes the request in its errors', () => {
  const ACCESS_TOKEN = 'zitadel-access-token-attackgz-4m2q8x';
  it("the server's access token never reaches the error the caller reads", async () => {
    const echo = await listen((req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(req.url === '/oauth/v2/token' ? 200 : 400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          req.url === '/oauth/v2/token'
            ? { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600 }
            : { code: 3, message: `malformed request: authorization=${String(req.headers.authorization)}` },
        ),
      );
    });
    try {
      const b = probeBackend(echo.url, 'echo-probe');
      const err = await b.getUser('123456789').then(
        () => undefined,
        (e: Error) => e,
      );
      // before the fix: "Zitadel refused user 123456789 as invalid: malformed request: authorization=Bearer zitadel-..."
      expect(err?.message).toMatch(/^Zitadel refused user 123456789 as invalid: .*\[redacted\]/);
      expect(err?.message).not.toContain(ACCESS_TOKEN);
    } finally {
      await echo.close();
    }
  });
});

describe('a Zitadel whose answers have fields of the wrong type', () => {
  it('users_search answers with what it could read, not "a server bug"', async () => {
    const odd = await listen((req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          req.url === '/oauth/v2/token'
            ? { access_token: 'odd-access-token-1234', expires_in: 300 }
            : {
                details: { totalResult: '2' },
                result: [
                  { userId: '1', username: 5, state: ['x'], details: 'x', human: [1], machine: { name: {} } },
                  { userId: { id: 2 }, username: 'ok-user', preferredLoginName: null, loginNames: 'x' },
                ],
              },
        ),
      );
    });
    try {
      const zitadel = probeBackend(odd.url, 'odd-probe');
      const services = { zitadel, mapping: { allowedOrgIds: [], roleScopes: {} }, registry: async () => undefined };
      const tool = tools.find((t) => t.name === 'users_search');
      if (!tool) throw new Error('no users_search');
      // before the fix: ERR_INTERNAL "users_search produced an invalid result; this is a server bug"
      const out = await invokeTool(
        tool,
        {},
        services as ZitadelServices,
        {
          signal: new AbortController().signal,
          logger: silentLogger(),
          principal: { subject: 'probe', scopes: [], roles: [], source: 'stdio' },
          requestId: 'attackgz',
          maxOutputBytes: 26_000,
          options: {},
        },
        { timeoutMs: 5000 },
      );
      const users = out.users as { id: string; username: string }[];
      expect(users.map((u) => [u.id, u.username])).toEqual([
        ['1', ''],
        ['', 'ok-user'],
      ]);
    } finally {
      await odd.close();
    }
  });
});

describe('lists at their own limits', () => {
  it('users_search with limit 100 answers (cut to the output budget, saying so) instead of failing', async () => {
    // 100 service accounts whose descriptions are as long as service_accounts_create allows (500)
    const at = new Date().toISOString();
    for (let i = 0; i < 100; i++)
      fx.sim.users.push({
        id: String(910_000_000_000_000_000n + BigInt(i)),
        orgId: fx.ids.orgId,
        username: `bulk-agent-${String(i).padStart(3, '0')}`,
        state: 'USER_STATE_ACTIVE',
        created: at,
        machine: { name: `Bulk agent ${i}`, description: 'd'.repeat(500), accessTokenType: 'ACCESS_TOKEN_TYPE_JWT' },
      });
    const r = await s.client.callTool({ name: 'users_search', arguments: { username: 'bulk-agent-', limit: 100 } });
    const text = (r.content as { text: string }[])[0]?.text ?? '';
    // before the fix: ERR_OUTPUT_TOO_LARGE for the tool's own maximum page
    expect(r.isError, text.slice(0, 300)).toBeFalsy();
    const data = r.structuredContent as {
      users: { username: string }[];
      total: number;
      truncated: boolean;
      nextCursor?: string;
    };
    expect(data.total).toBe(100);
    expect(data.users.length).toBeGreaterThan(0);
    expect(data.users.length).toBeLessThan(100);
    expect(data.truncated).toBe(true);
    // the next page starts right after the last user shown: nothing skipped, nothing twice
    const next = await s.client.callTool({
      name: 'users_search',
      arguments: { username: 'bulk-agent-', limit: 100, cursor: data.nextCursor },
    });
    const second = next.structuredContent as { users: { username: string }[] };
    expect(second.users[0]?.username).toBe(`bulk-agent-${String(data.users.length).padStart(3, '0')}`);
  });

  it('events_list with limit 100 answers (cut to the output budget, saying so) instead of failing', async () => {
    // 101 changes of one grant of agent-oncall, each with the role keys it set. Zitadel writes them on the
    // grant's own aggregate (type usergrant, id the grant's id, owned by the granting organisation), with
    // {roleKeys} as payload, not on the user's (internal/repository/usergrant/aggregate.go, user_grant.go).
    const oncall = fx.sim.users.find((u) => u.username === 'agent-oncall' && u.orgId === fx.ids.orgId);
    const grant = fx.sim.grants.find((g) => g.userId === oncall?.id && g.projectId === fx.ids.projectId);
    if (!oncall || !grant) throw new Error('seed changed: no grant of agent-oncall on the MCP project');
    const roleKeys = Array.from({ length: 12 }, (_, i) => `observability.role-with-a-long-key-${i}`);
    for (let i = 0; i < 101; i++)
      fx.sim.record({
        type: 'user.grant.changed',
        aggregateId: grant.id,
        aggregateType: 'usergrant',
        resourceOwner: grant.orgId,
        editorUserId: fx.serviceAccountId,
        payload: { roleKeys },
      });
    const r = await s.client.callTool({
      name: 'events_list',
      arguments: { user: oncall.id, categories: ['grants'], limit: 100 },
    });
    const text = (r.content as { text: string }[])[0]?.text ?? '';
    expect(r.isError, text.slice(0, 300)).toBeFalsy();
    const data = r.structuredContent as {
      events: { sequence: string; userId?: string; details?: { grantId?: string } }[];
      truncated: boolean;
      nextCursor?: string;
    };
    expect(data.events.length).toBeGreaterThan(0);
    // found where Zitadel keeps them: the user's grant, named on every event
    for (const e of data.events) expect([e.userId, e.details?.grantId]).toEqual([oncall.id, grant.id]);
    expect(data.events.length).toBeLessThan(100);
    expect(data.truncated).toBe(true);
    const next = await s.client.callTool({
      name: 'events_list',
      arguments: { user: oncall.id, categories: ['grants'], limit: 100, cursor: data.nextCursor },
    });
    const older = (next.structuredContent as { events: { sequence: string }[] }).events;
    // the next page continues right below the last event shown
    expect(Number(older[0]?.sequence)).toBeLessThan(Number(data.events.at(-1)?.sequence));
    const shown = new Set(data.events.map((e) => e.sequence));
    expect(older.some((e) => shown.has(e.sequence))).toBe(false);
  });
});

describe('a name that points at another user between plan and confirmation (TOCTOU)', () => {
  let cfx: ZitadelFixture;
  let cs: StdioSession;
  beforeAll(async () => {
    cfx = await startZitadelFixture({ confirm: true });
    cs = await connectStdio(cfx.env);
  }, 60_000);
  afterAll(async () => {
    await cs?.close();
    await cfx?.stop();
  });

  // The confirmation carries the plan's digest (shared/src/pipeline/pipeline.ts #confirm): the confirmed
  // call plans again, and the plan names the resolved user's id, so a swap of names is refused.
  it('users_disable confirmed for "bob" does not deactivate whoever is named bob by then', async () => {
    const bob = cfx.sim.users.find((u) => u.username === 'bob');
    const alice = cfx.sim.users.find((u) => u.username === 'alice');
    if (!bob || !alice) throw new Error('seed changed: no bob or alice');
    const first = await cs.client.callTool({ name: 'users_disable', arguments: { user: 'bob' } });
    const meta = first._meta?.['ravenhelm/confirmation'] as { token: string; plan: string } | undefined;
    expect(meta?.plan).toContain(`id ${bob.id}`);
    // between plan and confirmation, bob is renamed and alice takes the name
    bob.username = 'bob-former';
    alice.username = 'bob';
    const confirmed = await cs.client.callTool({
      name: 'users_disable',
      arguments: { user: 'bob', confirmationToken: meta?.token },
    });
    expect(alice.state).toBe('USER_STATE_ACTIVE');
    expect(bob.state).toBe('USER_STATE_ACTIVE');
    expect(confirmed.isError).toBe(true);
    const text = JSON.stringify(confirmed.content);
    expect(text).toMatch(/ERR_CONFLICT/);
    expect(text).toContain(`id ${alice.id}`); // the plan as it is now
    // the refused confirmation is spent, and a token made to carry another plan's digest is refused
    const again = await cs.client.callTool({
      name: 'users_disable',
      arguments: { user: 'bob', confirmationToken: meta?.token },
    });
    expect(JSON.stringify(again.content)).toMatch(/ERR_CONFIRMATION_INVALID/);
    const second = await cs.client.callTool({ name: 'users_disable', arguments: { user: 'bob' } });
    const fresh = (second._meta?.['ravenhelm/confirmation'] as { token: string } | undefined)?.token as string;
    const forged = `${fresh.split('.')[0]}.${'A'.repeat(22)}`;
    const refused = await cs.client.callTool({
      name: 'users_disable',
      arguments: { user: 'bob', confirmationToken: forged },
    });
    expect(JSON.stringify(refused.content)).toMatch(/ERR_CONFIRMATION_INVALID/);
    expect(alice.state).toBe('USER_STATE_ACTIVE');
  });
});
