/**
 * containers_diagnose, logs_get and compose_get_logs against the real engine behind a fault proxy on its socket: when the
 * engine is slow (a log that trickles, an inspect that hangs), they answer with what they read and say
 * which part is missing and why, instead of failing with a timeout. Through the MCP SDK client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DockerServices, dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultMode, type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { faulted, type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { DockerFixture, docker, ensureImage } from './fixture.js';

const TIMEOUT_MS = 1500;
const fx = new DockerFixture('partial');
const dir = mkdtempSync(join(tmpdir(), 'rh-docker-partial-'));
let proxy: FaultProxy;
/** backend.timeoutMs 1500 ms, call limit 30 s: the engine call's timeout cuts first */
let server: ServedOverHttp<DockerServices>;
/** backend.timeoutMs 20 s, call limit 4 s: the call's own time limit cuts first */
let shortCalls: ServedOverHttp<DockerServices>;
let talker: string;
/** Writes error lines only: a cut read holds some of them whatever order the engine copied the streams in. */
let failer: string;
/** A compose project: service "a-fast" logs two lines, "b-slow" (read last: services in order) 50. */
const project = `partial-${fx.prefix.slice(-6)}`;
let slow: string;
/** Only the slow container's log requests get the fault. */
let SLOW_LOGS: RegExp;

const LOGS = /^GET \/[^ ]*\/logs/;
const INSPECT = /^GET \/[^ ]*containers\/[^/ ]+\/json/;
/** About 20 of the talker's 50 log frames (about 45 bytes each with a timestamp) arrive in 1.5 s. */
const TRICKLE: FaultMode = { kind: 'trickle', bytes: 60, everyMs: 100, bodyOnly: true };

beforeAll(async () => {
  await ensureImage();
  talker = await fx.start({
    name: 'talker',
    script: 'for i in $(seq 1 50); do echo line-$i; echo "ERROR failure-$i" >&2; done; sleep 600',
  });
  failer = await fx.start({
    name: 'failer',
    script: 'for i in $(seq 1 50); do echo "ERROR failure-$i" >&2; done; sleep 600',
  });
  const compose = (service: string) => ({
    'com.docker.compose.project': project,
    'com.docker.compose.service': service,
  });
  await fx.start({ name: 'cfast', labels: compose('a-fast'), script: 'echo fast-1; echo fast-2; sleep 600' });
  slow = await fx.start({
    name: 'cslow',
    labels: compose('b-slow'),
    script: 'for i in $(seq 1 50); do echo slow-$i; done; sleep 600',
  });
  SLOW_LOGS = new RegExp(`^GET /[^ ]*containers/${(await fx.inspect(slow)).Id}/logs`);
  proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: join(dir, 'docker.sock') });
  const env = { DOCKER_HOST: `unix://${proxy.socketPath}`, RAVENHELM_TOOLSETS: 'all' };
  server = await serveOverHttp<DockerServices>(dockerServer, env, ['mcp:docker:admin'], {
    'backend.timeoutMs': TIMEOUT_MS,
  });
  shortCalls = await serveOverHttp<DockerServices>(dockerServer, env, ['mcp:docker:admin'], {
    'backend.timeoutMs': 20_000,
    'limits.callTimeoutMs': 4000,
  });
  // asked of the engine directly: a busy host may cut the server's 1.5 s reads (that is what is tested here)
  await fx.waitFor('the talker to log', async () => (await docker(['logs', talker])).includes('line-50'));
  await fx.waitFor('the slow service to log', async () => (await docker(['logs', slow])).includes('slow-50'));
  await fx.waitFor('the failer to log', async () =>
    (await server.call('containers_diagnose', { container: failer })).text.includes('ERROR failure-50'),
  );
}, 120_000);

