// The HIGH write tools through the real SDK Client over stdio, under a `confirm: destructive` policy:
// service accounts, keys (returned exactly once, never in any log or audit byte), grants, onboarding.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, readAudit, type StdioSession, startZitadelFixture, type ZitadelFixture } from './harness.js';

let fx: ZitadelFixture;
let s: StdioSession;
/** Every tool result text, to search for key material afterwards. */
const answers: string[] = [];
/** Private keys handed out by keys_add / agents_onboard. */
const issuedKeys: string[] = [];

beforeAll(async () => {
  fx = await startZitadelFixture({ confirm: true });
  s = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await s?.close();
  await fx?.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field below
type Loose = Record<string, any>;

async function call(name: string, args: Record<string, unknown> = {}) {
  const r = await s.client.callTool({ name, arguments: args });
  const text = (r.content as { type: string; text: string }[])[0]?.text ?? '';
  answers.push(text);
  return {
    isError: r.isError === true,
    data: r.structuredContent as Loose,
    text,
    meta: r._meta as Loose | undefined,
  };
}

/** Logs in at the simulator with a key file, as any Zitadel client would. */
async function loginWith(keyFile: string): Promise<number> {
  const k = JSON.parse(keyFile) as { keyId: string; userId: string; key: string };
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: k.keyId })
    .setIssuer(k.userId)
    .setSubject(k.userId)
    .setAudience(fx.sim.issuer)
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(createPrivateKey(k.key));
  const res = await fetch(`${fx.sim.url}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      scope: 'openid',
    }),
  });
  return res.status;
}

describe('service accounts and keys', () => {
  it('creates a service account; a duplicate username is a conflict', async () => {
    const r = await call('service_accounts_create', { username: 'agent-deploy', name: 'Deploy agent' });
    expect(r.isError).toBe(false);
    expect(r.data.user).toMatchObject({
      username: 'agent-deploy',
      type: 'machine',
      accessTokenType: 'jwt',
      state: 'active',
    });
    const again = await call('service_accounts_create', { username: 'agent-deploy', name: 'Deploy agent' });
    expect(again.text).toMatch(
      /^ERR_CONFLICT: service account agent-deploy already exists in Zitadel: User already exists \(V3-DKcYh\); pick another name/,
    );
  });

  it('adds a key returned exactly once, which logs in; keys_list shows it without material', async () => {
    const r = await call('keys_add', { user: 'agent-deploy', expiresInDays: 30 });
    expect(r.isError).toBe(false);
    expect(r.data).toMatchObject({ shownOnce: true, keyId: expect.any(String) });
    const key = JSON.parse(r.data.keyFile as string) as { key: string; keyId: string };
    issuedKeys.push(key.key);
    expect(key.keyId).toBe(r.data.keyId);
    expect(await loginWith(r.data.keyFile)).toBe(200);
    const list = await call('keys_list', { user: 'agent-deploy' });
    expect(list.data.keys).toEqual([expect.objectContaining({ id: r.data.keyId, type: 'json' })]);
    expect(list.text).not.toContain('PRIVATE KEY');
    const human = await call('keys_add', { user: 'alice' });
    expect(human.text).toBe('ERR_INVALID_INPUT: alice is a human user: only service accounts have keys');
  });

  it('the token endpoint refuses an assertion signed with another key', async () => {
    const r = await call('keys_add', { user: 'agent-deploy' });
    issuedKeys.push(JSON.parse(r.data.keyFile).key);
    const forged = JSON.parse(r.data.keyFile);
    forged.key = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    expect(await loginWith(JSON.stringify(forged))).toBe(400);
  });
});

describe('grants', () => {
  it('grants roles (creating, then extending the grant) and is idempotent', async () => {
    const first = await call('roles_grant', { user: 'agent-deploy', roles: ['docker.reader'] });
    expect(first.data).toMatchObject({ projectId: fx.ids.projectId, roles: ['docker.reader'], changed: true });
    const more = await call('roles_grant', { user: 'agent-deploy', roles: ['docker.operator', 'docker.reader'] });
    expect(more.data).toMatchObject({
      roles: ['docker.operator', 'docker.reader'],
      changed: true,
      grantId: first.data.grantId,
    });
    const same = await call('roles_grant', { user: 'agent-deploy', roles: ['docker.reader'] });
    expect(same.data.changed).toBe(false);
    const unknown = await call('roles_grant', { user: 'agent-deploy', roles: ['root'] });
    expect(unknown.text).toMatch(
      /^ERR_INVALID_INPUT: Zitadel refused grant \d+: a role key is not defined on the project \(keys are case-sensitive\); see roles_list, or add it with roles_create \(Errors\.Project\.Role\.NotFound \(COMMAND-mm9F4\)\)$/,
    );
  });

  it('revoke needs confirmation (plan + single-use token), then removes the roles and finally the grant', async () => {
    const plan = await call('roles_revoke', { user: 'agent-deploy', roles: ['docker.operator'] });
    expect(plan.isError).toBe(true);
    expect(plan.text).toMatch(
      /Plan: Remove roles docker\.operator from agent-deploy@\S+ \(id \d+, service account, active\) on the MCP project\./,
    );
    const token = plan.meta?.['ravenhelm/confirmation']?.token as string;
    const held = fx.sim.grants.find((g) => g.userId === fx.sim.users.find((u) => u.username === 'agent-deploy')?.id);
    expect(held?.roleKeys.sort()).toEqual(['docker.operator', 'docker.reader']);
    const done = await call('roles_revoke', {
      user: 'agent-deploy',
      roles: ['docker.operator'],
      confirmationToken: token,
    });
    expect(done.data).toMatchObject({ roles: ['docker.reader'], changed: true });
    const plan2 = await call('roles_revoke', { user: 'agent-deploy', roles: ['docker.reader'] });
    const last = await call('roles_revoke', {
      user: 'agent-deploy',
      roles: ['docker.reader'],
      confirmationToken: plan2.meta?.['ravenhelm/confirmation']?.token,
    });
    expect(last.data).toEqual({ userId: expect.any(String), projectId: fx.ids.projectId, roles: [], changed: true });
    expect(fx.sim.grants.some((g) => g.userId === done.data.userId)).toBe(false);
  });
});

describe('roles, keys and users: the destructive and admin tools', () => {
  it('creates a project role; a duplicate is a conflict; a mapped role shows its scopes', async () => {
    const r = await call('roles_create', { key: 'observability.writer', displayName: 'Observability writer' });
    expect(r.data).toEqual({ projectId: fx.ids.projectId, key: 'observability.writer', scopes: [] });
    const mapped = await call('roles_create', { key: 'docker.reader', displayName: 'dup' });
    expect(mapped.text).toMatch(
      /^ERR_CONFLICT: role docker\.reader on project \d+ already exists in Zitadel: Role already exists \(COMMAND-4m0fs\)/,
    );
    const roles = await call('roles_list');
    expect(roles.data.roles.map((x: { key: string }) => x.key)).toContain('observability.writer');
  });

  it('deletes a key after confirmation; the key file no longer logs in; a repeat finds it gone, not an error', async () => {
    const added = await call('keys_add', { user: 'agent-deploy', expiresInDays: 2 });
    issuedKeys.push(JSON.parse(added.data.keyFile).key);
    expect(await loginWith(added.data.keyFile)).toBe(200);
    const plan = await call('keys_delete', { user: 'agent-deploy', keyId: added.data.keyId });
    expect(plan.text).toContain(`Plan: Delete key ${added.data.keyId} of agent-deploy`);
    const token = plan.meta?.['ravenhelm/confirmation']?.token;
    const done = await call('keys_delete', { user: 'agent-deploy', keyId: added.data.keyId, confirmationToken: token });
    expect(done.data).toMatchObject({ keyId: added.data.keyId, deleted: true });
    expect(await loginWith(added.data.keyFile)).toBe(400);
    // a retry after a lost answer: the plan says there is nothing to delete, the call answers that the key is gone
    const again = await call('keys_delete', { user: 'agent-deploy', keyId: added.data.keyId });
    expect(again.text).toMatch(
      new RegExp(
        `Plan: Key ${added.data.keyId} of agent-deploy\\S* \\(id \\d+, service account, active\\) is not there \\(already deleted or never existed\\): nothing to delete\\.`,
      ),
    );
    const repeat = await call('keys_delete', {
      user: 'agent-deploy',
      keyId: added.data.keyId,
      confirmationToken: again.meta?.['ravenhelm/confirmation']?.token,
    });
    expect(repeat.isError).toBe(false);
    expect(repeat.data).toEqual({
      userId: done.data.userId,
      keyId: added.data.keyId,
      deleted: false,
      note: 'no such key (already deleted or never existed): nothing was changed',
    });
    // the HIGH-tier audit: the repeat is a success, like the deletion itself, not an error
    const outcomes = readAudit(fx.auditFile)
      .split('\n')
      .filter((l) => l.includes('"keys_delete"') && l.includes('"outcome"'))
      .map((l) => JSON.parse(l))
      .filter((r) => r.errorCode !== 'ERR_CONFIRMATION_REQUIRED');
    expect(outcomes.slice(-2).map((r) => [r.outcome, r.errorCode, r.args?.keyId])).toEqual([
      ['success', undefined, added.data.keyId],
      ['success', undefined, added.data.keyId],
    ]);
    // a user that is not there stays an error, key or no key
    const nobody = await call('keys_delete', { user: 'no-such-agent', keyId: added.data.keyId });
    expect(nobody.text).toMatch(/^ERR_NOT_FOUND: no user of organisation \d+ is named 'no-such-agent'/);
  });

  it("deactivates or locks a user after confirmation, and refuses the server's own account", async () => {
    const plan = await call('users_disable', { user: 'bob', mode: 'lock' });
    expect(plan.text).toMatch(/Plan: Lock bob@\S+ \(id \d+, human, active\): no more logins or new tokens\./);
    const done = await call('users_disable', {
      user: 'bob',
      mode: 'lock',
      confirmationToken: plan.meta?.['ravenhelm/confirmation']?.token,
    });
    expect(done.data.user).toMatchObject({ username: 'bob', state: 'locked' });
    const twice = await call('users_disable', { user: 'bob', mode: 'lock' });
    const again = await call('users_disable', {
      user: 'bob',
      mode: 'lock',
      confirmationToken: twice.meta?.['ravenhelm/confirmation']?.token,
    });
    // a repeat (a retry after a lost answer) answers the state asked for, not Zitadel's refusal to lock twice
    expect(again.data.user).toMatchObject({ username: 'bob', state: 'locked' });
    const enabled = await call('users_enable', { user: 'bob' });
    expect(enabled.data.user).toMatchObject({ username: 'bob', state: 'active' });
    expect((await call('users_enable', { user: 'bob' })).data.user).toMatchObject({ username: 'bob', state: 'active' });
    // deactivating twice is as idempotent as its annotation says
    for (let i = 0; i < 2; i++) {
      const p = await call('users_disable', { user: 'bob' });
      const d = await call('users_disable', {
        user: 'bob',
        confirmationToken: p.meta?.['ravenhelm/confirmation']?.token,
      });
      expect(d.data.user).toMatchObject({ username: 'bob', state: 'inactive' });
    }
    expect((await call('users_enable', { user: 'bob' })).data.user).toMatchObject({ state: 'active' });
    const selfPlan = await call('users_disable', { user: 'ravenhelm-mcp' });
    const self = await call('users_disable', {
      user: 'ravenhelm-mcp',
      confirmationToken: selfPlan.meta?.['ravenhelm/confirmation']?.token,
    });
    expect(self.text).toBe("ERR_NOT_ALLOWED: refusing to disable this server's own service account");
  });
});

describe('onboarding an agent', () => {
  it('creates account, grant and key yielding exactly the requested scopes', async () => {
    const r = await call('agents_onboard', {
      username: 'agent-nightly',
      scopes: ['mcp:observability:read', 'mcp:docker:write'],
      expiresInDays: 7,
    });
    expect(r.isError).toBe(false);
    expect(r.data.roles).toEqual(['docker.operator', 'observability.reader']);
    expect(r.data.scopes).toEqual(['mcp:docker:write', 'mcp:observability:read']);
    issuedKeys.push(JSON.parse(r.data.key.keyFile).key);
    expect(await loginWith(r.data.key.keyFile)).toBe(200);
    const caps = await call('agents_get_capabilities', { user: 'agent-nightly' });
    expect(caps.data.scopes).toEqual(['mcp:docker:write', 'mcp:observability:read']);
  });

  it('refuses a scope set no role yields, before creating anything', async () => {
    const before = fx.sim.users.length;
    const r = await call('agents_onboard', {
      username: 'agent-greedy',
      scopes: ['mcp:docker:write', 'mcp:gitlab:read'],
    });
    expect(r.text).toBe(
      'ERR_INVALID_INPUT: no MCP-project role grants exactly mcp:gitlab:read without more; roles can grant: mcp:docker:admin, mcp:docker:read, mcp:docker:write, mcp:observability:read',
    );
    expect(fx.sim.users.length).toBe(before);
  });
});

describe('security events', () => {
  it("pages a service account's events newest first, by category, with only safe details", async () => {
    const all: { sequence: string; type: string; at: string; userId?: string; details?: { grantId?: string } }[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const r = await call('events_list', { user: 'agent-deploy', limit: 3, ...(cursor ? { cursor } : {}) });
      expect(r.isError).toBe(false);
      all.push(...r.data.events);
      cursor = r.data.nextCursor;
      expect(r.data.truncated).toBe(cursor !== undefined);
      if (!cursor) break;
    }
    // the account's own events and its grant's (on the grant's aggregate: sequences count per aggregate),
    // as one stream, newest first, none twice
    const times = all.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(all.map((e) => `${e.type}/${e.sequence}/${e.at}`)).size).toBe(all.length);
    const deploy = fx.sim.users.find((u) => u.username === 'agent-deploy')?.id;
    expect(all.every((e) => e.userId === deploy)).toBe(true);
    const grantIds = new Set(all.filter((e) => e.type.startsWith('user.grant.')).map((e) => e.details?.grantId));
    expect(grantIds.size).toBe(1);
    expect(fx.sim.events.some((e) => e.aggregateType === 'usergrant' && grantIds.has(e.aggregateId))).toBe(true);
    const types = all.map((e) => e.type);
    for (const t of [
      'user.machine.added',
      'user.machine.key.added',
      'user.machine.key.removed',
      'user.grant.added',
      'user.grant.removed',
      'user.token.v2.added',
    ]) {
      expect(types).toContain(t);
    }
    expect(types.at(-1)).toBe('user.machine.added');
    const keys = await call('events_list', { user: 'agent-deploy', categories: ['keys'], limit: 100 });
    expect(new Set(keys.data.events.map((e: { category: string }) => e.category))).toEqual(new Set(['keys']));
    for (const e of keys.data.events)
      expect(Object.keys(e.details ?? {}).every((k) => ['keyId', 'expirationDate'].includes(k))).toBe(true);
  });

  it("pages an organisation's events (sequences count per aggregate) through events that share one creation time", async () => {
    // one transaction's worth of events: the same microsecond, on three grants, across a page boundary
    const burstAt = `${new Date().toISOString().slice(0, 23)}456Z`;
    for (let i = 0; i < 7; i++)
      fx.sim.record({
        type: 'user.grant.changed',
        aggregateId: `burst-grant-${i % 3}`,
        aggregateType: 'usergrant',
        resourceOwner: fx.ids.orgId,
        editorUserId: fx.serviceAccountId,
        creationDate: burstAt,
      });
    const key = (e: { type: string; sequence: string | number; at?: string; creationDate?: string }) =>
      `${e.type}/${e.sequence}/${e.at ?? e.creationDate}`;
    const expected = fx.sim.events
      .filter((e) => e.resourceOwner === fx.ids.orgId)
      .reverse()
      .map(key);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const r = await call('events_list', { orgId: fx.ids.orgId, limit: 4, ...(cursor ? { cursor } : {}) });
      expect(r.isError).toBe(false);
      seen.push(...r.data.events.map(key));
      cursor = r.data.nextCursor;
      if (!cursor) break;
    }
    expect(seen.length).toBeGreaterThan(7);
    expect(seen).toEqual(expected);
  });

  it('shows logins of a person and the events of an organisation; needs exactly one of them', async () => {
    const logins = await call('events_list', { user: 'alice', categories: ['logins'] });
    expect(logins.data.events.map((e: { type: string }) => e.type)).toEqual([
      'user.human.password.check.succeeded',
      'user.human.password.check.failed',
      'user.human.password.check.failed',
    ]);
    const org = await call('events_list', { orgId: fx.ids.orgId, limit: 5 });
    expect(org.data).toMatchObject({ returned: 5, truncated: true });
    expect((await call('events_list', {})).text).toBe('ERR_INVALID_INPUT: name exactly one of user or orgId');
    expect((await call('events_list', { user: 'alice', cursor: 'bogus' })).text).toMatch(
      /^ERR_INVALID_INPUT: cursor is not one/,
    );
  });
});

describe('secrets', () => {
  it('no private key appears in any log line or audit record; each appeared in exactly one answer', async () => {
    expect(issuedKeys.length).toBe(4);
    const logs = s.stderr();
    const audit = readAudit(fx.auditFile);
    expect(audit).toContain('keys_add');
    expect(logs.length).toBeGreaterThan(0);
    for (const pem of issuedKeys) {
      const body = pem.split('\n').slice(1, 3).join('');
      expect(logs).not.toContain(body);
      expect(audit).not.toContain(body);
      expect(answers.filter((a) => a.includes(body.slice(0, 40)))).toHaveLength(1);
    }
    for (const blob of [logs, audit]) expect(blob).not.toContain('PRIVATE KEY');
  });

  it('a key file that does not match the registered key is refused with a clear error, without echoing it', async () => {
    const forged = { ...fx.env };
    const keyPath = join(fx.dir, 'wrong-key.json');
    const own = JSON.parse(readFileSync(fx.env.ZITADEL_KEY_FILE as string, 'utf8'));
    own.key = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs1', format: 'pem' })
      .toString();
    writeFileSync(keyPath, JSON.stringify(own), { mode: 0o600 });
    forged.ZITADEL_KEY_FILE = keyPath;
    forged.RAVENHELM_AUDIT_FILE = join(fx.dir, 'wrong-key-audit.jsonl'); // one writer per log: its own
    const other = await connectStdio(forged);
    try {
      const r = await other.client.callTool({ name: 'users_get', arguments: { user: 'alice' } });
      const text = (r.content as { text: string }[])[0]?.text ?? '';
      expect(r.isError).toBe(true);
      expect(text).toBe(
        "ERR_BACKEND_ERROR: Zitadel refused this server's service-account login (HTTP 400: assertion invalid); check the key file, that the key is not expired and the account is active",
      );
      expect(other.stderr()).not.toContain(own.key.split('\n')[1]);
    } finally {
      await other.close();
    }
  });
});
