// The Zitadel backend client against the simulator: token caching until shortly before expiry,
// concurrent calls sharing one login, error mapping, key files that never reach an error message.
import { loadConfig } from '@ravenhelm/kit';
import { parseKeyFile, ZitadelBackend, zitadelError, zitadelServer } from '@ravenhelm/mcp-zitadel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedZitadel, startZitadelSim, type ZitadelSim } from '../simulators/zitadel.js';

let sim: ZitadelSim;
let keyFile: string;
let orgId: string;

beforeAll(async () => {
  sim = await startZitadelSim();
  orgId = seedZitadel(sim).orgId;
  keyFile = sim.addServiceAccount({ username: 'backend-test' }).keyFile;
});
afterAll(() => sim?.close());

function backend(): ZitadelBackend {
  return new ZitadelBackend({
    url: sim.url,
    keyFile: parseKeyFile(keyFile, 'test key'),
    orgId,
    timeoutMs: 2000,
    maxResponseBytes: 1024 * 1024,
    scope: 'openid',
  });
}

describe('the access token', () => {
  it('is fetched once for concurrent calls and reused until shortly before it expires', async () => {
    sim.tokenTtlSeconds = 2;
    try {
      const b = backend();
      await Promise.all([
        b.getUser(b.serviceAccountId),
        b.getUser(b.serviceAccountId),
        b.listOrgs(undefined, { offset: 0, limit: 5 }),
      ]);
      expect(b.tokenFetches).toBe(1);
      await b.getUser(b.serviceAccountId);
      expect(b.tokenFetches).toBe(1);
      // A 2 s token is renewed 0.2 s early (a tenth of its life, at most a minute).
      await new Promise((r) => setTimeout(r, 1900));
      await b.getUser(b.serviceAccountId);
      expect(b.tokenFetches).toBe(2);
    } finally {
      sim.tokenTtlSeconds = 43_200;
    }
  });

  it('an unreachable Zitadel is ERR_BACKEND_UNAVAILABLE naming the URL, never the key', async () => {
    const b = new ZitadelBackend({
      url: 'http://127.0.0.1:9',
      keyFile: parseKeyFile(keyFile, 'test key'),
      timeoutMs: 1000,
      maxResponseBytes: 1024,
      scope: 'openid',
    });
    const err = (await b.getUser('1').then(
      () => new Error('expected a failure'),
      (e: unknown) => e,
    )) as Error & { code: string };
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/^Zitadel is unreachable at http:\/\/127\.0\.0\.1:9\/oauth\/v2\/token/);
    expect(err.message).not.toContain('PRIVATE');
  });
});

describe('key files', () => {
  it('refuses what is not a service-account key file without echoing any of it', () => {
    const secret = JSON.parse(keyFile) as Record<string, string>;
    expect(() => parseKeyFile('{not json', 'K')).toThrow(
      'K is not JSON: use the key file Zitadel created for the service account',
    );
    const wrong = JSON.stringify({ ...secret, type: 'application' });
    expect(() => parseKeyFile(wrong, 'K')).toThrow('K is not a Zitadel service-account key file (check: type)');
    const noUser = JSON.stringify({ ...secret, userId: '' });
    expect(() => parseKeyFile(noUser, 'K')).toThrow(/^K is not a Zitadel service-account key file \(check: userId\)$/);
    const noKey = JSON.stringify({ ...secret, key: String(secret.key).replaceAll('PRIVATE KEY', 'PUBLIC KEY') });
    expect(() => parseKeyFile(noKey, 'K')).toThrow(/^K is not a Zitadel service-account key file \(check: key\)$/);
  });
});

describe('error mapping', () => {
  it.each([
    [404, { code: 5, message: 'Errors.User.NotFound (QUERY-Dfbg2)' }, 'ERR_NOT_FOUND'],
    [409, { code: 6, message: 'Errors.User.AlreadyExisting' }, 'ERR_CONFLICT'],
    [400, { code: 3, message: 'invalid' }, 'ERR_INVALID_INPUT'],
    [400, { code: 9, message: 'Errors.Project.Role.NotFound' }, 'ERR_INVALID_INPUT'],
    [403, { code: 7, message: 'No matching permissions found' }, 'ERR_NOT_ALLOWED'],
    [401, { code: 16, message: 'Errors.Token.Invalid' }, 'ERR_BACKEND_ERROR'],
    [503, { code: 14, message: 'unavailable' }, 'ERR_BACKEND_UNAVAILABLE'],
    [502, '<html>bad gateway</html>', 'ERR_BACKEND_UNAVAILABLE'],
  ] as const)('HTTP %i %j -> %s', (status, body, code) => {
    const err = zitadelError(status, body, 'user 1');
    expect(err.code).toBe(code);
    expect(err.message.length).toBeLessThan(400);
  });
});

