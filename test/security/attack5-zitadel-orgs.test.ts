/**
 * Attack round 5 on the Zitadel server, from outside: organisation context. Zitadel's management
 * ListUserGrants lists only the grants owned by the x-zitadel-orgid organisation
 * (internal/api/grpc/management/user_grant.go: AppendMyOrgQuery with the context's org), while a token
 * carries the user's roles from every organisation that granted them, and auth counts those of every
 * organisation in allowedOrgIds. A grant on the MCP project made by another allowed organisation (one the
 * project is granted to) was invisible to the checks that read grants: keys_add handed a caller the key of
 * an account holding scopes the caller lacks. Through the real bin over stdio with the SDK Client.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { nextId } from '../simulators/zitadel-proto.js';
import {
  callTool,
  connectStdio,
  type StdioSession,
  startZitadelFixture,
  type ZitadelFixture,
} from '../zitadel/harness.js';

let fx: ZitadelFixture | undefined;
let s: StdioSession | undefined;

afterEach(async () => {
  await s?.close();
  await fx?.stop();
  s = undefined;
  fx = undefined;
});

/** Home and Contractors both allowed; the caller holds zitadel admin and docker read only. */
async function start(): Promise<{ fx: ZitadelFixture; s: StdioSession }> {
  fx = await startZitadelFixture({ scopes: ['mcp:zitadel:admin', 'mcp:docker:read'] });
  fx.env.ZITADEL_ALLOWED_ORG_IDS = `${fx.ids.orgId},${fx.ids.otherOrgId}`;
  s = await connectStdio(fx.env);
  return { fx, s };
}

/** A service account of the home org holding docker.admin through a grant the other organisation made. */
function grantedElsewhere(f: ZitadelFixture, username: string): string {
  const { userId } = f.sim.addServiceAccount({ username, manager: false });
  f.sim.grants.push({
    id: nextId(),
    userId,
    projectId: f.ids.projectId,
    orgId: f.ids.otherOrgId,
    roleKeys: ['docker.admin'],
  });
  return userId;
}

describe('grants of another allowed organisation', () => {
  it('agents_get_capabilities counts them, as a token would', async () => {
    const { fx, s } = await start();
    const userId = grantedElsewhere(fx, 'agent-partner-granted');
    const r = await callTool(s, 'agents_get_capabilities', { user: userId });
    expect(r.isError, r.text).toBe(false);
    // before the fix: scopes [] (the grant made by Contractors was never read)
    expect(r.data?.scopes).toEqual(['mcp:docker:admin']);
  }, 60_000);

  it('keys_add refuses the key of an account whose other-organisation grant gives scopes the caller lacks', async () => {
    const { fx, s } = await start();
    const userId = grantedElsewhere(fx, 'agent-partner-admin');
    const before = fx.sim.keys.filter((k) => k.userId === userId).length;
    const r = await callTool(s, 'keys_add', { user: userId });
    // before the fix: a key file of an account that holds mcp:docker:admin, for a caller holding docker read
    expect(r.isError, r.text.slice(0, 300)).toBe(true);
    expect(r.text).toMatch(/^ERR_NOT_ALLOWED: .*mcp:docker:admin/);
    expect(r.text).not.toMatch(/PRIVATE KEY/);
    expect(fx.sim.keys.filter((k) => k.userId === userId).length).toBe(before);
  }, 60_000);

  it("fails closed when the other organisation's grants cannot be read", async () => {
    const { fx, s } = await start();
    const { userId } = fx.sim.addServiceAccount({ username: 'agent-partner-unread', manager: false });
    // the server's account manages its own organisation only (an ORG_OWNER there)
    fx.sim.orgBoundManagers.add(fx.serviceAccountId);
    const before = fx.sim.keys.filter((k) => k.userId === userId).length;
    const r = await callTool(s, 'keys_add', { user: userId });
    // before the fix: the key was made, the Contractors grants never asked for
    expect(r.isError, r.text.slice(0, 300)).toBe(true);
    expect(r.text).toMatch(new RegExp(`^ERR_NOT_ALLOWED: .*organisation ${fx.ids.otherOrgId}`));
    expect(fx.sim.keys.filter((k) => k.userId === userId).length).toBe(before);
  }, 60_000);
});
