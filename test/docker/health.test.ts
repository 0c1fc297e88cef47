import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage, RUN_LABEL } from './fixture.js';
import { call, callError, makeServices, tool } from './harness.js';

const fx = new DockerFixture('health');
const services = makeServices();
const names: Record<string, string> = {};

beforeAll(async () => {
  await ensureImage();
  const started = await Promise.all([
    fx.start({ name: 'ok', script: 'sleep 600', health: { cmd: 'true' } }),
    fx.start({ name: 'sick', script: 'sleep 600', health: { cmd: 'echo db unreachable; false' } }),
    fx.start({ name: 'crashed', script: 'exit 2' }),
    fx.start({ name: 'finished', script: 'exit 0' }),
    fx.start({ name: 'looping', script: 'echo crash; exit 1', restart: 'always' }),
    fx.start({ name: 'oom', script: 'sleep 0.5; tail /dev/zero', memory: '8m' }),
  ]);
  for (const n of started) names[n.slice(fx.prefix.length + 1)] = n;
  await Promise.all([
    fx.waitForHealth(names.ok as string, 'healthy'),
    fx.waitForHealth(names.sick as string, 'unhealthy'),
  ]);
  await fx.waitFor(
    'the looping container to restart',
    async () => (await fx.inspect(names.looping as string)).RestartCount >= 1,
  );
  await fx.waitForOomKill(names.oom as string);
});

afterAll(async () => {
  await fx.cleanup();
});

describe('health_get_report', () => {
  it('finds the unhealthy, restarting, exited non-zero and OOM-killed containers, with counts', async () => {
    // The looping container alternates between restarting and running: wait until the engine shows it restarting.
    let res: Awaited<ReturnType<typeof call>> | undefined;
    await fx.waitFor('a report that sees the restart loop', async () => {
      res = await call(tool('health_get_report'), { labels: [`${RUN_LABEL}=${fx.prefix}`] }, services);
      return res.counts.restarting === 1;
    });
    if (!res) throw new Error('no report');
    const problems = Object.fromEntries(res.containers.map((c: { name: string; problems: string[] }) => [c.name, c]));
    expect(res.ok).toBe(false);
    expect(res.inspected).toBe(6);
    expect(res.counts).toMatchObject({
      healthy: 1,
      unhealthy: 1,
      restarting: 1,
      exitedNonZero: 2,
      exitedZero: 1,
      oomKilled: 1,
    });
    expect(Object.keys(problems).sort()).toEqual([names.crashed, names.looping, names.oom, names.sick].sort());
    expect(problems[names.sick as string]).toMatchObject({
      problems: ['unhealthy'],
      health: 'unhealthy',
      lastHealthOutput: 'db unreachable',
    });
    expect(problems[names.crashed as string]).toMatchObject({ problems: ['exited_nonzero'], exitCode: 2 });
    expect(problems[names.oom as string].problems).toEqual(['exited_nonzero', 'oom_killed']);
    expect(problems[names.oom as string].exitCode).toBe(137);
    expect(problems[names.looping as string].problems).toContain('restarting');
    // worst first: OOM-killed outranks a plain non-zero exit
    const order = res.containers.map((c: { name: string }) => c.name);
    expect(order.indexOf(names.oom)).toBeLessThan(order.indexOf(names.crashed));
  });

  it('pages the problem list', async () => {
    const res = await call(tool('health_get_report'), { labels: [`${RUN_LABEL}=${fx.prefix}`], limit: 1 }, services);
    expect(res).toMatchObject({ returned: 1, truncated: true, total: 4 });
    const next = await call(
      tool('health_get_report'),
      { labels: [`${RUN_LABEL}=${fx.prefix}`], limit: 10, cursor: res.nextCursor },
      services,
    );
    expect(next.returned).toBe(3);
    expect(next.containers.map((c: { name: string }) => c.name)).not.toContain(res.containers[0].name);
  });

  it('reports ok for a selection without problems', async () => {
    const res = await call(
      tool('health_get_report'),
      { labels: [`${RUN_LABEL}=${fx.prefix}`, 'no.such.label'] },
      services,
    );
    expect(res).toMatchObject({ ok: true, inspected: 0, containers: [] });
  });

  it('refuses a malformed label filter', async () => {
    const err = await callError(tool('health_get_report'), { labels: ['=oops'] }, services);
    expect(err.code).toBe('ERR_INVALID_INPUT');
  });

  it('a cleanly stopped container with a healthcheck is no health problem (the engine shows it "unhealthy")', async () => {
    const stopped = await fx.start({
      name: 'stopped',
      script: "trap 'exit 0' TERM; while true; do sleep 0.2; done",
      health: { cmd: 'true' },
      labels: { 'rh.case': 'stopped' },
    });
    await fx.waitForHealth(stopped, 'healthy');
    await docker(['stop', '-t', '10', stopped]);
    // what the engine says: exited 0, health "unhealthy", no failed check
    const state = (await fx.inspect(stopped)).State;
    expect(state).toMatchObject({ Status: 'exited', ExitCode: 0, Health: { Status: 'unhealthy', FailingStreak: 0 } });
    const res = await call(
      tool('health_get_report'),
      { labels: [`${RUN_LABEL}=${fx.prefix}`, 'rh.case=stopped'] },
      services,
    );
    expect(res).toMatchObject({ ok: true, inspected: 1, containers: [] });
    expect(res.counts).toMatchObject({ unhealthy: 0, exitedZero: 1 });
    const diag = await call(tool('containers_diagnose'), { container: stopped }, services);
    expect(diag.findings.join(' ')).not.toContain('healthcheck failing');
    expect(diag.findings).toContain(
      'health shows unhealthy only because it is stopped (the engine marks every stopped container so); its last health checks passed',
    );
  });

  it('a crash loop caught between exits (running) is restarting, not ok; diagnose says the engine keeps restarting it', async () => {
    // moby restartmanager/restartmanager.go: a restart waits 100 ms, doubling up to a minute, reset only after a
    // 10 s run; between exits the engine shows the container "running" (RestartCount counts the restarts).
    const loop = await fx.start({
      name: 'loop-running',
      script: 'echo boot; sleep 3; echo crash >&2; exit 1',
      restart: 'always',
      labels: { 'rh.case': 'loop-running' },
    });
    await fx.waitFor('the loop to be running again after two restarts', async () => {
      const i = await fx.inspect(loop);
      return (
        i.RestartCount >= 2 &&
        i.State.Running &&
        !i.State.Restarting &&
        Date.now() - Date.parse(i.State.StartedAt) < 1500
      );
    });
    const [res, diag] = await Promise.all([
      call(tool('health_get_report'), { labels: [`${RUN_LABEL}=${fx.prefix}`, 'rh.case=loop-running'] }, services),
      call(tool('containers_diagnose'), { container: loop }, services),
    ]);
    expect(res.containers[0]).toMatchObject({ name: loop, state: 'running' });
    expect(res.containers[0].problems).toContain('restarting');
    expect(res.ok).toBe(false);
    expect(res.counts.restarting).toBe(1);
    expect(diag.container.state).toBe('running');
    expect(diag.findings.join(' ')).toMatch(
      /the engine keeps restarting it: restarted \d+ times by its restart policy, the last exit \d+ s ago/,
    );
  }, 60_000);

  it('diagnose reports the OOM kill', async () => {
    const res = await call(tool('containers_diagnose'), { container: names.oom }, services);
    expect(res.container.oomKilled).toBe(true);
    expect(res.findings[0]).toMatch(/out of memory/);
  });
});
