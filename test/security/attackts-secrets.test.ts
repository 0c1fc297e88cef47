/**
 * The secrets server attacked from outside, through the real bin over stdio (the SDK Client) against the
 * Secrets Manager simulator through the real AWS SDK client: a broken or hostile answer in front of the
 * service, and special files in a scan root.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { policyFor, type SecretsBin, startBin } from '../secrets/harness.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

const VALUE = 'Zq7-Horse-Battery-Staple-9xK2-Tr0ub4dor';

/** Every 8-character piece of the value: an error that quotes a fragment of a body leaks that much. */
function fragmentsIn(text: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= value.length; i++) if (text.includes(value.slice(i, i + 8))) out.push(`@${i}`);
  return out;
}

describe('a Secrets Manager answer that is not valid JSON', () => {
  const sim = new SecretsManagerSimulator();
  let proxy: FaultProxy;
  let bin: SecretsBin;

  beforeAll(async () => {
    await sim.start();
    sim.seed('prod/db', VALUE);
    const u = new URL(sim.url);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
    bin = await startBin({ sim, env: { AWS_ENDPOINT_URL: proxy.url as string, SECRETS_MAX_ATTEMPTS: '1' } });
  }, 60_000);

  afterAll(async () => {
    await bin?.close();
    await proxy?.close();
    await sim.close();
  });

  // A proxy or a broken endpoint cutting or mangling the GetSecretValue answer: the SDK's JSON.parse
  // error quotes the body around the bad byte, and that body is the secret value.
  const bodies = {
    'unquoted value': `{"ARN":"arn","Name":"prod/db","SecretString":${VALUE},"VersionId":"v"}`,
    'value then garbage': `{"Name":"prod/db","SecretString":"${VALUE.slice(0, 12)}"${VALUE.slice(12)}"}`,
  };
  it.each(Object.entries(bodies))('%s: no piece of the value in the error, logs or audit', async (_label, body) => {
    proxy.mode = { kind: 'respond', status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body };
    let r: Awaited<ReturnType<SecretsBin['call']>>;
    try {
      r = await bin.call('secrets_get', { name: 'prod/db' });
    } finally {
      proxy.mode = { kind: 'pass' };
    }
    expect(r.isError).toBe(true);
    // says what was wrong and what to do, not the SDK's "inspect the hidden field" advice
    expect(r.text).toMatch(/^ERR_BACKEND_ERROR: .*not valid JSON.*check/);
    expect(r.text).not.toMatch(/hidden field/);
    const leaks = {
      result: fragmentsIn(bin.results(), VALUE),
      stderr: fragmentsIn(bin.stderr(), VALUE),
      audit: fragmentsIn(bin.auditText(), VALUE),
    };
    expect(leaks).toEqual({ result: [], stderr: [], audit: [] });
    // the server still works
    const ok = await bin.call('secrets_get', { name: 'prod/db' });
    expect(ok.isError, ok.text).toBe(false);
    expect(ok.structured?.length).toBe(VALUE.length);
  });
});

