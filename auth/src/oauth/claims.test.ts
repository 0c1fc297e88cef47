import { describe, expect, test } from 'vitest';
import { AuthError } from '../errors.js';
import { extractBearerToken } from './bearer.js';
import { ExpiringCache, memoizeWithRetry, tokenKey } from './cache.js';
import {
  checkAudience,
  parseScopes,
  parseZitadelRoles,
  scopesFromRoles,
  spiffePatternMatches,
  zitadelRolesClaim,
} from './claims.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AuthError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('parseScopes', () => {
  test('space-separated scope, scp array, or both, deduplicated', () => {
    expect(parseScopes({ scope: 'a  b a' })).toEqual(['a', 'b']);
    expect(parseScopes({ scp: ['a', 'c'] })).toEqual(['a', 'c']);
    expect(parseScopes({ scope: 'a', scp: ['b'] })).toEqual(['a', 'b']);
    expect(parseScopes({})).toEqual([]);
  });
  test('a value that is not one scope-token is ERR_TOKEN_INVALID (whitespace, quotes, control characters)', () => {
    expect(code(() => parseScopes({ scp: ['mcp:docker:read mcp:docker:admin'] }))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => parseScopes({ scp: ['mcp:docker:read\tmcp:x:admin'] }))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => parseScopes({ scope: 'mcp:docker:read\nmcp:x:admin' }))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => parseScopes({ scope: 'a"b' }))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => parseScopes({ scp: ['caf\u00e9'] }))).toBe('ERR_TOKEN_INVALID');
    expect(parseScopes({ scp: ['', 'mcp:docker:read'] })).toEqual(['mcp:docker:read']);
  });
  test('wrong shapes are ERR_TOKEN_INVALID', () => {
    expect(code(() => parseScopes({ scope: ['a'] }))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => parseScopes({ scp: [1] }))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => parseScopes({ scope: Array.from({ length: 300 }, (_, i) => `s${i}`).join(' ') }))).toBe(
      'ERR_TOKEN_INVALID',
    );
  });
});

describe('Zitadel roles', () => {
  const claims = {
    'urn:zitadel:iam:org:project:roles': { admin: { 'org-1': 'a.example' } },
    'urn:zitadel:iam:org:project:42:roles': { viewer: { 'org-2': 'b.example' }, broken: 'x', empty: {}, list: [] },
    'urn:zitadel:iam:org:project:666:roles': { 'docker.admin': { 'org-1': 'a.example' } },
    'urn:zitadel:iam:org:project:42:something': { ignored: { 'org-1': 'a' } },
  };
  test("only the configured project's claim is read; the generic claim and other projects are ignored", () => {
    expect(parseZitadelRoles(claims, { projectId: '42' })).toEqual(['viewer']);
    expect(parseZitadelRoles(claims, { projectId: '666' })).toEqual(['docker.admin']);
    expect(parseZitadelRoles(claims, { projectId: '7' })).toEqual([]);
    expect(parseZitadelRoles(claims, {})).toEqual([]);
    expect(zitadelRolesClaim('42')).toBe('urn:zitadel:iam:org:project:42:roles');
  });
  test('allowedOrgIds filters by granting organisation; malformed claims grant nothing', () => {
    expect(parseZitadelRoles(claims, { projectId: '42', allowedOrgIds: ['org-2'] })).toEqual(['viewer']);
    expect(parseZitadelRoles(claims, { projectId: '42', allowedOrgIds: ['org-1'] })).toEqual([]);
    expect(parseZitadelRoles({ 'urn:zitadel:iam:org:project:42:roles': ['viewer'] }, { projectId: '42' })).toEqual([]);
    expect(parseZitadelRoles({ 'urn:zitadel:iam:org:project:42:roles': 'viewer' }, { projectId: '42' })).toEqual([]);
  });
  test('roles map to scopes only through the configured table (no prototype keys)', () => {
    expect(scopesFromRoles(['admin', 'toString', 'unknown'], { admin: ['mcp:x:admin'] })).toEqual(['mcp:x:admin']);
  });
});

describe('checkAudience', () => {
  test('string or array aud must contain an accepted value', () => {
    expect(code(() => checkAudience('r', ['r']))).toBe('accepted');
    expect(code(() => checkAudience(['x', 'p1'], ['r', 'p1']))).toBe('accepted');
    expect(code(() => checkAudience(undefined, ['r']))).toBe('ERR_TOKEN_AUDIENCE');
    expect(code(() => checkAudience(['x'], ['r']))).toBe('ERR_TOKEN_AUDIENCE');
  });
});