afterAll(async () => {
  proxy.mode = { kind: 'pass' };
  await server?.close();
  await shortCalls?.close();
  await proxy?.close();
  await fx.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function underFault(
  s: ServedOverHttp<DockerServices>,
  only: RegExp,
  mode: FaultMode,
  tool: string,
  args: object,
) {
  proxy.only = only;
  try {
    return await faulted(proxy, mode, () => s.call(tool, args as Record<string, unknown>));
  } finally {
    proxy.only = undefined;
  }
}

describe('logs_get on a slow engine', () => {
  it('a trickling log past the engine-call timeout: the lines read, the missing newest named with a since to read them', async () => {
    const a = await underFault(server, LOGS, TRICKLE, 'logs_get', { container: talker, tail: 100, streams: 'stdout' });
    console.log(`logs_get trickle: ${a.ms} ms: ${a.text.slice(0, 400)}`);
    expect(a.isError, a.text).toBe(false);
    const out = a.structured as { text: string; lines: number; truncated: boolean; notes: string[] };
    expect(out.text).toMatch(/^line-1\n/);
    expect(out.text).not.toMatch(/line-50/);
    expect(out.lines).toBeGreaterThan(0);
    expect(out.truncated).toBe(true);
    const note = out.notes.find((n) => n.startsWith('the log read was cut')) ?? '';
    expect(note).toMatch(
      /1500 ms engine-call timeout .*the newer ones are missing: read them with logs_get since "\d{4}-/,
    );
    // the since it names gives the rest, with nothing skipped
    const since = /since "([^"]+)"/.exec(note)?.[1] as string;
    const rest = await server.call('logs_get', { container: talker, tail: 100, streams: 'stdout', since });
    expect(rest.isError, rest.text).toBe(false);
    const last = out.text.trimEnd().split('\n').at(-1) as string;
    const more = (rest.structured as { text: string }).text;
    expect(more).toMatch(/line-50\n$/);
    const next = `line-${Number(last.slice(5)) + 1}\n`;
    expect(more).toContain(next);
    await proxy.drained(3000);
  }, 30_000);

  it("a trickling log past the call's own time limit: answered before it, the cut said", async () => {
    const a = await underFault(
      shortCalls,
      LOGS,
      { kind: 'trickle', bytes: 30, everyMs: 100, bodyOnly: true },
      'logs_get',
      { container: talker, tail: 100, streams: 'stdout' },
    );
    console.log(`logs_get trickle, short call: ${a.ms} ms: ${a.text.slice(0, 400)}`);
    expect(a.isError, a.text).toBe(false);
    expect(a.ms).toBeLessThan(4000);
    const out = a.structured as { text: string; notes: string[] };
    expect(out.text).toMatch(/^line-1\n/);
    expect(out.notes.join(' ')).toMatch(/shortly before the call's time limit .*the newer ones are missing/);
    await proxy.drained(3000);
  }, 30_000);
});

describe('containers_diagnose on a slow engine', () => {
  it('an inspect that hangs: the diagnosis from the list row and the log, what is unknown said', async () => {
    const a = await underFault(server, INSPECT, { kind: 'hang' }, 'containers_diagnose', { container: talker });
    console.log(`diagnose, inspect hangs: ${a.ms} ms: ${a.text.slice(0, 500)}`);
    expect(a.isError, a.text).toBe(false);
    const out = a.structured as {
      container: { state: string; running: boolean; name: string };
      restartPolicy: string;
      errorLog: { lines: { text: string }[] };
      findings: string[];
    };
    expect(out.container).toMatchObject({ state: 'running', running: true, name: talker });
    expect(out.restartPolicy).toBe('unknown');
    expect(out.findings[0]).toMatch(
      /^partial diagnosis: the Docker Engine did not answer the inspect .*OOM kill, restart count/,
    );
    expect(out.errorLog.lines.at(-1)?.text).toBe('ERROR failure-50');
    await proxy.drained(3000);
  }, 30_000);

  it('a trickling log: the error lines read so far, the cut said', async () => {
    const a = await underFault(server, LOGS, TRICKLE, 'containers_diagnose', { container: failer });
    console.log(`diagnose, log trickles: ${a.ms} ms: ${a.text.slice(0, 500)}`);
    expect(a.isError, a.text).toBe(false);
    const out = a.structured as { errorLog: { lines: { text: string }[]; notes: string[] }; findings: string[] };
    expect(out.errorLog.lines.length).toBeGreaterThan(0);
    expect(out.errorLog.lines.map((l) => l.text)).not.toContain('ERROR failure-50');
    expect(out.errorLog.notes.join(' ')).toMatch(/^the log read was cut .*read them with logs_get since "\d{4}-/);
    expect(out.findings).toContain('its log was read only in part (see errorLog.notes)');
    await proxy.drained(3000);
  }, 30_000);

  it('a container that does not exist is still not found, not a partial answer', async () => {
    const a = await underFault(server, INSPECT, { kind: 'hang' }, 'containers_diagnose', {
      container: 'rh-partial-nobody',
    });
    expect(a.isError).toBe(true);
    expect(a.text).toMatch(/^ERR_BACKEND_TIMEOUT/);
    await proxy.drained(3000);
  }, 30_000);
});

describe('compose_get_logs on a slow engine', () => {
  /** The lines of the answer's text (prefixed "<service> | "). */
  const linesOf = (a: { structured?: Record<string, unknown> }) =>
    String((a.structured as { text: string }).text)
      .trimEnd()
      .split('\n');

  it("one container's log trickling past the engine-call timeout: its lines read so far, the cut and a since named", async () => {
    const a = await underFault(server, SLOW_LOGS, TRICKLE, 'compose_get_logs', { project, tail: 100 });
    console.log(`compose_get_logs trickle: ${a.ms} ms: ${a.text.slice(0, 600)}`);
    expect(a.isError, a.text).toBe(false);
    const out = a.structured as { text: string; truncated: boolean; notes: string[] };
    const lines = linesOf(a);
    expect(lines).toEqual(expect.arrayContaining(['a-fast | fast-1', 'a-fast | fast-2', 'b-slow | slow-1']));
    expect(lines).not.toContain('b-slow | slow-50');
    expect(out.truncated).toBe(true);
    const note = out.notes.find((n) => n.includes(`"${slow}"`)) ?? '';
    expect(note).toMatch(
      /^the log of container "[^"]+" \(service b-slow\) was read only in part: .*1500 ms engine-call timeout .*read them with logs_get container "[^"]+" since "\d{4}-/,
    );
    expect(out.notes.join(' ')).not.toMatch(/no logs from|not read before/);
    // the since it names gives the rest of that container's log, with nothing skipped
    const since = /since "([^"]+)"/.exec(note)?.[1] as string;
    const rest = await server.call('logs_get', { container: slow, tail: 100, since });
    expect(rest.isError, rest.text).toBe(false);
    const more = (rest.structured as { text: string }).text;
    expect(more).toMatch(/slow-50\n$/);
    const last = lines.filter((l) => l.startsWith('b-slow | ')).at(-1) as string;
    expect(more).toContain(`slow-${Number(last.slice('b-slow | slow-'.length)) + 1}\n`);
    await proxy.drained(3000);
  }, 30_000);

  it('one container\'s log trickling past the call\'s own time limit: its lines read before it, not "not read"', async () => {
    const a = await underFault(
      shortCalls,
      SLOW_LOGS,
      { kind: 'trickle', bytes: 30, everyMs: 100, bodyOnly: true },
      'compose_get_logs',
      { project, tail: 100 },
    );
    console.log(`compose_get_logs trickle, short call: ${a.ms} ms: ${a.text.slice(0, 600)}`);
    expect(a.isError, a.text).toBe(false);
    expect(a.ms).toBeLessThan(4000);
    const out = a.structured as { notes: string[]; truncated: boolean };
    const lines = linesOf(a);
    expect(lines).toEqual(expect.arrayContaining(['a-fast | fast-2', 'b-slow | slow-1']));
    expect(out.truncated).toBe(true);
    expect(out.notes.join(' ')).toMatch(
      /\(service b-slow\) was read only in part: .*shortly before the call's time limit .*the newer ones are missing/,
    );
    expect(out.notes.join(' ')).not.toMatch(/not read before/);
    await proxy.drained(3000);
  }, 30_000);
});