describe('special files in a scan root', () => {
  const base = mkdtempSync(join(tmpdir(), 'attackts-files-'));
  const root = join(base, 'root');
  const fifo = join(root, 'app', '.env');
  let bin: SecretsBin;

  beforeAll(async () => {
    mkdirSync(join(root, 'app'), { recursive: true });
    execFileSync('mkfifo', [fifo]);
    writeFileSync(join(root, 'ok.env'), 'API_TOKEN=tok_4f9a8b7c6d5e4f3a2b1c\n');
    // no confirm round: files_migrate reads the file in its handler, which runs on the first call
    bin = await startBin({ policy: policyFor({ confirm: false }), env: { SECRETS_FILE_ROOTS: root } });
  }, 60_000);

  afterAll(async () => {
    await bin?.close();
    rmSync(base, { recursive: true, force: true });
  });

  // A FIFO nobody writes to: open(2) for reading blocks until a writer comes, holding one of libuv's four
  // threadpool threads for good; four such calls stop every file operation of the server.
  it('files_audit on a FIFO answers at once and says why it was skipped', async () => {
    const started = Date.now();
    const r = await bin.client.callTool({ name: 'files_audit', arguments: { path: fifo } }, undefined, {
      timeout: 5000,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    const s = r.structured ?? r.structuredContent;
    expect(r.isError, JSON.stringify(r)).toBeFalsy();
    expect((s as { skipped: string[] }).skipped).toEqual([`${fifo}: not a regular file`]);
  }, 15_000);

  it('files_migrate on a FIFO is refused at once', async () => {
    const r = await bin.client.callTool(
      { name: 'files_migrate', arguments: { file: fifo, key: 'API_TOKEN', name: 'x/y' } },
      undefined,
      { timeout: 5000 },
    );
    expect(r.isError).toBe(true);
    expect(JSON.stringify(r.content)).toMatch(/was not read: not a regular file/);
  }, 15_000);

  it('after those, the scanner still reads the files of the root', async () => {
    const r = await bin.call('files_audit', {});
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.findings).toEqual([
      expect.objectContaining({ file: join(root, 'ok.env'), key: 'API_TOKEN', issue: 'plaintext' }),
    ]);
  }, 15_000);
});

/**
 * An endpoint in front of the simulator that answers the operations in `fake` itself (a broken endpoint
 * or a hostile proxy) and passes every other request through.
 */
async function frontOf(sim: SecretsManagerSimulator, fake: Record<string, () => unknown>): Promise<Front> {
  const target = new URL(sim.url);
  const server = createServer((req, res) => {
    const answer = fake[String(req.headers['x-amz-target']).replace('secretsmanager.', '')];
    if (answer) {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(answer()));
      return;
    }
    const { hostname: host, port } = target;
    const up = request({ host, port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Front {
  url: string;
  close(): Promise<void>;
}

/**
 * Inside a describe: a simulator holding `seeds`, `fake` operations answered in front of it, and the bin
 * (no confirm round) pointed at the front.
 */
function behindFront(seeds: Record<string, string>, fake: Record<string, () => unknown>) {
  const sim = new SecretsManagerSimulator();
  const at: { bin?: SecretsBin; front?: Front } = {};
  beforeAll(async () => {
    await sim.start();
    for (const [name, value] of Object.entries(seeds)) sim.seed(name, value);
    at.front = await frontOf(sim, fake);
    at.bin = await startBin({ sim, policy: policyFor({ confirm: false }), env: { AWS_ENDPOINT_URL: at.front.url } });
  }, 60_000);
  afterAll(async () => {
    await at.bin?.close();
    await at.front?.close();
    await sim.close();
  });
  return { sim, call: (name: string, args: Record<string, unknown>) => (at.bin as SecretsBin).call(name, args) };
}

describe('a ListSecrets answer with more entries than MaxResults asked for', () => {
  const seeds = { 'a/1': 'value-of-a1-Xy9!Long-enough', 'a/2': 'value-of-a2-Xy9!Long-enough' };
  const { sim, call } = behindFront(seeds, {
    ListSecrets: () => ({ SecretList: Array.from({ length: 600 }, (_, i) => ({ Name: `a/${(i % 2) + 1}` })) }),
  });

  it('store_audit refuses the page instead of reading 600 values one by one', async () => {
    const before = sim.control.operations.length;
    const r = await call('store_audit', { limit: 10 });
    const reads = sim.control.operations.slice(before).filter((o) => o === 'GetSecretValue').length;
    expect(reads).toBe(0);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /^ERR_BACKEND_ERROR: .*600 entries .*MaxResults 10.*check that the endpoint is Secrets Manager/,
    );
  });

  it('secrets_list refuses it too (its cursor could not page through it)', async () => {
    const r = await call('secrets_list', { limit: 50 });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/600 entries .*MaxResults 50/);
  });
});

describe('a files_audit that outlives its call', () => {
  const base = mkdtempSync(join(tmpdir(), 'attackts-scan-'));
  let bin: SecretsBin;
  // bytes the server process has read so far (read(2) and friends), from /proc
  const readBytes = () => {
    const pid = (bin.client.transport as StdioClientTransport).pid;
    return Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
  };

  beforeAll(async () => {
    // 400 files of 100 KiB: seconds of reading and parsing, far past a 100 ms call timeout
    const body = 'SOME_SETTING=value-that-is-long-enough\n'.repeat(2600);
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(base, `d${d}`));
      for (let f = 0; f < 20; f++) writeFileSync(join(base, `d${d}`, `f${f}.env`), body);
    }
    bin = await startBin({
      env: { SECRETS_FILE_ROOTS: base, SECRETS_FILE_MAX_FILES: '10000', RAVENHELM_CALL_TIMEOUT_MS: '100' },
    });
  }, 60_000);

  afterAll(async () => {
    await bin?.close();
    rmSync(base, { recursive: true, force: true });
  });

  // Each timed-out scan kept reading the whole tree in the background: a LOW caller (no rate limit) could
  // start any number of them.
  it('stops reading files once the call is over', async () => {
    const r = await bin.call('files_audit', {});
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/ERR_(BACKEND_)?TIMEOUT|ERR_CANCELLED|timed out/i);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const at = readBytes();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(readBytes() - at).toBeLessThan(1024 * 1024);
  }, 30_000);
});

