// events_list against the real Docker Engine: what it reports, how it filters and bounds, and what it says
// when the engine no longer remembers the start of the window (moby keeps its latest 256 events).
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@ravenhelm/kit';
import { DockerBackend, type DockerServices, EventHistory } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { DockerFixture, docker, ensureImage, RUN_LABEL, TEST_IMAGE, TEST_LABEL } from './fixture.js';
import { call, callError, makeServices, type Result, tool } from './harness.js';

const fx = new DockerFixture('events');
const services = makeServices();
const events = tool('events_list');
const PROJECT = `${fx.prefix}-proj`.replace(/[^a-z0-9_-]/g, '');
const mine = { since: '10m' };

type Ev = { time: string; type: string; action: string; detail?: string; name?: string; exitCode?: number } & Result;

/** Calls events_list until `done` holds for its answer (the engine publishes events asynchronously). */
async function eventsUntil(args: Record<string, unknown>, done: (evs: Ev[]) => boolean, what: string): Promise<Result> {
  let last: Result | undefined;
  await fx.waitFor(what, async () => {
    last = await call(events, args, services);
    return done(last.events as Ev[]);
  });
  return last as Result;
}

/** One raw Engine API call over the socket (the tool under test is not used to make events). */
function engine(method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: '/var/run/docker.sock', method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

let crashed: string;
let svc: string;

/** More exec_create events than the engine keeps (256), on one container, in a second or two. */
async function overflowEngineBuffer(container: string, count = 270): Promise<void> {
  const id = (await docker(['inspect', '-f', '{{.Id}}', container])).trim();
  for (let i = 0; i < count; i++) {
    expect(await engine('POST', `/containers/${id}/exec`, { Cmd: ['true'] })).toBe(201);
  }
}

beforeAll(async () => {
  await ensureImage();
});

afterAll(async () => {
  await fx.cleanup();
});

describe('events_list', () => {
  it('a crash: create, start and die in time order, the exit code on the die', async () => {
    crashed = await fx.start({ name: 'crashed', script: 'exit 3' });
    const res = await eventsUntil(
      { ...mine, container: crashed },
      (evs) => evs.some((e) => e.action === 'die'),
      'the die event of the crashed container',
    );
    const actions = res.events.map((e: Ev) => e.action);
    expect(actions.indexOf('create')).toBeGreaterThanOrEqual(0);
    expect(actions.indexOf('create')).toBeLessThan(actions.indexOf('start'));
    expect(actions.indexOf('start')).toBeLessThan(actions.indexOf('die'));
    const die = res.events.find((e: Ev) => e.action === 'die');
    expect(die).toMatchObject({ type: 'container', name: crashed, exitCode: 3, image: 'ravenhelm-test/busybox:2' });
    expect(die.id).toMatch(/^[0-9a-f]{12}$/);
    const times = res.events.map((e: Ev) => Date.parse(e.time));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(res).toMatchObject({ matched: res.events.length, returned: res.events.length, truncated: false });
    // labels are not echoed (any value can hold a credential): the run label's key never appears
    expect(JSON.stringify(res)).not.toContain(RUN_LABEL);
  });

  it('a failing health check: health_status with the status as its detail', async () => {
    const sick = await fx.start({ name: 'sick', script: 'sleep 600', health: { cmd: 'false' } });
    const res = await eventsUntil(
      { ...mine, container: sick, actions: ['health_status'] },
      (evs) => evs.some((e) => e.detail === 'unhealthy'),
      'the unhealthy status event',
    );
    expect(res.events.every((e: Ev) => e.action === 'health_status' && e.name === sick)).toBe(true);
  });

  it('an exec: its command shown with the password redacted', async () => {
    svc = await fx.start({
      name: 'svc',
      script: 'sleep 600',
      labels: { 'com.docker.compose.project': PROJECT, 'com.docker.compose.service': 'api' },
    });
    await docker(['exec', svc, 'sh', '-c', 'echo --password=hunter2 > /dev/null']);
    const res = await eventsUntil(
      { ...mine, composeProject: PROJECT, actions: ['exec_start'] },
      (evs) => evs.length > 0,
      'the exec_start event',
    );
    expect(res.events[0]).toMatchObject({ action: 'exec_start', composeProject: PROJECT, service: 'api', name: svc });
    expect(res.events[0].detail).toContain('--password=[redacted]');
    expect(JSON.stringify(res)).not.toContain('hunter2');
  });

  it('filters by project, container and action; limit keeps the newest and says so', async () => {
    const project = await call(events, { ...mine, composeProject: PROJECT }, services);
    expect(project.events.length).toBeGreaterThan(0);
    expect(project.events.every((e: Ev) => e.name === svc && e.type === 'container')).toBe(true);
    const dies = await call(events, { ...mine, actions: ['die'] }, services);
    expect(dies.events.map((e: Ev) => e.name)).toContain(crashed);
    expect(dies.events.every((e: Ev) => e.action === 'die')).toBe(true);
    // container events only: the network the engine connects a container to is not listed
    const all = await call(events, { ...mine, container: svc }, services);
    expect(all.events.every((e: Ev) => e.type === 'container')).toBe(true);
    expect(all.matched).toBeGreaterThan(3);
    const two = await call(events, { ...mine, container: svc, limit: 2 }, services);
    expect(two).toMatchObject({ returned: 2, truncated: true });
    expect(two.matched).toBeGreaterThanOrEqual(all.matched);
    const newest = all.events.slice(-2).map((e: Ev) => e.time);
    expect(Date.parse(two.events[0].time)).toBeGreaterThanOrEqual(Date.parse(newest[0]));
    expect(two.notes.join(' ')).toMatch(/limit 2: the newest 2 of \d+ events/);
    // the note's until reaches the older ones, the oldest shown again and nothing skipped
    const until = /until="([^"]+)"/.exec(two.notes.join(' '))?.[1];
    expect(until).toBe(two.events[0].time);
    const older = await call(events, { ...mine, container: svc, until }, services);
    const times = (r: Result) => (r.events as Ev[]).map((e) => `${e.time} ${e.action}`);
    expect(new Set([...times(older), ...times(two)])).toEqual(new Set(times(all)));
  });

  it('a hex-looking name is the name: events of containers whose id starts with it are left out and said', async () => {
    // The engine's own `container` event filter matches names and id prefixes alike (checked on 20.10:
    // container=da0f listed a container named da0f and one whose id began da0f...).
    const other = await fx.start({ name: 'idprefix', script: 'exit 0' });
    const otherId = (await fx.inspect(other)).Id;
    const hexName = otherId.slice(0, 10);
    // fx.start prefixes its names; this one must be the bare hex (removed with the run's label)
    await docker([
      'create',
      '--network',
      'none',
      '--name',
      hexName,
      '--label',
      `${TEST_LABEL}=1`,
      '--label',
      `${RUN_LABEL}=${fx.prefix}`,
      TEST_IMAGE,
      'true',
    ]);
    const res = await eventsUntil(
      { ...mine, container: hexName },
      (evs) => evs.some((e) => e.action === 'create'),
      'the create event of the hex-named container',
    );
    expect(res.events.length).toBeGreaterThan(0);
    expect(res.events.every((e: Ev) => e.name === hexName)).toBe(true);
    expect(res.notes.join(' ')).toContain(`"${hexName}" is a container's name, so only its events are shown`);
    expect(res.notes.join(' ')).toContain(otherId.slice(0, 12));
    // more of the id than the name has: the other container's events, none of the named one's
    const byId = await call(events, { ...mine, container: otherId.slice(0, 12) }, services);
    expect(byId.events.map((e: Ev) => e.name)).toContain(other);
    expect(byId.events.every((e: Ev) => e.name === other)).toBe(true);
  });

  it('a renamed container: asked by either name, its events under both names, the rename with its old name', async () => {
    // The engine records each event under the name the container had then; a rename event carries the
    // old name (with its leading "/") in Actor.Attributes.oldName (moby daemon/rename.go; checked on 28.2).
    const before = await fx.start({ name: 'before', script: 'sleep 600' });
    const after = fx.nameOf('after');
    fx.names.push(after);
    await docker(['rename', before, after]);
    await docker(['stop', '-t', '0', after]);
    const byNew = await eventsUntil(
      { ...mine, container: after },
      (evs) => evs.some((e) => e.action === 'die'),
      'the die of the renamed container',
    );
    const seen = byNew.events.map((e: Ev) => `${e.action}:${e.name}`);
    expect(seen).toContain(`create:${before}`);
    expect(seen).toContain(`start:${before}`);
    expect(seen).toContain(`die:${after}`);
    expect(byNew.events.find((e: Ev) => e.action === 'rename')).toMatchObject({ name: after, detail: before });
    expect(byNew.notes.join(' ')).toContain(`"${before}" -> "${after}"`);
    const byOld = await call(events, { ...mine, container: before }, services);
    expect(byOld.events.map((e: Ev) => `${e.action}:${e.name}`)).toEqual(seen);
  });

  it('until bounds the window; a future until is clamped to now and said', async () => {
    const all = await call(events, { ...mine, container: svc }, services);
    const cutAt = all.events[1]?.time as string;
    const before = await call(events, { ...mine, container: svc, until: cutAt }, services);
    expect(before.events.length).toBeLessThan(all.events.length);
    expect(before.events.every((e: Ev) => Date.parse(e.time) <= Date.parse(cutAt) + 999)).toBe(true);
    const future = await call(events, { ...mine, container: svc, until: '2999-01-01T00:00:00Z' }, services);
    expect(future.notes.join(' ')).toContain('until is in the future');
    expect(await callError(events, { since: 'yesterday' }, services)).toMatchObject({ code: 'ERR_INVALID_INPUT' });
    expect(await callError(events, { actions: ['die; rm'] }, services)).toMatchObject({ code: 'ERR_INVALID_INPUT' });
  });

  it('an answer over the output budget keeps the newest events and says how many went', async () => {
    const whole = await call(events, { ...mine, container: svc }, services);
    const res = await call(events, { ...mine, container: svc }, services, { maxOutputBytes: 1024 + 400 });
    expect(res.returned).toBeLessThan(whole.returned);
    expect(res.truncated).toBe(true);
    expect(res.notes.join(' ')).toMatch(/output budget: the \d+ oldest of the events left out/);
    expect(res.events.at(-1).time).toBe(whole.events.at(-1).time);
  });

  it('says when the engine no longer holds the start of the window (it keeps its latest 256 events)', async () => {
    const startedAt = Date.now();
    await overflowEngineBuffer(svc);
    const res = await call(events, { since: '1h' }, services);
    expect(Date.parse(res.completeFrom)).toBeGreaterThanOrEqual(startedAt - 2000);
    expect(res.notes.join(' ')).toContain('the engine keeps only its latest 256 events');
    // the crash from the first test is older than what the engine still holds
    const again = await call(events, { ...mine, container: crashed }, services);
    expect(again.events.some((e: Ev) => e.action === 'create')).toBe(false);
  });
});

