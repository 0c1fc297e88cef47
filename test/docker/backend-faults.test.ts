/**
 * The Docker server (dockerode over a Unix socket) against the real engine through a fault-injecting
 * Unix-socket proxy in front of /var/run/docker.sock: the engine itself is never frozen. Lists, inspects
 * and log streams that hang, stall, trickle, break or flood must end by the deadline in a tool error
 * naming the engine, within the byte cap, and give back their engine-call slot and socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DockerServices, dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultMode, type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import {
  endlessJson,
  expectCleanAfterFaultRounds,
  faulted,
  HTTP_FAULTS,
  type ServedOverHttp,
  serveOverHttp,
} from '../fixtures/fault-server.js';
import { DockerFixture, ensureImage } from './fixture.js';

const TIMEOUT_MS = 1500;
const SLACK_MS = 1000;
const CAP = 256 * 1024;

const fx = new DockerFixture('faults');
const dir = mkdtempSync(join(tmpdir(), 'rh-docker-fault-'));
let proxy: FaultProxy;
let server: ServedOverHttp<DockerServices>;
let talker: string;

/** One multiplexed stdout frame carrying `text`. */
function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

beforeAll(async () => {
  await ensureImage();
  talker = await fx.start({ name: 'talker', script: 'for i in $(seq 1 50); do echo line-$i; done; sleep 600' });
  proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: join(dir, 'docker.sock') });
  server = await serveOverHttp<DockerServices>(
    dockerServer,
    { DOCKER_HOST: `unix://${proxy.socketPath}`, RAVENHELM_TOOLSETS: 'all' },
    ['mcp:docker:admin'],
    { 'backend.timeoutMs': TIMEOUT_MS, 'backend.maxResponseBytes': CAP, 'backend.maxConcurrentCalls': 4 },
  );
  await fx.waitFor('the talker to log', async () => {
    const r = await server.call('logs_get', { container: talker, tail: 5 });
    return !r.isError && r.text.includes('line-50');
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await fx.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const slots = () => ({ active: server.services.docker.slots.active, waiting: server.services.docker.slots.waiting });

const CALLS = {
  list: { tool: 'containers_list', args: () => ({}), only: /^GET \/[^ ]*containers\/json/ },
  logs: { tool: 'logs_get', args: () => ({ container: talker, tail: 20 }), only: /^GET \/[^ ]*\/logs/ },
} as const;

describe.each(Object.entries(CALLS))('Docker %s behind a faulty socket', (_kind, { tool, args, only }) => {
  it.each(Object.keys(HTTP_FAULTS))(
    '%s',
    async (name) => {
      const fault = HTTP_FAULTS[name] as (typeof HTTP_FAULTS)[string];
      proxy.only = only;
      let a: Awaited<ReturnType<typeof server.call>>;
      try {
        a = await faulted(proxy, fault.mode, () => server.call(tool, args()));
      } finally {
        proxy.only = undefined;
      }
      console.log(`docker ${tool} ${name}: ${a.ms} ms: ${a.text.slice(0, 300)}`);
      expect(a.isError, a.text).toBe(true);
      expect(a.text).toMatch(/Docker Engine/);
      expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      if (fault.expect === 'timeout' && tool === 'logs_get' && /mid-body|trickle-body/.test(name)) {
        // part of the log came: said so, with no partial tail that would hide the newest lines
        expect(a.text).toMatch(
          /^ERR_BACKEND_TIMEOUT: the Docker Engine at .* had sent \d+ bytes of the log of container .* but not finished it by the 1500 ms deadline .*; no lines are returned/,
        );
      } else if (fault.expect === 'timeout') {
        expect(a.text).toMatch(/^ERR_BACKEND_TIMEOUT: .*1500 ms/);
      } else {
        expect(a.text).toMatch(
          /^ERR_BACKEND_UNAVAILABLE: the connection to the Docker Engine at .* broke during the call .*\(ECONNRESET\); retry/,
        );
      }
      expect(a.text).toMatch(/retry|check/);
      await proxy.drained(3000);
      expect(slots()).toEqual({ active: 0, waiting: 0 });
      const ok = await server.call(tool, args());
      expect(ok.isError, ok.text).toBe(false);
    },
    30_000,
  );
});

describe('Docker floods', () => {
  it('an endless container list stops at the byte cap', async () => {
    const before = proxy.endlessBytes;
    proxy.only = CALLS.list.only;
    const a = await faulted(proxy, endlessJson({ Id: 'f'.repeat(64), Names: ['/flood'], Labels: {} }), () =>
      server.call('containers_list', {}),
    ).finally(() => {
      proxy.only = undefined;
    });
    console.log(`docker endless list: ${a.ms} ms, ${proxy.endlessBytes - before} bytes sent: ${a.text.slice(0, 300)}`);
    expect(a.isError).toBe(true);
    expect(a.text).toMatch(/^ERR_OUTPUT_TOO_LARGE: .*Docker Engine/);
    expect(proxy.endlessBytes - before).toBeLessThan(CAP + 8 * 1024 * 1024);
    await proxy.drained(3000);
    expect(slots()).toEqual({ active: 0, waiting: 0 });
  }, 30_000);

  it('an endless log stream ends by the deadline with bounded memory', async () => {
    const endlessLog: FaultMode = {
      kind: 'endless',
      headers: { 'content-type': 'application/vnd.docker.multiplexed-stream' },
      chunk: frame(`${'x'.repeat(100)} flood\n`),
    };
    proxy.only = CALLS.logs.only;
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const a = await faulted(proxy, endlessLog, () => server.call('logs_get', { container: talker, tail: 20 })).finally(
      () => {
        proxy.only = undefined;
      },
    );
    const grew = process.memoryUsage().heapUsed - heapBefore;
    console.log(
      `docker endless logs: ${a.ms} ms, ${proxy.endlessBytes} bytes sent, heap +${Math.round(grew / 1024 / 1024)} MiB: ${a.text.slice(0, 300)}`,
    );
    expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    expect(a.text).toMatch(/Docker Engine|flood/);
    expect(grew).toBeLessThan(64 * 1024 * 1024);
    await proxy.drained(3000);
    expect(slots()).toEqual({ active: 0, waiting: 0 });
  }, 30_000);

  it('50 faulted calls (10 at a time, slots 4) leave no slot and no socket', async () => {
    await expectCleanAfterFaultRounds(
      'docker',
      server,
      proxy,
      () => server.call('containers_list', {}),
      TIMEOUT_MS + SLACK_MS,
    );
    expect(slots()).toEqual({ active: 0, waiting: 0 });
  }, 60_000);
});
