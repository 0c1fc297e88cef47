/**
 * Redis over TLS against a real TLS-only redis-server with a private CA and `tls-auth-clients yes` (its
 * default: a client certificate is required): a confirmation token issued and redeemed through the kit
 * and the real SDK client; every way a TLS startup fails says what to fix, within the bounded startup,
 * without a password or key in the message; a client certificate rotated on disk is used from the next
 * reconnect on, without a restart.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRedis, describeRedisClient, type RedisTlsFiles } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeLeaf } from '../fixtures/pki.js';
import { inSuite, type RedisProcess, startRedis } from '../fixtures/redis.js';
import {
  answerText,
  callTimed,
  type FaultHarness,
  REDIS_PASSWORD,
  sleep,
  startFaultServer,
  type Timed,
  type ToolAnswer,
} from '../fixtures/redis-faults.js';
import { redisCli, redisUp } from '../fixtures/redis-sentinel.js';
import { clientTls, clientTlsEnv, makeRedisPki, type RedisPki, startTlsRedis } from '../fixtures/redis-tls.js';
import { assertNowhere, type SecretsBin, startBin } from '../secrets/harness.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

const tokens = { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } };
const POLICY = 'servers:\n  echo:\n    confirm: destructive\n';
const tokenOf = (t: Timed<ToolAnswer>) => t.value?._meta?.['ravenhelm/confirmation']?.token as string;
/** Startup in the failure cases: 2 attempts of at most 1 s each, plus back-offs and slack. */
const ATTEMPTS = 2;
const CONNECT_MS = 1000;
const STARTUP_BOUND_MS = ATTEMPTS * (CONNECT_MS + 1000) + 1000;

/** connectRedis that must fail: its message and how long it took; the message carries no secret. */
async function startupError(pki: RedisPki, url: string, tls: RedisTlsFiles | undefined) {
  const started = Date.now();
  const err = (await connectRedis(url, { connectAttempts: ATTEMPTS, connectTimeoutMs: CONNECT_MS, tls }).then(
    (c) => {
      c.disconnect();
      return new Error('connected');
    },
    (e: Error) => e,
  )) as Error & { code?: string };
  const ms = Date.now() - started;
  expect(err.message).not.toContain(REDIS_PASSWORD);
  // No PEM content: no armour line of a key, no base64 DER (it starts with MI).
  expect(err.message).not.toMatch(/PRIVATE KEY-----|MI[A-Za-z0-9+/]{20}/);
  for (const pem of [pki.ca.keyPem]) expect(err.message).not.toContain(pem.split('\n')[1]);
  return { message: err.message, code: err.code, ms };
}

/** One confirm round trip through the kit: a token issued for echo_delete and redeemed; the item is deleted. */
async function confirmRoundTrip(h: FaultHarness, item: string): Promise<void> {
  const client = await h.client('writer');
  const plan = await callTimed(client, 'echo_delete', { item });
  const token = tokenOf(plan);
  expect(token, answerText(plan)).toMatch(/^cfm_/);
  const done = await callTimed(client, 'echo_delete', { item, confirmationToken: token });
  expect(done.value?.isError, answerText(done)).toBeFalsy();
  expect(
    h.services.calls.filter((c) => c.tool === 'echo_delete').map((c) => (c.args as { item: string }).item),
  ).toContain(item);
}