describe('configuration', () => {
  const load = (env: Record<string, string>) =>
    loadConfig({ backendSchema: zitadelServer.backendConfig, backendEnv: zitadelServer.backendEnv ?? {}, env });

  it('refuses a role mapping without the project and organisations, as the auth package does', () => {
    const roleScopes = JSON.stringify({ 'docker.reader': ['mcp:docker:read'] });
    expect(() => load({ ZITADEL_ROLE_SCOPES: roleScopes })).toThrow(
      /roles\.roleScopes needs roles\.projectId and roles\.allowedOrgIds/,
    );
    const ok = load({ ZITADEL_ROLE_SCOPES: roleScopes, ZITADEL_PROJECT_ID: '1', ZITADEL_ALLOWED_ORG_IDS: 'a, b' });
    expect(ok.backend.roles).toEqual({
      projectId: '1',
      allowedOrgIds: ['a', 'b'],
      roleScopes: { 'docker.reader': ['mcp:docker:read'] },
    });
    expect(() =>
      load({ ZITADEL_ROLE_SCOPES: '{"x":["a b"]}', ZITADEL_PROJECT_ID: '1', ZITADEL_ALLOWED_ORG_IDS: 'a' }),
    ).toThrow(/must be one scope/);
  });

  it('refuses plain http off loopback and URLs with credentials', () => {
    expect(() => load({ ZITADEL_URL: 'http://zitadel.example.com' })).toThrow(/must be an https URL/);
    expect(() => load({ ZITADEL_URL: 'https://u:p@zitadel.example.com' })).toThrow(/without credentials/);
    expect(load({ ZITADEL_URL: 'http://127.0.0.1:8080' }).backend.url).toBe('http://127.0.0.1:8080');
  });
});

describe('memberships (management v1 ListUserMemberships)', () => {
  it("lists the instance's and the header organisation's memberships, never another organisation's", async () => {
    const b = backend();
    const auditor = sim.users.find((u) => u.username === 'agent-auditor');
    const contractors = sim.orgs.find((o) => o.name === 'Contractors');
    if (!auditor || !contractors) throw new Error('seed changed');
    // Also an owner of the other organisation: Zitadel filters that one out (resource owner not in
    // instance + x-zitadel-orgid), which is why the server is bound to one organisation.
    sim.memberships.push({
      userId: auditor.id,
      kind: 'org',
      objectId: contractors.id,
      resourceOwner: contractors.id,
      roles: ['ORG_OWNER'],
      created: new Date().toISOString(),
    });
    const res = await b.listUserMemberships(auditor.id, { offset: 0, limit: 10 });
    expect(res.total).toBe(1);
    expect(res.result).toEqual([
      {
        userId: auditor.id,
        roles: ['IAM_OWNER_VIEWER'],
        displayName: 'ZITADEL',
        iam: true,
        details: expect.objectContaining({ resourceOwner: sim.instanceId }),
      },
    ]);
    const none = await b.listUserMemberships('123', { offset: 0, limit: 10 });
    expect(none).toEqual({ total: 0, result: [] });
  });
});

describe('memberships across the instance (v2 ListAdministrators)', () => {
  it("lists every organisation's, pages them with an exact total, and refuses a limit over Zitadel's maximum", async () => {
    const b = backend();
    const owner = sim.users.find((u) => u.username === 'agent-orgadmin');
    const contractors = sim.orgs.find((o) => o.name === 'Contractors');
    if (!owner || !contractors) throw new Error('seed changed');
    const elsewhere = {
      userId: owner.id,
      kind: 'org' as const,
      objectId: contractors.id,
      resourceOwner: contractors.id,
      roles: ['ORG_OWNER'],
      created: new Date(Date.now() + 1000).toISOString(),
    };
    sim.memberships.push(elsewhere);
    try {
      const all = await b.listAdministrators(owner.id, { offset: 0, limit: 10 });
      // oldest first (asc by creation date): the seeded one, then the other organisation's
      expect(all.total).toBe(2);
      expect(all.hidden).toBe(0);
      expect(all.result.map((a) => [a.organization?.name, a.roles])).toEqual([
        ['Ravenhelm', ['ORG_USER_MANAGER']],
        ['Contractors', ['ORG_OWNER']],
      ]);
      const second = await b.listAdministrators(owner.id, { offset: 1, limit: 1 });
      expect(second).toMatchObject({ total: 2, hidden: 0, result: [{ organization: { id: contractors.id } }] });
      const past = await b.listAdministrators(owner.id, { offset: 5, limit: 1 });
      expect(past).toEqual({ total: 2, hidden: 0, result: [] });
      const tooMany = await b.listAdministrators(owner.id, { offset: 0, limit: 1001 }).then(
        () => undefined,
        (e: { code?: string; message?: string }) => e,
      );
      expect(tooMany?.code).toBe('ERR_INVALID_INPUT');
      expect(tooMany?.message).toContain('Errors.Query.LimitExceeded (QUERY-4M0fs)');
    } finally {
      sim.memberships = sim.memberships.filter((m) => m !== elsewhere);
    }
  });
});

describe('a malformed time in a request body', () => {
  it('is refused as Zitadel refuses it (3 INVALID_ARGUMENT, 400), not as a server failure', async () => {
    const err = await backend()
      .listEvents({ createdBefore: 'yesterday', limit: 5 })
      .then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
    expect(err?.code).toBe('ERR_INVALID_INPUT');
    expect(err?.message).toMatch(/Zitadel refused events as invalid: .*Timestamp value "yesterday"/);
  });
});