describe('spiffePatternMatches', () => {
  const id = 'spiffe://ravenhelm.local/agent/oncall';
  test.each([
    ['spiffe://ravenhelm.local/agent/oncall', id, true],
    ['spiffe://ravenhelm.local/agent/*', id, true],
    ['spiffe://ravenhelm.local/agent/*', `${id}/sub`, false],
    ['spiffe://ravenhelm.local/agent/**', `${id}/sub`, true],
    ['spiffe://ravenhelm.local/agent/*', 'spiffe://ravenhelm.local/agent/', false],
    ['spiffe://ravenhelm.local/agent/**', 'spiffe://ravenhelm.local/agent//x', false],
    ['spiffe://ravenhelm.local/agent/*', 'spiffe://ravenhelm.local/agentx/oncall', false],
    ['spiffe://ravenhelm.local/agent/oncall', 'spiffe://ravenhelm.local/agent/oncall2', false],
  ])('%s vs %s -> %s', (pattern, candidate, expected) => {
    expect(spiffePatternMatches(pattern, candidate)).toBe(expected);
  });
});

describe('extractBearerToken', () => {
  const req = (authorization?: string | string[]) => ({ headers: { authorization } });
  test('returns the token', () => {
    expect(extractBearerToken(req('Bearer abc.def-_~+/=='), 100)).toBe('abc.def-_~+/==');
    expect(extractBearerToken(req(['BEARER  xyz']), 100)).toBe('xyz');
  });
  test('size is checked on the raw header, before the scheme', () => {
    expect(code(() => extractBearerToken(req(`Bearer ${'a'.repeat(101)}`), 100))).toBe('ERR_TOKEN_INVALID');
    expect(code(() => extractBearerToken(req(`Basic ${'a'.repeat(200)}`), 100))).toBe('ERR_TOKEN_INVALID');
    expect(extractBearerToken(req(`Bearer ${'a'.repeat(100)}`), 100)).toHaveLength(100);
  });
  test('codes for each malformed shape', () => {
    expect(code(() => extractBearerToken(req(), 100))).toBe('ERR_TOKEN_MISSING');
    expect(code(() => extractBearerToken(req('   '), 100))).toBe('ERR_TOKEN_MISSING');
    expect(code(() => extractBearerToken(req('Digest x'), 100))).toBe('ERR_TOKEN_MISSING');
    expect(code(() => extractBearerToken(req('Bearer a"b'), 100))).toBe('ERR_TOKEN_MALFORMED_REQUEST');
    expect(code(() => extractBearerToken(req(['Bearer a', 'Bearer b']), 100))).toBe('ERR_TOKEN_MALFORMED_REQUEST');
  });
});

describe('ExpiringCache', () => {
  test('evicts the oldest entry when full and forgets expired entries', () => {
    const cache = new ExpiringCache<number>(2);
    cache.set('a', 1, 100, 0);
    cache.set('b', 2, 100, 0);
    cache.set('c', 3, 100, 0);
    expect(cache.get('a', 1)).toBeUndefined();
    expect(cache.get('b', 1)).toBe(2);
    expect(cache.size).toBe(2);
    expect(cache.get('c', 100)).toBeUndefined();
    cache.set('d', 4, 5, 5);
    expect(cache.get('d', 1)).toBeUndefined();
  });
  test('a hit makes an entry most recently used (LRU, not insertion order)', () => {
    const cache = new ExpiringCache<number>(2);
    cache.set('a', 1, 100, 0);
    cache.set('b', 2, 100, 0);
    expect(cache.get('a', 1)).toBe(1);
    cache.set('c', 3, 100, 1);
    expect(cache.get('b', 1)).toBeUndefined();
    expect(cache.get('a', 1)).toBe(1);
    expect(cache.get('c', 1)).toBe(3);
  });
  test('keys are hashes, never the token', () => {
    expect(tokenKey('secret-token')).not.toContain('secret');
    expect(tokenKey('secret-token')).toHaveLength(43);
  });
});

describe('memoizeWithRetry', () => {
  test('shares one success; remembers a failure until the retry delay passes', async () => {
    let calls = 0;
    let fail = true;
    const get = memoizeWithRetry(async () => {
      calls++;
      if (fail) throw new Error('down');
      return calls;
    }, 50);
    await expect(get()).rejects.toThrow('down');
    await expect(get()).rejects.toThrow('down');
    expect(calls).toBe(1);
    fail = false;
    await new Promise((r) => setTimeout(r, 60));
    expect(await get()).toBe(2);
    expect(await get()).toBe(2);
    expect(calls).toBe(2);
  });
});
