/**
 * The per-principal toolset store (memory and a real redis-server) and how the start set is resolved
 * from RAVENHELM_TOOLSETS / the policy.
 */
import { pathToFileURL } from 'node:url';
import { connectRedis, createToolsetStore, dynamicToolsetsOf, principalKeyOf } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { useRedisPair } from '../fixtures/redis.js';
import { loadServers } from '../registry/servers.js';

const alice = principalKeyOf({ subject: 'alice', clientId: 'cli', scopes: [], roles: [], source: 'oauth' });
const aliceOtherClient = principalKeyOf({ subject: 'alice', clientId: 'web', scopes: [], roles: [], source: 'oauth' });
const bob = principalKeyOf({ subject: 'bob', clientId: 'cli', scopes: [], roles: [], source: 'oauth' });

describe('principal keys', () => {
  it('differ per subject and per client, and do not show the subject', () => {
    expect(new Set([alice, aliceOtherClient, bob]).size).toBe(3);
    expect(alice).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('toolset store in memory', () => {
  it('adds toolsets per principal and forgets them after the TTL', async () => {
    const store = createToolsetStore();
    expect(await store.enabled(alice)).toEqual([]);
    await store.enable(alice, 'compose', 60);
    const expiresAt = await store.enable(alice, 'exec', 1);
    expect(expiresAt).toBeGreaterThan(Date.now() / 1000);
    expect(await store.enabled(alice)).toEqual(['compose', 'exec']);
    expect(await store.enabled(bob)).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await store.enabled(alice)).toEqual([]);
    await store.close();
  });
});

describe('toolset store in Redis', () => {
  const pair = useRedisPair(connectRedis);

  it('keeps one expiring set per principal, shared by every store on the same Redis', async () => {
    const one = createToolsetStore({ redis: pair.a, keyPrefix: 'ravenhelm:tls:docker' });
    const two = createToolsetStore({ redis: pair.b, keyPrefix: 'ravenhelm:tls:docker' });
    const otherServer = createToolsetStore({ redis: pair.b, keyPrefix: 'ravenhelm:tls:gitlab' });
    await one.enable(alice, 'compose', 120);
    await two.enable(alice, 'exec', 300);
    expect(await two.enabled(alice)).toEqual(['compose', 'exec']);
    expect(await one.enabled(bob)).toEqual([]);
    expect(await otherServer.enabled(alice)).toEqual([]);
    const ttl = await pair.a.ttl(`ravenhelm:tls:docker:${alice}`);
    expect(ttl).toBeGreaterThan(120); // refreshed by the latest enable
    expect(ttl).toBeLessThanOrEqual(300);
  });
});

describe('start set', () => {
  const base = { server: 'docker', available: ['containers', 'logs', 'compose'], ttlSeconds: 60 };

  it("'all' or nothing keeps today's behaviour (no dynamic toolsets)", () => {
    expect(dynamicToolsetsOf({ ...base, start: undefined, policyInitial: undefined })).toBeUndefined();
    expect(dynamicToolsetsOf({ ...base, start: 'all', policyInitial: ['logs'] })).toBeUndefined();
  });

  it("'default' takes the server's declared set; a list takes those; the environment wins over the policy", () => {
    const declared = { defaultToolsets: ['containers', 'logs'] };
    expect(dynamicToolsetsOf({ ...base, ...declared, start: 'default', policyInitial: undefined })?.initial).toEqual([
      'containers',
      'logs',
    ]);
    expect(dynamicToolsetsOf({ ...base, start: ' compose , logs', policyInitial: 'all' })?.initial).toEqual([
      'compose',
      'logs',
    ]);
    expect(dynamicToolsetsOf({ ...base, start: undefined, policyInitial: ['logs'] })?.initial).toEqual(['logs']);
  });

  it('refuses a toolset the server does not have (or the policy disabled), naming the setting', () => {
    expect(() => dynamicToolsetsOf({ ...base, start: 'containers,exec', policyInitial: undefined })).toThrow(
      /RAVENHELM_TOOLSETS: no enabled toolset named 'exec'; toolsets: containers, logs, compose/,
    );
    expect(() => dynamicToolsetsOf({ ...base, start: undefined, policyInitial: ['nope'] })).toThrow(
      /policy servers.docker.toolsets.initial/,
    );
  });

  it('every server declares a default set of its own toolsets', async () => {
    const discovery = await loadServers();
    for (const server of discovery.servers) {
      const mod = (await import(pathToFileURL(server.entry).href)) as Record<string, unknown>;
      const def = Object.values(mod).find(
        (v): v is { name: string; defaultToolsets?: string[] } =>
          !!v && typeof v === 'object' && 'tools' in v && 'createServices' in v,
      );
      const toolsets = new Set(server.specs.map((s) => s.toolset));
      expect(def?.defaultToolsets?.length, server.packageName).toBeGreaterThan(0);
      for (const ts of def?.defaultToolsets ?? []) expect(toolsets.has(ts), `${server.packageName}: ${ts}`).toBe(true);
      expect(def?.defaultToolsets?.length ?? 0).toBeLessThan(toolsets.size);
    }
  });
});
