/**
 * `docker compose run` containers (label com.docker.compose.oneoff=True) carry their service's labels but
 * are no replicas of it: Compose's ps, start, stop and restart leave them out (oneOffExclude).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';
import { call, makeServices, tool } from './harness.js';

const fx = new DockerFixture('oneoff');
const project = `oneoff-${fx.prefix.slice(-6)}`;
const services = makeServices();
const labels = (service: string, oneoff: 'True' | 'False') => ({
  'com.docker.compose.project': project,
  'com.docker.compose.service': service,
  'com.docker.compose.oneoff': oneoff,
});
let web: string;
let migrate: string;

beforeAll(async () => {
  await ensureImage();
  [web, migrate] = await Promise.all([
    fx.start({ name: 'web', labels: labels('web', 'False'), script: 'sleep 600' }),
    // what `docker compose run web migrate` leaves behind: a finished run of the web service
    fx.start({ name: 'web-run-1', labels: labels('web', 'True'), script: 'echo migrated; exit 0' }),
  ]);
  await fx.waitFor(`${migrate} to exit`, async () => (await fx.inspect(migrate)).State.Status === 'exited');
});

afterAll(async () => {
  await fx.cleanup();
});

describe('one-off compose run containers', () => {
  it('compose_get_status lists a finished run apart from its service, which stays ok', async () => {
    const res = await call(tool('compose_get_status'), { project }, services);
    expect(res.ok).toBe(true);
    expect(
      res.services.map((s: { service: string; running: number; total: number }) => [s.service, s.running, s.total]),
    ).toEqual([
      ['web', 1, 1],
      ['web (one-off run)', 0, 1],
    ]);
    expect(res.services[1].containers[0]).toMatchObject({ name: migrate, state: 'exited' });
  });

  it('compose_start does not run a finished one-off again, and says it left it alone', async () => {
    const res = await call(tool('compose_start'), { project, waitSeconds: 5 }, services);
    expect(res.counts.total).toBe(1);
    expect(res.containers.map((r: { name: string }) => r.name)).toEqual([web]);
    expect(res.message).toContain(
      `1 one-off container(s) of docker compose run left as they are, not started (${migrate})`,
    );
    const after = await fx.inspect(migrate);
    expect(after.State.Status).toBe('exited');
    // run once, as compose run ran it: a second run would have logged twice
    expect((await call(tool('logs_get'), { container: migrate }, services)).text).toBe('migrated\n');
  });
});
