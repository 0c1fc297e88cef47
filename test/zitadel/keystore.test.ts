// keys_add and agents_onboard with ZITADEL_KEY_STORE=secretsmanager: the real bin over stdio, the Zitadel
// simulator and the Secrets Manager simulator through the real AWS SDK. The key file lands in the store
// and never in a tool result, a log line or an audit record; a failed store leaves no key in Zitadel.
import { createPrivateKey } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsKeyStore } from '@ravenhelm/mcp-zitadel';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { connectStdio, readAudit, type StdioSession, startZitadelFixture, type ZitadelFixture } from './harness.js';

let fx: ZitadelFixture;
let s: StdioSession;
const sm = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;
/** Every byte of every tool answer (text and structured content). */
const answers: string[] = [];
/** Every private key handed to the store, read back from it or seen on the wire. */
const keyMaterial = new Set<string>();

beforeAll(async () => {
  await sm.start();
  fx = await startZitadelFixture();
  s = await connectStdio({
    ...fx.env,
    ZITADEL_KEY_STORE: 'secretsmanager',
    ZITADEL_KEY_SECRET_PREFIX: 'zitadel/keys/',
    ZITADEL_KEY_STORE_TIMEOUT_MS: '1500',
    ZITADEL_KEY_STORE_MAX_ATTEMPTS: '1',
    AWS_ENDPOINT_URL: sm.url,
    AWS_REGION: sm.region,
    ...sm.sdkEnv(fx.dir),
  });
  sdk = new SecretsManagerClient({
    endpoint: sm.url,
    region: sm.region,
    credentials: { accessKeyId: sm.accessKeyId, secretAccessKey: sm.secretAccessKey },
  });
}, 60_000);

afterAll(async () => {
  await s?.close();
  await fx?.stop();
  await sm.close();
});

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field below
type Loose = Record<string, any>;

async function call(name: string, args: Record<string, unknown> = {}) {
  const r = await s.client.callTool({ name, arguments: args });
  answers.push(JSON.stringify(r));
  const text = (r.content as { type: string; text: string }[])[0]?.text ?? '';
  return { isError: r.isError === true, data: r.structuredContent as Loose, text };
}

/** Reads a secret back with the real SDK and remembers its key for the byte search. */
async function readBack(secretId: string, versionId?: string) {
  const out = await sdk.send(
    new GetSecretValueCommand({ SecretId: secretId, ...(versionId ? { VersionId: versionId } : {}) }),
  );
  const k = JSON.parse(out.SecretString ?? '') as { keyId: string; userId: string; key: string; type: string };
  keyMaterial.add(k.key);
  return { out, key: k };
}

/** Every key file the bin sent to the store, failed calls included. */
function keysOnTheWire(): string[] {
  return sm.control.requests
    .map((r) => (r.body ? (JSON.parse(r.body) as { SecretString?: string }).SecretString : undefined))
    .filter((v): v is string => typeof v === 'string')
    .map((v) => (JSON.parse(v) as { key?: string }).key)
    .filter((k): k is string => typeof k === 'string');
}

