/**
 * Sentinel over TLS (`rediss+sentinel://`): a primary, a replica and three sentinels, every one serving
 * TLS only with `tls-auth-clients yes` (the replica link and the sentinels' links to the nodes over TLS
 * too, `tls-replication yes`). The kit asks the sentinels for the master and reaches it, both with the
 * private CA and the client certificate, and serves a confirmation token through the SDK client.
 */

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRedis, describeRedisClient, type RedisTlsFiles } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa } from '../fixtures/pki.js';
import { inSuite } from '../fixtures/redis.js';
import {
  answerText,
  callTimed,
  sleep,
  startFaultServer,
  type Timed,
  type ToolAnswer,
} from '../fixtures/redis-faults.js';
import {
  listToolsOverStdio,
  redisUp,
  SENTINEL_DATA_PASSWORD,
  SENTINEL_PASSWORD,
  type SentinelSet,
  startSentinelSet,
} from '../fixtures/redis-sentinel.js';
import { clientTls, clientTlsEnv, makeRedisPki, type RedisPki } from '../fixtures/redis-tls.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const tokens = { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } };
const tokenOf = (t: Timed<ToolAnswer>) => t.value?._meta?.['ravenhelm/confirmation']?.token as string;

describe('Redis Sentinel over TLS with a private CA and client certificates', () => {
  const state: { pki?: RedisPki; set?: SentinelSet } = {};
  const ready = inSuite('the TLS sentinel set');
  beforeAll(async () => {
    state.pki = await makeRedisPki();
    state.set = await startSentinelSet({ tls: { server: state.pki.server, cli: clientTls(state.pki) } });
  }, 90_000);
  afterAll(async () => {
    await state.set?.stop();
    state.pki?.remove();
  });

  it('finds the master through the sentinels and writes to it, all over TLS', async () => {
    const set = ready(state.set);
    expect(set.url).toMatch(/^rediss\+sentinel:\/\//);
    const client = await connectRedis(set.url, {
      sentinelPassword: SENTINEL_PASSWORD,
      tls: clientTls(ready(state.pki)),
    });
    try {
      expect(await client.set('over-tls', '1')).toBe('OK');
      expect(await set.cli(await set.primaryPort(), 'GET', 'over-tls')).toBe('1');
      expect(describeRedisClient(client)).toMatch(/^rediss\+sentinel:\/\/127\.0\.0\.1:\d+,.*\/m$/);
      expect(JSON.stringify(client.options)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    } finally {
      client.disconnect();
    }
  }, 30_000);

  /** connectRedis through the sentinels that must fail: its message, checked for secrets. */
  const startupError = async (tls: RedisTlsFiles) => {
    const err = (await connectRedis(ready(state.set).url, {
      sentinelPassword: SENTINEL_PASSWORD,
      connectAttempts: 1,
      connectTimeoutMs: 1000,
      tls,
    }).catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    for (const secret of [SENTINEL_PASSWORD, SENTINEL_DATA_PASSWORD, 'PRIVATE KEY']) {
      expect(err.message).not.toContain(secret);
    }
    return err.message;
  };

  it('without the client certificate: no sentinel answers, and the error says the certificate is required', async () => {
    expect(await startupError({ caFile: ready(state.pki).caFile })).toMatch(
      /^no sentinel at 127\.0\.0\.1:\d+,.* answered \(1 round\(s\)\): rediss:\/\/127\.0\.0\.1:\d+ closed the connection after the TLS handshake \(.+\): it requires a client certificate/,
    );
  }, 30_000);

  it('with a CA file that does not sign the sentinels: names the sentinel and the OpenSSL code', async () => {
    const pki = ready(state.pki);
    expect(await startupError({ ...clientTls(pki), caFile: pki.otherCaFile })).toMatch(
      /^no sentinel at .* answered \(1 round\(s\)\): the certificate of rediss:\/\/127\.0\.0\.1:\d+ is not trusted by RAVENHELM_REDIS_TLS_CA_FILE \(.*other-ca\.crt\) \([A-Z_]+\)/,
    );
  }, 30_000);

  it('reads the client certificate again at each reconnect, through the sentinels too', async () => {
    const set = ready(state.set);
    const pki = ready(state.pki);
    const files = { caFile: pki.caFile, certFile: join(pki.dir, 'rot.crt'), keyFile: join(pki.dir, 'rot.key') };
    const write = (pair: { certPem: string; keyPem: string }) => {
      writeFileSync(files.certFile, pair.certPem);
      writeFileSync(files.keyFile, pair.keyPem);
    };
    write(await pki.newClient());
    const client = await connectRedis(set.url, {
      sentinelPassword: SENTINEL_PASSWORD,
      connectionName: 'rh-rotate',
      tls: files,
    });
    const dropConnection = async () => {
      const primary = await set.primaryPort();
      const line = (await set.cli(primary, 'CLIENT', 'LIST')).split('\n').find((l) => / name=rh-rotate /.test(l));
      const id = line?.match(/^id=(\d+)/)?.[1];
      expect(id, 'our connection on the primary').toBeDefined();
      await set.cli(primary, 'CLIENT', 'KILL', 'ID', id as string);
    };
    const waitFor = async (want: (status: string) => boolean, ms: number) => {
      for (let i = 0; i < ms / 100 && !want(client.status); i++) await sleep(100);
      return client.status;
    };
    try {
      expect(await client.set('rot', '1')).toBe('OK');
      // A pair from a CA no node trusts: the reconnect uses it and is refused (kept in memory, it would not be).
      write(await pki.newClient(await makeCa({ name: 'untrusted client CA' })));
      await dropConnection();
      await sleep(1500);
      expect(client.status).not.toBe('ready');
      await expect(client.set('rot', '2')).rejects.toThrow();
      // A good pair again: the next reconnect takes it, no restart.
      write(await pki.newClient());
      expect(await waitFor((st) => st === 'ready', 10_000)).toBe('ready');
      expect(await client.set('rot', '3')).toBe('OK');
    } finally {
      client.disconnect();
    }
  }, 30_000);

  it('a bundled bin (split chunks) starts through Sentinel over TLS and answers tools/list', async () => {
    const bin = join(REPO_ROOT, 'servers/docker/bundle/ravenhelm-mcp-docker.mjs');
    expect(existsSync(bin), 'run `node scripts/bundle.mjs docker` (or the build) first').toBe(true);
    const pki = ready(state.pki);
    const { tools, stderr } = await listToolsOverStdio(bin, {
      PATH: process.env.PATH ?? '',
      RAVENHELM_REDIS_URL: ready(state.set).url,
      RAVENHELM_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
      RAVENHELM_AUDIT_FILE: join(pki.dir, 'audit.jsonl'),
      RAVENHELM_LOCAL_SCOPES: 'mcp:docker:read',
      ...clientTlsEnv(pki),
    });
    expect(tools.length, stderr).toBeGreaterThan(0);
    for (const secret of [SENTINEL_DATA_PASSWORD, SENTINEL_PASSWORD, 'PRIVATE KEY'])
      expect(stderr).not.toContain(secret);
  }, 30_000);

  it('serves a confirmation token issued and redeemed through the kit', async () => {
    const set = ready(state.set);
    const h = await startFaultServer({
      tokens,
      policy: 'servers:\n  echo:\n    confirm: destructive\n',
      redis: set.nodes.get(await set.primaryPort()), // owned by the set
      env: {
        RAVENHELM_REDIS_URL: set.url,
        RAVENHELM_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
        ...clientTlsEnv(ready(state.pki)),
      },
    });
    try {
      const client = await h.client('writer');
      const plan = await callTimed(client, 'echo_delete', { item: 'sentinel-tls' });
      expect(tokenOf(plan), answerText(plan)).toMatch(/^cfm_/);
      const done = await callTimed(client, 'echo_delete', { item: 'sentinel-tls', confirmationToken: tokenOf(plan) });
      expect(done.value?.isError, answerText(done)).toBeFalsy();
      expect(h.services.calls.map((c) => c.tool)).toContain('echo_delete');
      expect(await redisUp(h)).toBe(1);
      expect(h.logs()).not.toContain(SENTINEL_DATA_PASSWORD);
    } finally {
      await h.stop();
    }
  }, 30_000);
});