describe('Redis over TLS with a private CA and a client certificate (tls-auth-clients yes)', () => {
  const state: { pki?: RedisPki; redis?: RedisProcess; plain?: RedisProcess } = {};
  const ready = inSuite('the TLS Redis');
  beforeAll(async () => {
    state.pki = await makeRedisPki();
    state.redis = await startTlsRedis(state.pki, { password: REDIS_PASSWORD });
    state.plain = await startRedis({ password: REDIS_PASSWORD });
  }, 30_000);
  afterAll(async () => {
    await state.redis?.stop();
    await state.plain?.stop();
    state.pki?.remove();
  });
  const where = () => `rediss://127.0.0.1:${ready(state.redis).port}`;

  it('serves a confirmation token issued and redeemed through the kit and the SDK client', async () => {
    const pki = ready(state.pki);
    const h = await startFaultServer({
      tokens,
      policy: POLICY,
      redis: ready(state.redis),
      env: clientTlsEnv(pki),
    });
    try {
      await confirmRoundTrip(h, 'over-tls');
      expect(await redisUp(h)).toBe(1);
      for (const secret of [REDIS_PASSWORD, 'PRIVATE KEY']) expect(h.logs()).not.toContain(secret);
    } finally {
      await h.stop();
    }
  }, 30_000);

  it('renders the client as rediss://host:port, and verifies a name given by serverName', async () => {
    const pki = ready(state.pki);
    const client = await connectRedis(ready(state.redis).url, { tls: clientTls(pki, { serverName: 'localhost' }) });
    try {
      expect(await client.set('k', 'v')).toBe('OK');
      expect(describeRedisClient(client)).toBe(where());
      // The key and certificates stay in the connector, not in the client's options anyone can read.
      expect(JSON.stringify(client.options)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
      expect(client.options.tls).toEqual({ servername: 'localhost' });
    } finally {
      client.disconnect();
    }
  }, 15_000);

  it('a server certificate the CA file does not trust: names the URL, the CA file and the OpenSSL code', async () => {
    const pki = ready(state.pki);
    const r = await startupError(pki, ready(state.redis).url, { ...clientTls(pki), caFile: pki.otherCaFile });
    expect(r.message).toMatch(
      new RegExp(
        `^cannot connect to Redis at ${where()} after 2 attempt\\(s\\): the certificate of ${where()} is not trusted by RAVENHELM_REDIS_TLS_CA_FILE \\(${pki.otherCaFile}\\) \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\)`,
      ),
    );
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('no CA file and a private CA: says the system CA store does not trust it', async () => {
    const pki = ready(state.pki);
    const { caFile: _ca, ...noCa } = clientTls(pki);
    const r = await startupError(pki, ready(state.redis).url, noCa);
    expect(r.message).toMatch(/is not trusted by the system CA store \([A-Z_]+\): set RAVENHELM_REDIS_TLS_CA_FILE/);
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('a CA certificate as the server certificate (INVALID_PURPOSE), an expired one (CERT_HAS_EXPIRED)', async () => {
    const pki = ready(state.pki);
    const selfSigned = await makeCa({ name: 'redis self-signed' });
    const hour = 3600_000;
    const expired = await makeLeaf({
      ca: pki.ca,
      ips: ['127.0.0.1'],
      notBefore: new Date(Date.now() - 48 * hour),
      notAfter: new Date(Date.now() - 24 * hour),
    });
    const servers: RedisProcess[] = [];
    try {
      for (const [name, cert] of [
        ['self-signed', selfSigned],
        ['expired', expired],
      ] as const) {
        const certFile = join(pki.dir, `${name}.crt`);
        const keyFile = join(pki.dir, `${name}.key`);
        writeFileSync(certFile, cert.certPem);
        writeFileSync(keyFile, cert.keyPem);
        servers.push(await startRedis({ tls: { certFile, keyFile, caFile: pki.server.caFile } }));
      }
      const [own, old] = servers as [RedisProcess, RedisProcess];
      const a = await startupError(pki, own.url, clientTls(pki));
      expect(a.message).toMatch(
        /the certificate of rediss:\/\/127\.0\.0\.1:\d+ is not a TLS server certificate \(INVALID_PURPOSE: .+\): its key usage and extended key usage must allow serverAuth/,
      );
      const b = await startupError(pki, old.url, clientTls(pki));
      expect(b.message).toMatch(/is outside its validity period \(CERT_HAS_EXPIRED\): renew it/);
      for (const r of [a, b]) expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
    } finally {
      for (const r of servers) await r.stop();
    }
  }, 20_000);

  it('a certificate that does not name the host: says to set serverName or fix the certificate', async () => {
    const pki = ready(state.pki);
    const r = await startupError(pki, ready(state.redis).url, clientTls(pki, { serverName: 'redis.example' }));
    expect(r.message).toMatch(
      /the certificate of rediss:\/\/127\.0\.0\.1:\d+ does not name the host it was reached by \(ERR_TLS_CERT_ALTNAME_INVALID: .*redis\.example.*\): set RAVENHELM_REDIS_TLS_SERVER_NAME to a name the certificate holds, or add the host to its subjectAltName/,
    );
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('no client certificate where the server requires one: says to set the cert and key files', async () => {
    const pki = ready(state.pki);
    const r = await startupError(pki, ready(state.redis).url, { caFile: pki.caFile });
    expect(r.message).toMatch(
      /closed the connection after the TLS handshake \([A-Z_0-9]+\): it requires a client certificate \(tls-auth-clients yes\): set RAVENHELM_REDIS_TLS_CERT_FILE and RAVENHELM_REDIS_TLS_KEY_FILE/,
    );
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('a client certificate from a CA the server does not trust: says the server refused it', async () => {
    const pki = ready(state.pki);
    const stranger = await pki.newClient(await makeCa({ name: 'stranger CA' }));
    const dir = join(pki.dir, 'stranger');
    const files = { caFile: pki.caFile, certFile: `${dir}.crt`, keyFile: `${dir}.key` };
    writeFileSync(files.certFile, stranger.certPem);
    writeFileSync(files.keyFile, stranger.keyPem);
    const r = await startupError(pki, ready(state.redis).url, files);
    expect(r.message).toContain(`refused the client certificate in RAVENHELM_REDIS_TLS_CERT_FILE (${files.certFile})`);
    expect(r.message).not.toContain(stranger.keyPem.split('\n')[1]);
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('redis:// against the TLS port fails within the bounded startup and suggests rediss://', async () => {
    const pki = ready(state.pki);
    const url = ready(state.redis).url.replace(/^rediss:/, 'redis:');
    const r = await startupError(pki, url, undefined);
    expect(r.message).toMatch(
      /closed the connection before answering \(.+\): if Redis serves TLS on this port \(tls-port\), use rediss:\/\//,
    );
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('rediss:// against a plaintext port fails within the bounded startup and suggests redis://', async () => {
    const pki = ready(state.pki);
    const url = ready(state.plain).url.replace(/^redis:/, 'rediss:');
    const r = await startupError(pki, url, clientTls(pki));
    expect(r.message).toMatch(
      /no TLS handshake with rediss:\/\/127\.0\.0\.1:\d+ \(.+\): if Redis serves plain connections on this port, use redis:\/\//,
    );
    expect(r.ms).toBeLessThan(STARTUP_BOUND_MS);
  }, 15_000);

  it('a TLS file that is missing, not PEM, or a key of another certificate: a startup error naming the file', async () => {
    const pki = ready(state.pki);
    const url = ready(state.redis).url;
    const missing = join(pki.dir, 'nope.crt');
    expect((await startupError(pki, url, { ...clientTls(pki), caFile: missing })).message).toBe(
      `RAVENHELM_REDIS_TLS_CA_FILE (redis.tls.caFile) ${missing} cannot be read (ENOENT): mount the file there or fix the path`,
    );
    const garbage = join(pki.dir, 'garbage.key');
    writeFileSync(garbage, 'not-a-key-Xq93');
    const notKey = await startupError(pki, url, { ...clientTls(pki), keyFile: garbage });
    expect(notKey.message).toBe(`RAVENHELM_REDIS_TLS_KEY_FILE (redis.tls.keyFile) ${garbage} is not a PEM private key`);
    const notCert = await startupError(pki, url, { ...clientTls(pki), certFile: garbage });
    expect(notCert.message).toMatch(/RAVENHELM_REDIS_TLS_CERT_FILE .* holds no PEM certificate/);
    expect(notCert.message).not.toContain('Xq93');
    const otherKey = join(pki.dir, 'other.key');
    writeFileSync(otherKey, (await pki.newClient()).keyPem);
    expect((await startupError(pki, url, { ...clientTls(pki), keyFile: otherKey })).message).toMatch(
      /RAVENHELM_REDIS_TLS_KEY_FILE \(redis\.tls\.keyFile\) .*other\.key does not belong to the certificate in .*tls\.crt/,
    );
    const plainUrl = url.replace(/^rediss:/, 'redis:');
    expect((await startupError(pki, plainUrl, clientTls(pki))).message).toMatch(
      /^Redis TLS files are set \(RAVENHELM_REDIS_TLS_\*\) but RAVENHELM_REDIS_URL redis:\/\/127\.0\.0\.1:\d+ is not a TLS URL: use rediss:\/\//,
    );
  }, 15_000);
});

describe('a client certificate rotated on disk', () => {
  const state: { pki?: RedisPki; redis?: RedisProcess; h?: FaultHarness } = {};
  const ready = inSuite('the rotation setup');
  beforeAll(async () => {
    state.pki = await makeRedisPki();
    state.redis = await startTlsRedis(state.pki, { password: REDIS_PASSWORD });
    state.h = await startFaultServer({ tokens, policy: POLICY, redis: state.redis, env: clientTlsEnv(state.pki) });
  }, 30_000);
  afterAll(async () => {
    await state.h?.stop();
    await state.redis?.stop();
    state.pki?.remove();
  });
  const reconnected = async (h: FaultHarness) => {
    for (let i = 0; i < 100 && (await redisUp(h)) !== 1; i++) await sleep(100);
    expect(await redisUp(h)).toBe(1);
  };

  it('is used from the next reconnect on; a half-written pair keeps the last good one', async () => {
    const pki = ready(state.pki);
    const redis = ready(state.redis);
    const h = ready(state.h);
    await confirmRoundTrip(h, 'before-rotation');
    // A new CA issues the next client certificate; the server will trust only it.
    const nextCa = await makeCa({ name: 'redis client CA 2' });
    const next = await pki.newClient(nextCa);
    // Half written: the new certificate, the old key. The reconnect keeps the old pair, which still works.
    writeFileSync(pki.certFile, next.certPem);
    await redis.restart();
    await reconnected(h);
    await confirmRoundTrip(h, 'half-written');
    // The whole pair, and a server that no longer accepts the old one: the reconnect uses the new files.
    pki.writeClient(next);
    pki.serverTrusts(nextCa);
    await redis.restart();
    await reconnected(h);
    await confirmRoundTrip(h, 'after-rotation');
    expect(h.logs()).not.toContain(REDIS_PASSWORD);
  }, 30_000);
});

describe("the secrets server's own Redis client (reveal tokens) over TLS", () => {
  const VALUE = 'Tls-Reveal-Value-7d20aa';
  const sim = new SecretsManagerSimulator();
  const state: { pki?: RedisPki; redis?: RedisProcess; bin?: SecretsBin } = {};
  const ready = inSuite('the secrets bin');
  beforeAll(async () => {
    await sim.start();
    sim.seed('tls/db', VALUE);
    state.pki = await makeRedisPki();
    state.redis = await startTlsRedis(state.pki, { password: REDIS_PASSWORD });
    state.bin = await startBin({ sim, env: { RAVENHELM_REDIS_URL: state.redis.url, ...clientTlsEnv(state.pki) } });
  }, 90_000);
  afterAll(async () => {
    await state.bin?.close();
    await state.redis?.stop();
    state.pki?.remove();
    await sim.close();
  });

  it('starts with the kit TLS settings and reveals once with a token kept in the TLS Redis', async () => {
    const bin = ready(state.bin);
    const first = await bin.call('secrets_get', { name: 'tls/db', reveal: true });
    const token = first.structured?.revealToken as string;
    expect(token, first.text).toMatch(/^cfm_/);
    // The token is in this Redis: the reveal store is the TLS one, not an in-process fallback.
    expect(await redisKeys(ready(state.pki), ready(state.redis), 'ravenhelm:reveal:secrets*')).not.toHaveLength(0);
    const shown = await bin.call('secrets_get', { name: 'tls/db', reveal: true, revealToken: token });
    expect(shown.structured?.value, shown.text).toBe(VALUE);
    assertNowhere([REDIS_PASSWORD], { stderr: bin.stderr(), audit: bin.auditText(), results: bin.results() });
    expect(bin.stderr()).not.toContain('PRIVATE KEY');
  }, 30_000);
});

/** KEYS on a TLS Redis with the PKI's client certificate, through redis-cli. */
async function redisKeys(pki: RedisPki, redis: RedisProcess, pattern: string): Promise<string[]> {
  const out = await redisCli(redis.port, REDIS_PASSWORD, ['KEYS', pattern], clientTls(pki));
  return out.split('\n').filter(Boolean);
}