describe('a JSON secret nested as deep as 64 KiB allows', () => {
  const sim = new SecretsManagerSimulator();
  let bin: SecretsBin;
  const levels = 10_800;
  const deep = `{"password":"Zq7-Horse-Battery-Staple-9xK2","k":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;

  beforeAll(async () => {
    await sim.start();
    sim.seed('app/deep', deep);
    bin = await startBin({ sim, policy: policyFor({ confirm: false, revealTo: ['ops'] }) });
  }, 60_000);

  afterAll(async () => {
    await bin?.close();
    await sim.close();
  });

  // JSON.parse takes it; JSON.stringify of it overflows the stack: before, "internal error".
  it('secrets_get of that key says what is wrong', async () => {
    const r = await bin.call('secrets_get', { name: 'app/deep', jsonKey: 'k' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_INVALID_INPUT: key "k" of secret "app\/deep" is nested too deeply/);
  });

  it('secrets_rotate of another key says what is wrong and writes nothing', async () => {
    const before = sim.stagesOf('app/deep');
    const r = await bin.call('secrets_rotate', { name: 'app/deep', jsonKey: 'password' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_INVALID_INPUT: secret "app\/deep" is nested too deeply/);
    expect(sim.stagesOf('app/deep')).toEqual(before);
  });
});

describe('a GetRandomPassword answer that ignores the policy', () => {
  const { sim, call } = behindFront(
    { 'app/redis': 'old-Value-9xK2-long-enough!' },
    { GetRandomPassword: () => ({ RandomPassword: 'aaaa' }) },
  );

  // Before: the secret was rotated to "aaaa" and the answer said "32 chars: lower, upper, digits, symbols".
  it('secrets_rotate refuses a value that is not what it asked for, and stores nothing', async () => {
    const before = sim.stagesOf('app/redis');
    const r = await call('secrets_rotate', { name: 'app/redis', generator: 'service' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_BACKEND_ERROR: GetRandomPassword returned a value that does not follow the request/);
    expect(r.text).not.toContain('aaaa');
    expect(sim.stagesOf('app/redis')).toEqual(before);
    expect(sim.valueOf('app/redis')).toBe('old-Value-9xK2-long-enough!');
  });
});

describe('a PutSecretValue answer without a VersionId', () => {
  const { sim, call } = behindFront(
    { 'app/cache': 'old-Value-9xK2-long-enough!' },
    { PutSecretValue: () => ({ ARN: 'arn', Name: 'app/cache' }) },
  );

  // Before: UpdateSecretVersionStage went out with RemoveFromVersionId and no MoveToVersionId, which takes
  // AWSCURRENT off the only good version: every reader of the secret then fails.
  it('secrets_rotate stops before moving AWSCURRENT anywhere', async () => {
    const before = sim.stagesOf('app/cache');
    const r = await call('secrets_rotate', { name: 'app/cache' });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_BACKEND_ERROR: PutSecretValue returned no VersionId.*AWSCURRENT is unchanged/);
    expect(sim.stagesOf('app/cache')).toEqual(before);
    const read = await call('secrets_get', { name: 'app/cache' });
    expect(read.isError, read.text).toBe(false);
  });
});
