/**
 * Seventh round against the Docker server, from outside, through the MCP SDK client and the real engine
 * (behind a fault proxy on its socket where the engine must be slow). Each case is a defect found in this
 * round, kept as a regression test:
 * - compose_list_projects and health_get_report paged by offset: a project or container that came or went
 *   before the cursor between two pages skipped or repeated one without a word;
 * - compose_get_logs answered a container whose log trickled past the deadline as "not read", dropping the
 *   lines it had read (logs_get already answered them with the cut and a since to resume);
 * and what the key cursors that replace the offsets must withstand: cursors altered, forged or carried over
 * to another listing or tool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultRig, LOGS, startFaultRig } from '../docker/fault-rig.js';
import { DockerFixture, docker, ensureImage } from '../docker/fixture.js';
import type { ToolAnswer } from '../fixtures/fault-server.js';

const fx = new DockerFixture('attack7');
/** Compose project names of this run. */
const projectOf = (p: string) => `a7${fx.prefix.slice(-6)}-${p}`;
const GROUP = 'ravenhelm.test.attack7';
const group = (g: string) => ({ [GROUP]: `${fx.prefix}-${g}` });
const inGroup = (g: string) => [`${GROUP}=${fx.prefix}-${g}`];
/** Engine calls may take 20 s, a call 4 s: only the call's own time limit can cut a slow engine short. */
let rig: FaultRig;
let web: string;

const names = (a: ToolAnswer, field = 'containers') =>
  ((a.structured?.[field] ?? []) as { name: string }[]).map((c) => c.name);

beforeAll(async () => {
  await ensureImage();
  const compose = (p: string) => ({ 'com.docker.compose.project': projectOf(p), 'com.docker.compose.service': 'web' });
  [web] = await Promise.all([
    fx.start({
      name: 'web',
      labels: compose('logs'),
      script: 'for i in $(seq 1 200); do echo web-$i; done; sleep 600',
    }),
    ...['a', 'b', 'c'].map((p) => fx.start({ name: `proj-${p}`, labels: compose(p), script: 'sleep 600' })),
    ...['b', 'c', 'd'].map((n) => fx.start({ name: `sick-${n}`, labels: group('sick'), script: 'exit 4' })),
    ...['a', 'b', 'c'].map((n) => fx.start({ name: `other-${n}`, labels: group('other'), script: 'sleep 600' })),
  ]);
  rig = await startFaultRig('attack7');
  await fx.waitFor('the web container to log', async () => (await docker(['logs', web as string])).includes('web-200'));
  for (const n of ['b', 'c', 'd']) {
    await fx.waitFor(
      'a sick container to exit',
      async () => (await fx.inspect(fx.nameOf(`sick-${n}`))).State.Status === 'exited',
    );
  }
}, 120_000);

afterAll(async () => {
  await rig?.close();
  await fx.cleanup();
});

describe("compose_get_logs on a log that trickles past the call's time limit, while garbage is collected", () => {
  it('answers the lines read before the deadline, says the rest is missing and from when to read it', async () => {
    const a = await rig.underFault(
      LOGS,
      { kind: 'trickle', bytes: 20, everyMs: 100, bodyOnly: true },
      'compose_get_logs',
      {
        project: projectOf('logs'),
        tail: 200,
      },
    );
    console.log(`compose_get_logs, trickle: ${a.ms} ms: ${a.text.slice(0, 300)}`);
    expect(a.isError, a.text).toBe(false);
    expect(a.ms).toBeLessThan(4000);
    const out = a.structured as { text: string; truncated: boolean; notes: string[] };
    expect(out.text).toMatch(/^web \| web-1\n/);
    expect(out.text).not.toContain('web-200');
    expect(out.truncated).toBe(true);
    const notes = out.notes.join(' ');
    expect(notes).not.toMatch(/not read before/);
    expect(notes).toMatch(/read only in part: .*read them with logs_get container "[^"]+" since "\d{4}-/);
    // the since named gives the rest, nothing skipped
    const since = /since "([^"]+)"/.exec(notes)?.[1] as string;
    const rest = await rig.calls.call('logs_get', { container: web, tail: 200, since });
    const last = Number(/web-(\d+)\n$/.exec(out.text)?.[1]);
    expect((rest.structured as { text: string }).text).toContain(`web-${last + 1}\n`);
    expect((rest.structured as { text: string }).text).toMatch(/web-200\n$/);
    await rig.proxy.drained(3000);
  }, 30_000);
});

