/**
 * Secrets Manager (the real AWS SDK v3 client) behind a fault-injecting proxy in front of the simulator:
 * each fault ends by the one deadline, SDK retries included, in a tool error naming Secrets Manager; an
 * endless answer is not buffered without bound; no socket is left open.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SecretsServices, secretsServer } from '@ravenhelm/mcp-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import {
  expectCleanAfterFaultRounds,
  faulted,
  HTTP_FAULTS,
  type ServedOverHttp,
  serveOverHttp,
} from '../fixtures/fault-server.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

const TIMEOUT_MS = 1500;
const SLACK_MS = 1000;
const MAX_ATTEMPTS = 5;

const sim = new SecretsManagerSimulator();
const dir = mkdtempSync(join(tmpdir(), 'rh-secrets-fault-'));
let proxy: FaultProxy;
let server: ServedOverHttp<SecretsServices>;

beforeAll(async () => {
  await sim.start();
  const u = new URL(sim.url);
  proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
  // the SDK's credential chain reads the process environment; nothing else may leak in
  Object.assign(process.env, sim.sdkEnv(dir));
  server = await serveOverHttp<SecretsServices>(
    secretsServer,
    {
      AWS_ENDPOINT_URL: proxy.url as string,
      AWS_REGION: sim.region,
      SECRETS_TIMEOUT_MS: String(TIMEOUT_MS),
      SECRETS_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      RAVENHELM_TOOLSETS: 'all',
    },
    ['mcp:secrets:admin'],
  );
  // the SDK loads on the first call, outside the timings
  const first = await server.call('secrets_list', {});
  expect(first.isError, first.text).toBe(false);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Secrets Manager behind a faulty connection', () => {
  it.each(Object.keys(HTTP_FAULTS))(
    '%s',
    async (name) => {
      const fault = HTTP_FAULTS[name] as (typeof HTTP_FAULTS)[string];
      const accepted = proxy.accepted;
      const a = await faulted(proxy, fault.mode, () => server.call('secrets_list', {}));
      console.log(`secrets ${name}: ${a.ms} ms, ${proxy.accepted - accepted} connections: ${a.text.slice(0, 300)}`);
      expect(a.isError, a.text).toBe(true);
      expect(a.text).toMatch(/Secrets Manager/);
      expect(a.text).not.toContain(sim.secretAccessKey);
      // one deadline for the call, the SDK's retries included
      expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      expect(proxy.accepted - accepted).toBeLessThanOrEqual(MAX_ATTEMPTS);
      if (fault.expect === 'timeout')
        expect(a.text).toMatch(/^ERR_BACKEND_TIMEOUT: Secrets Manager did not answer within 1500 ms/);
      else
        expect(a.text).toMatch(
          /^ERR_BACKEND_UNAVAILABLE: the connection to Secrets Manager at .* broke while its answer was read \(ECONNRESET\)/,
        );
      expect(a.text).toMatch(/retry|check/);
      await proxy.drained(3000);
      const ok = await server.call('secrets_list', {});
      expect(ok.isError, ok.text).toBe(false);
    },
    30_000,
  );

  it('throttling retries (with growing back-off) stay inside the one deadline', async () => {
    const accepted = proxy.accepted;
    const a = await faulted(
      proxy,
      {
        kind: 'respond',
        status: 400,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'ThrottlingException' },
        body: JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }),
      },
      () => server.call('secrets_list', {}),
    );
    console.log(
      `secrets throttled x${MAX_ATTEMPTS}: ${a.ms} ms, ${proxy.accepted - accepted} new connections: ${a.text}`,
    );
    expect(a.isError).toBe(true);
    expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    // what was wrong is said: the service kept throttling, not a silent timeout
    expect(a.text).toMatch(
      /^ERR_BACKEND_TIMEOUT: Secrets Manager kept failing until the 1500 ms deadline while trying to list secrets: its last answer was HTTP 400 ThrottlingException, retried by the SDK; retry/,
    );
  }, 30_000);

  it('an endless answer is refused without buffering it all', async () => {
    const before = proxy.endlessBytes;
    const a = await faulted(
      proxy,
      {
        kind: 'endless',
        headers: { 'content-type': 'application/x-amz-json-1.1' },
        head: '{"SecretList":[',
        chunk: `${JSON.stringify({ Name: 'flood', Description: 'x'.repeat(200) })},`,
      },
      () => server.call('secrets_list', {}),
    );
    const sent = proxy.endlessBytes - before;
    console.log(`secrets endless: ${a.ms} ms, ${sent} bytes sent: ${a.text.slice(0, 300)}`);
    expect(a.isError).toBe(true);
    expect(a.text).toMatch(/^ERR_OUTPUT_TOO_LARGE: Secrets Manager answered with more than 4,194,304 bytes/);
    expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    // the 4 MiB cap plus what socket buffers held, not what a deadline's worth of flood would be
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await proxy.drained(3000);
  }, 30_000);

  it('50 faulted calls leave no socket open and the client keeps working', async () => {
    await expectCleanAfterFaultRounds(
      'secrets',
      server,
      proxy,
      () => server.call('secrets_list', {}),
      TIMEOUT_MS + SLACK_MS,
    );
  }, 90_000);
});