async function loginWith(k: { keyId: string; userId: string; key: string }): Promise<number> {
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

async function keyIds(user: string): Promise<string[]> {
  const r = await call('keys_list', { user, limit: 100 });
  return r.data.keys.map((k: { id: string }) => k.id);
}

describe('keys go to Secrets Manager', () => {
  it('keys_add stores the key file at <prefix><user>/<keyId> and returns only its location', async () => {
    expect((await call('service_accounts_create', { username: 'agent-store', name: 'Store agent' })).isError).toBe(
      false,
    );
    const r = await call('keys_add', { user: 'agent-store', expiresInDays: 30 });
    expect(r.isError).toBe(false);
    const { keyId, userId } = r.data;
    expect(r.data).toEqual({
      keyId: expect.any(String),
      userId: expect.any(String),
      expirationDate: expect.any(String),
      stored: {
        store: 'secretsmanager',
        secretName: `zitadel/keys/agent-store/${keyId}`,
        secretArn: expect.stringMatching(/^arn:aws:secretsmanager:eu-north-1:123456789012:secret:zitadel\/keys\//),
        versionId: expect.any(String),
        created: true,
      },
    });
    expect(r.text).not.toContain('PRIVATE KEY');
    const { out, key } = await readBack(r.data.stored.secretArn);
    expect(out.VersionId).toBe(r.data.stored.versionId);
    expect(key).toMatchObject({ keyId, userId, type: 'serviceaccount' });
    expect(await loginWith(key)).toBe(200);
    expect(await keyIds('agent-store')).toEqual([keyId]);
  });

  it('agents_onboard stores the key the same way', async () => {
    const r = await call('agents_onboard', { username: 'agent-onboarded', scopes: ['mcp:docker:read'] });
    expect(r.isError).toBe(false);
    expect(r.data.key.keyFile).toBeUndefined();
    expect(r.data.key.shownOnce).toBeUndefined();
    expect(r.data.key.stored.secretName).toBe(`zitadel/keys/agent-onboarded/${r.data.key.keyId}`);
    const { key } = await readBack(r.data.key.stored.secretName, r.data.key.stored.versionId);
    expect(key.keyId).toBe(r.data.key.keyId);
    expect(await loginWith(key)).toBe(200);
  });

  it('a failed store (the service answers an error) removes the new key from Zitadel and says so', async () => {
    const before = await keyIds('agent-store');
    sm.control.failNext = { operation: 'CreateSecret', type: 'AccessDeniedException', message: 'not authorized' };
    const r = await call('keys_add', { user: 'agent-store' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /^ERR_BACKEND_ERROR: could not store the key in secret "zitadel\/keys\/agent-store\/\d+": AccessDeniedException \(not authorized\); the server's AWS identity needs secretsmanager:CreateSecret and PutSecretValue on the prefix; key \d+ was removed from Zitadel again, nothing was kept$/,
    );
    expect(await keyIds('agent-store')).toEqual(before);
  });

  it('a store that does not answer in time also leaves no key', async () => {
    const before = await keyIds('agent-store');
    sm.control.delayMs = 3000;
    try {
      const r = await call('keys_add', { user: 'agent-store' });
      expect(r.text).toMatch(
        /^ERR_BACKEND_TIMEOUT: Secrets Manager did not answer within 1500 ms while trying to store the key in secret "zitadel\/keys\/agent-store\/\d+"; key \d+ was removed/,
      );
    } finally {
      sm.control.delayMs = 0;
    }
    expect(await keyIds('agent-store')).toEqual(before);
  });

  it('agents_onboard with a failed store reports the account and grant it left, and no key', async () => {
    sm.control.failNext = { operation: 'CreateSecret', type: 'InternalServiceError', message: 'boom', status: 500 };
    const r = await call('agents_onboard', { username: 'agent-halfway', scopes: ['mcp:docker:read'] });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /^ERR_BACKEND_UNAVAILABLE: the account agent-halfway \(id \d+\) and its grant of docker\.reader were created, but no key: could not store the key .*; key \d+ was removed from Zitadel again, nothing was kept; add one with keys_add$/,
    );
    expect(await keyIds('agent-halfway')).toEqual([]);
  });

  it('when the key cannot be removed either, the error names the key left behind', async () => {
    const before = await keyIds('agent-store');
    sm.control.failNext = { operation: 'CreateSecret', type: 'AccessDeniedException', message: 'not authorized' };
    sm.control.delayMs = 600;
    // Zitadel starts failing once the store call is on the wire: the key exists, its removal fails.
    const seen = sm.control.requests.length;
    const breakZitadel = setInterval(() => {
      if (sm.control.requests.length > seen) {
        fx.sim.control.fail = { status: 503, json: { code: 14, message: 'unavailable' } };
        clearInterval(breakZitadel);
      }
    }, 5);
    let r: Awaited<ReturnType<typeof call>>;
    try {
      r = await call('keys_add', { user: 'agent-store' });
    } finally {
      clearInterval(breakZitadel);
      fx.sim.control.fail = undefined;
      sm.control.delayMs = 0;
    }
    const left =
      /; key (\d+) of user \d+ was left in Zitadel unstored and could not be removed \(.+\): delete it with keys_delete$/.exec(
        r.text,
      );
    expect(r.text).toMatch(
      /^ERR_BACKEND_ERROR: could not store the key in secret "zitadel\/keys\/agent-store\/\d+": AccessDeniedException/,
    );
    expect(left).not.toBeNull();
    const orphan = left?.[1] as string;
    expect(await keyIds('agent-store')).toEqual([...before, orphan]);
    expect((await call('keys_delete', { user: 'agent-store', keyId: orphan })).isError).toBe(false);
    expect(await keyIds('agent-store')).toEqual(before);
  });

  it('no key material appears in any answer, log line or audit record', async () => {
    for (const k of keysOnTheWire()) keyMaterial.add(k);
    expect(keyMaterial.size).toBe(6); // two stored, four refused or timed out
    const blobs = { answers: answers.join('\n'), logs: s.stderr(), audit: readAudit(fx.auditFile) };
    expect(blobs.audit).toContain('keys_add');
    expect(blobs.logs.length).toBeGreaterThan(0);
    for (const [where, blob] of Object.entries(blobs)) {
      expect(blob, where).not.toContain('PRIVATE KEY');
      for (const pem of keyMaterial) {
        for (const line of pem.split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'))) {
          expect(blob.includes(line), `${where} holds a key line`).toBe(false);
          expect(blob.includes(JSON.stringify(line).slice(1, -1)), `${where} holds an escaped key line`).toBe(false);
        }
      }
    }
  });
});

describe('SecretsKeyStore', () => {
  it('puts a new version when the secret already exists', async () => {
    process.env.AWS_ACCESS_KEY_ID = sm.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = sm.secretAccessKey;
    const store = new SecretsKeyStore({
      prefix: 'p/',
      timeoutMs: 2000,
      maxAttempts: 1,
      region: sm.region,
      endpoint: sm.url,
    });
    const name = store.nameFor({ userId: '42', username: 'has space' }, '7');
    expect(name).toBe('p/42/7');
    const signal = new AbortController().signal;
    const first = await store.put(name, '{"v":1}', { userId: '42', keyId: '7' }, signal);
    const second = await store.put(name, '{"v":2}', { userId: '42', keyId: '7' }, signal);
    expect(first.created).toBe(true);
    expect(second).toMatchObject({ created: false, secretArn: first.secretArn });
    expect(second.versionId).not.toBe(first.versionId);
    expect(sm.valueOf(name)).toBe('{"v":2}');
  });

  it('stops reading an endless answer at its cap instead of buffering it until the deadline', async () => {
    process.env.AWS_ACCESS_KEY_ID = sm.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = sm.secretAccessKey;
    const target = new URL(sm.url);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port) });
    try {
      const store = new SecretsKeyStore({
        prefix: 'p/',
        timeoutMs: 5000,
        maxAttempts: 1,
        region: sm.region,
        endpoint: proxy.url as string,
      });
      proxy.mode = {
        kind: 'endless',
        headers: { 'content-type': 'application/x-amz-json-1.1' },
        head: '{"ARN":"',
        chunk: 'x'.repeat(4096),
      };
      const before = proxy.endlessBytes;
      const err = await store.put('p/42/8', '{"v":1}', { userId: '42', keyId: '8' }, new AbortController().signal).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe('ERR_OUTPUT_TOO_LARGE');
      expect(err?.message).toMatch(/^Secrets Manager \(key store\) answered with more than 1,048,576 bytes/);
      // The 1 MiB cap plus what socket buffers held, not a deadline's worth of flood.
      expect(proxy.endlessBytes - before).toBeLessThan(8 * 1024 * 1024);
    } finally {
      proxy.mode = { kind: 'pass' };
      await proxy.close();
    }
  }, 30_000);
});