describe('lists that change between two pages', () => {
  it('compose_list_projects: a project gone before the cursor skips none after it, and the page says so', async () => {
    const mine = (a: ToolAnswer) =>
      ((a.structured?.projects ?? []) as { project: string }[])
        .map((p) => p.project)
        .filter((p) => p.startsWith(projectOf('')));
    // the first page ends at project b (other runs' projects may come and go: a few tries)
    let first: ToolAnswer | undefined;
    for (let i = 0; i < 5 && !first; i++) {
      const all = await rig.calls.call('compose_list_projects', { limit: 200 });
      const at = ((all.structured?.projects ?? []) as { project: string }[]).findIndex(
        (p) => p.project === projectOf('b'),
      );
      const page = await rig.calls.call('compose_list_projects', { limit: at + 1 });
      if (mine(page).at(-1) === projectOf('b')) first = page;
    }
    if (!first) throw new Error('no first page ending at project b');
    await docker(['rm', '-f', fx.nameOf('proj-a')]);
    const next = await rig.calls.call('compose_list_projects', { limit: 200, cursor: first.structured?.nextCursor });
    expect(next.isError, next.text).toBe(false);
    expect(mine(next)).toEqual(expect.arrayContaining([projectOf('c'), projectOf('logs')]));
    expect(mine(next)).not.toContain(projectOf('b'));
    expect(next.structured?.note).toMatch(/The project list changed since the previous page/);
  }, 30_000);

  it('health_get_report: a container that fails before the cursor repeats none, and the page says so', async () => {
    const labels = inGroup('sick');
    const first = await rig.calls.call('health_get_report', { labels, limit: 2 });
    expect(names(first)).toEqual([fx.nameOf('sick-b'), fx.nameOf('sick-c')]);
    const a = await fx.start({ name: 'sick-a', labels: group('sick'), script: 'exit 4' });
    await fx.waitFor('sick-a to exit', async () => (await fx.inspect(a)).State.Status === 'exited');
    const next = await rig.calls.call('health_get_report', { labels, limit: 2, cursor: first.structured?.nextCursor });
    expect(names(next), next.text).toEqual([fx.nameOf('sick-d')]);
    expect(next.structured?.note).toMatch(/The problem list changed/);
  }, 30_000);
});

describe('cursors altered, forged or carried elsewhere', () => {
  const refused = (a: ToolAnswer, tool: string) => {
    expect(a.isError).toBe(true);
    expect(a.text).toMatch(new RegExp(`^ERR_INVALID_INPUT: cursor .*${tool}.*omit it to start from the first page`));
  };

  it('a cursor whose key part is rewritten still lists only what the filters select', async () => {
    const labels = inGroup('other');
    const first = await rig.calls.call('containers_list', { labels, limit: 1 });
    const raw = Buffer.from(first.structured?.nextCursor as string, 'base64url');
    // keep version, bind and digests (17 bytes); point the key at the very start, and past the end
    for (const head of ['', '\u0000', 'rh-', '~~~~', 'a'.repeat(31)]) {
      const forged = Buffer.concat([raw.subarray(0, 17), Buffer.from(head)]).toString('base64url');
      const page = await rig.calls.call('containers_list', { labels, limit: 10, cursor: forged });
      expect(page.isError, page.text).toBe(false);
      for (const n of names(page)) expect(n.startsWith(fx.nameOf('other-'))).toBe(true);
    }
  }, 30_000);

  it('malformed, oversize, old keyset and another tool’s cursors are refused without being echoed', async () => {
    const marker = 'Zq9Xw7Marker';
    for (const cursor of [`k:abc:${marker}`, `${marker}!!`, `${marker}/../..`, `A${marker}`.padEnd(64, 'A')]) {
      const a = await rig.calls.call('containers_list', { cursor });
      refused(a, 'containers_list');
      expect(a.text).not.toContain(marker);
    }
    const list = await rig.calls.call('containers_list', { labels: inGroup('other'), limit: 1 });
    refused(
      await rig.calls.call('health_get_report', { labels: inGroup('other'), cursor: list.structured?.nextCursor }),
      'health_get_report',
    );
    refused(
      await rig.calls.call('compose_list_projects', { cursor: list.structured?.nextCursor }),
      'compose_list_projects',
    );
    // the same tool with other filters
    refused(
      await rig.calls.call('containers_list', { labels: inGroup('sick'), cursor: list.structured?.nextCursor }),
      'containers_list',
    );
    const sick = await rig.calls.call('health_get_report', { labels: inGroup('sick'), limit: 1 });
    refused(
      await rig.calls.call('health_get_report', { labels: inGroup('other'), cursor: sick.structured?.nextCursor }),
      'health_get_report',
    );
  }, 30_000);
});
