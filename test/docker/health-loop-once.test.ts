/**
 * health_get_report decides once per container whether it is in a restart loop (restartLoopOf): read twice,
 * a loop's last exit could pass the one-minute mark between the count and the container's row.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DockerFixture, ensureImage, RUN_LABEL } from './fixture.js';
import { call, makeServices, tool } from './harness.js';

const seen = vi.hoisted(() => ({ calls: 0 }));
vi.mock('../../servers/docker/src/state.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../servers/docker/src/state.js')>();
  return {
    ...real,
    restartLoopOf: (...args: Parameters<typeof real.restartLoopOf>) => {
      seen.calls++;
      return real.restartLoopOf(...args);
    },
  };
});

const fx = new DockerFixture('hloop');
const services = makeServices();

beforeAll(async () => {
  await ensureImage();
  const [loop] = await Promise.all([
    fx.start({ name: 'loop', script: 'exit 1', restart: 'always' }),
    fx.start({ name: 'calm', script: 'sleep 600' }),
  ]);
  await fx.waitFor('the loop to restart', async () => (await fx.inspect(loop as string)).RestartCount >= 1);
});

afterAll(async () => {
  await fx.cleanup();
});

describe('health_get_report restart loops', () => {
  it('reads each container once for both its problems and the counts', async () => {
    seen.calls = 0;
    const res = await call(tool('health_get_report'), { labels: [`${RUN_LABEL}=${fx.prefix}`] }, services);
    expect(res.inspected).toBe(2);
    expect(seen.calls).toBe(2);
    const looping = res.containers.filter((c: { problems: string[] }) => c.problems.includes('restarting'));
    expect(res.counts.restarting).toBe(looping.length);
  });
});