describe("events_list with the server's own event history (the engine keeps only 256)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-events-'));
  const socket = join(dir, 'docker.sock');
  let proxy: FaultProxy | undefined;
  const histories: EventHistory[] = [];
  afterAll(async () => {
    for (const h of histories) h.close();
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Services whose history reads the engine through `socketPath` (a proxy the test can cut). */
  function withHistory(socketPath: string, bounds = { maxEvents: 10_000, maxExecEvents: 2_000 }) {
    const backend = new DockerBackend({ socketPath, timeoutMs: 10_000 });
    const history = new EventHistory(backend, { ...bounds, logger: silentLogger(), retryMinMs: 50, retryMaxMs: 200 });
    histories.push(history);
    history.start();
    const services: DockerServices = { ...makeServices(), events: history };
    return { history, services };
  }

  const dieOf = async (svcs: DockerServices, name: string) =>
    (await call(events, { since: '10m', container: name, actions: ['die'] }, svcs)).events as Ev[];

  it("keeps what the engine has dropped: a crash older than the engine's 256 latest events is still listed", async () => {
    const { history, services: svcs } = withHistory('/var/run/docker.sock');
    const early = await fx.start({ name: 'early', script: 'exit 7' });
    await fx.waitFor('the history to read the die', async () => (await dieOf(svcs, early)).length === 1);
    const target = await fx.start({ name: 'execs', script: 'sleep 600' });
    await overflowEngineBuffer(target);
    // the engine alone no longer has it
    expect(await dieOf(services, early)).toEqual([]);
    const dies = await dieOf(svcs, early);
    expect(dies).toHaveLength(1);
    expect(dies[0]).toMatchObject({ exitCode: 7, name: early });
    const res = await call(events, { since: '10m', container: early }, svcs);
    expect((res.notes ?? []).join(' ')).not.toContain('the engine keeps only');
    // kept without labels
    const kept = history.view().events.find((e) => e.Actor?.Attributes?.name === early);
    expect(Object.keys(kept?.Actor?.Attributes ?? {}).sort()).toEqual(
      ['exitCode', 'image', 'name'].filter((k) => k in (kept?.Actor?.Attributes ?? {})).sort(),
    );
    expect(JSON.stringify(history.view().events)).not.toContain(RUN_LABEL);
  });

  it('reads again after the stream breaks: nothing twice, and a stretch the engine dropped meanwhile is said', async () => {
    proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: socket });
    const { history, services: svcs } = withHistory(socket);
    const before = await fx.start({ name: 'before', script: 'exit 4' });
    await fx.waitFor('the history to read the first die', async () => (await dieOf(svcs, before)).length === 1);
    // cut: the stream breaks; events happen while the history cannot read them
    await proxy.close();
    const during = await fx.start({ name: 'during', script: 'exit 5' });
    await fx.waitFor('the engine to see the second die', async () => (await dieOf(services, during)).length === 1);
    proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: socket });
    await fx.waitFor('the history to read again', async () =>
      history.view().events.some((e) => e.Actor?.Attributes?.name === during && e.Action === 'die'),
    );
    // replayed events are not kept twice
    const keys = history.view().events.map((e) => `${e.timeNano}|${e.Actor?.ID}|${e.Action}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(history.view().gaps).toEqual([]);
    expect(await dieOf(svcs, before)).toHaveLength(1);

    // cut again, and this time the engine drops more than it keeps before the history reads again
    await proxy.close();
    const target = await fx.start({ name: 'flood', script: 'sleep 600' });
    await overflowEngineBuffer(target);
    const lost = history.view().lastSeen as number;
    proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: socket });
    await fx.waitFor('a gap to be recorded', async () => history.view().gaps.length === 1);
    const gap = history.view().gaps[0] as { from: number; to: number };
    expect(gap.from).toBe(lost);
    expect(gap.to).toBeGreaterThan(lost);
    const res = await call(events, { since: '10m', container: target }, svcs);
    expect(res.notes.join(' ')).toMatch(/events between \S+ and \S+ are not known: the engine's event stream was down/);
  });

  it('a stream that stalls without breaking is noticed: the lost stretch is said, and the history reads again', async () => {
    // the earlier tests' histories read through the same socket path: only this one may
    for (const h of histories) h.close();
    await proxy?.close();
    proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: socket });
    const { history, services: svcs } = withHistory(socket);
    const before = await fx.start({ name: 'stall-before', script: 'exit 2' });
    await fx.waitFor('the history to read the die', async () => (await dieOf(svcs, before)).length === 1);
    // The stream is cut, and the one the history opens next gets its headers and then nothing, like a
    // connection whose peer vanished: the history believes it is reading.
    await proxy.close();
    proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: socket });
    proxy.only = /\/events/;
    proxy.mode = { kind: 'stall-after-headers' };
    const stalledProxy = proxy;
    await fx.waitFor('the history to be connected to the stalled stream', async () => {
      return stalledProxy.faultedOpen === 1 && history.view().downSince === undefined;
    });
    const lastSeen = history.view().lastSeen as number;
    const target = await fx.start({ name: 'stall-flood', script: 'sleep 600' });
    await overflowEngineBuffer(target);
    // newer than the history's last event by more than a live stream could lag
    while (Date.now() / 1000 < lastSeen + 7) await new Promise((r) => setTimeout(r, 200));
    const during = await fx.start({ name: 'stall-during', script: 'exit 6' });
    await fx.waitFor('the engine to see the die', async () => (await dieOf(services, during)).length === 1);
    expect(history.view().events.some((e) => e.Actor?.Attributes?.name === during)).toBe(false);

    proxy.mode = { kind: 'pass' };
    const res = await call(events, { since: '10m' }, svcs);
    // the newest events come from the engine; what neither holds is said, not passed over
    expect((res.events as Ev[]).some((e) => e.name === during && e.action === 'die')).toBe(true);
    expect(res.notes.join(' ')).toMatch(
      /events between \S+ and \S+ are not known: the engine's event stream stopped delivering events without breaking/,
    );
    // and the history has read again: the gap is its own now, and the die is in it
    await fx.waitFor('the history to read again', async () =>
      history.view().events.some((e) => e.Actor?.Attributes?.name === during && e.Action === 'die'),
    );
    expect(history.view().gaps).toHaveLength(1);
    expect(history.view().gaps[0]?.from).toBe(lastSeen);
  }, 90_000);

  it('states its own bounds: container events and exec events each kept up to their limit', async () => {
    const { services: svcs } = withHistory('/var/run/docker.sock', { maxEvents: 3, maxExecEvents: 5 });
    const box = await fx.start({ name: 'bounded', script: 'sleep 600' });
    for (let i = 0; i < 3; i++) await docker(['exec', box, 'true']);
    await fx.waitFor('the exec events', async () => {
      const res = await call(events, { since: '10m', container: box, actions: ['exec_die'] }, svcs);
      return res.events.length === 3;
    });
    await overflowEngineBuffer(box, 40);
    const created = await fx.start({ name: 'bounded2', script: 'exit 0' });
    await fx.waitFor('the die', async () => (await dieOf(svcs, created)).length === 1);
    const res = await call(events, { since: '10m' }, svcs);
    const text = res.notes.join(' ');
    expect(text).toContain('at most 3 (backend.eventHistory.maxEvents)');
    expect(text).toMatch(/exec events before \S+ are not kept \(at most 5, backend.eventHistory.maxExecEvents/);
  });
});
