/**
 * containers_list, compose_list_projects and health_get_report page by key on the real engine: a container
 * or project that comes or goes before the cursor between two pages neither skips nor repeats one, and the
 * next page says the list changed. A cursor is bound to the filters it was issued for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage } from './fixture.js';
import { call, callError, makeServices, type Result, tool } from './harness.js';

const fx = new DockerFixture('kpage');
const services = makeServices();
/** A label only this file's containers carry, per group. */
const GROUP = 'ravenhelm.test.kpage';
const group = (g: string) => ({ [GROUP]: `${fx.prefix}-${g}` });
const inGroup = (g: string) => [`${GROUP}=${fx.prefix}-${g}`];
/** Compose project names of this run (lowercase, as compose makes them). */
const projectOf = (p: string) => `kp${fx.prefix.slice(-6)}-${p}`;

const exited = (name: string) =>
  fx.waitFor(`${name} to exit`, async () => (await fx.inspect(name)).State.Status === 'exited');

beforeAll(async () => {
  await ensureImage();
  await Promise.all([
    ...['b', 'c', 'd', 'e'].map((n) => fx.start({ name: `list-${n}`, labels: group('list'), script: 'sleep 600' })),
    ...['b', 'c', 'd', 'e'].map((n) => fx.start({ name: `sick-${n}`, labels: group('sick'), script: 'exit 3' })),
    ...['a', 'b', 'c', 'd'].map((p) =>
      fx.start({
        name: `proj-${p}`,
        labels: { 'com.docker.compose.project': projectOf(p), 'com.docker.compose.service': 'app' },
        script: 'sleep 600',
      }),
    ),
  ]);
  for (const n of ['b', 'c', 'd', 'e']) await exited(fx.nameOf(`sick-${n}`));
}, 120_000);

afterAll(async () => {
  await fx.cleanup();
});

const names = (rows: { name: string }[]) => rows.map((r) => r.name);

describe('containers_list', () => {
  it('a container removed and one added before the cursor: the next page goes on after the last shown, and says the list changed', async () => {
    const labels = inGroup('list');
    const p1 = await call(tool('containers_list'), { labels, limit: 2 }, services);
    expect(names(p1.containers)).toEqual([fx.nameOf('list-b'), fx.nameOf('list-c')]);
    expect(p1.note).toBeUndefined();
    await docker(['rm', '-f', fx.nameOf('list-b')]);
    await fx.start({ name: 'list-a', labels: group('list'), script: 'sleep 600' });
    const p2 = await call(tool('containers_list'), { labels, limit: 2, cursor: p1.nextCursor }, services);
    expect(names(p2.containers)).toEqual([fx.nameOf('list-d'), fx.nameOf('list-e')]);
    expect(p2).toMatchObject({ total: 4, truncated: false });
    expect(p2.note).toMatch(/^The container list changed since the previous page/);
    // unchanged since: no note
    const again = await call(tool('containers_list'), { labels, limit: 2, cursor: p1.nextCursor }, services);
    expect(names(again.containers)).toEqual([fx.nameOf('list-d'), fx.nameOf('list-e')]);
    const p1now = await call(tool('containers_list'), { labels, limit: 2 }, services);
    const p2now = await call(tool('containers_list'), { labels, limit: 2, cursor: p1now.nextCursor }, services);
    expect(p2now.note).toBeUndefined();
  });

  it('a cursor is refused with other filters', async () => {
    const p1 = await call(tool('containers_list'), { labels: inGroup('list'), limit: 1 }, services);
    const err = await callError(
      tool('containers_list'),
      { labels: inGroup('sick'), limit: 1, cursor: p1.nextCursor },
      services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/containers_list.*omit it to start from the first page/);
  });
});

describe('health_get_report', () => {
  it('a problem container added before the cursor: none repeated or skipped, the change said', async () => {
    const labels = inGroup('sick');
    const p1 = await call(tool('health_get_report'), { labels, limit: 2 }, services);
    expect(names(p1.containers)).toEqual([fx.nameOf('sick-b'), fx.nameOf('sick-c')]);
    expect(p1.note).toBeUndefined();
    const added = await fx.start({ name: 'sick-a', labels: group('sick'), script: 'exit 3' });
    await exited(added);
    const p2 = await call(tool('health_get_report'), { labels, limit: 2, cursor: p1.nextCursor }, services);
    expect(names(p2.containers)).toEqual([fx.nameOf('sick-d'), fx.nameOf('sick-e')]);
    expect(p2).toMatchObject({ total: 5, truncated: false });
    expect(p2.note).toMatch(/^The problem list changed since the previous page/);
  });

  it('a cursor is refused with other filters', async () => {
    const p1 = await call(tool('health_get_report'), { labels: inGroup('sick'), limit: 1 }, services);
    const err = await callError(
      tool('health_get_report'),
      { labels: inGroup('list'), limit: 1, cursor: p1.nextCursor },
      services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/health_get_report.*omit it to start from the first page/);
  });
});

describe('compose_list_projects', () => {
  /** Every project on the engine (other runs' too), in the order the tool pages them. */
  async function allProjects(): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 50; i++) {
      const res: Result = await call(
        tool('compose_list_projects'),
        { limit: 200, ...(cursor ? { cursor } : {}) },
        services,
      );
      seen.push(...res.projects.map((p: { project: string }) => p.project));
      if (!res.truncated) break;
      cursor = res.nextCursor;
    }
    return seen;
  }

  it('a project removed before the cursor: the next page starts right after the last shown, and says the list changed', async () => {
    // page 1 ends at project b (other runs' projects may come and go meanwhile: a few tries)
    let p1: Result | undefined;
    for (let i = 0; i < 5 && !p1; i++) {
      const limit = (await allProjects()).indexOf(projectOf('b')) + 1;
      const page = await call(tool('compose_list_projects'), { limit }, services);
      if (page.projects.at(-1)?.project === projectOf('b')) p1 = page;
    }
    if (!p1) throw new Error('no first page ending at project b');
    await docker(['rm', '-f', fx.nameOf('proj-a')]);
    const mine: string[] = [];
    const notes: string[] = [];
    let cursor = p1.nextCursor as string;
    for (let i = 0; i < 50; i++) {
      const res: Result = await call(tool('compose_list_projects'), { limit: 200, cursor }, services);
      mine.push(
        ...res.projects.map((p: { project: string }) => p.project).filter((p: string) => p.startsWith(projectOf(''))),
      );
      if (res.note) notes.push(res.note);
      if (!res.truncated) break;
      cursor = res.nextCursor;
    }
    expect(mine).toEqual([projectOf('c'), projectOf('d')]);
    expect(notes[0]).toMatch(/The project list changed since the previous page/);
  });
});
