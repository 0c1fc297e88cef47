import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage, TEST_IMAGE } from './fixture.js';
import { call, callError, makeServices, tool } from './harness.js';

const fx = new DockerFixture('ctr');
const services = makeServices();
let healthy: string;
let unhealthy: string;
let exited: string;
let plain: string;

beforeAll(async () => {
  await ensureImage();
  [healthy, unhealthy, exited, plain] = await Promise.all([
    fx.start({
      name: 'healthy',
      script: 'echo started; sleep 600',
      health: { cmd: 'true' },
      labels: { tier: 'front' },
    }),
    fx.start({
      name: 'unhealthy',
      script: 'sleep 600',
      health: { cmd: 'echo probe-failed-here; false' },
      labels: { tier: 'back' },
    }),
    fx.start({ name: 'exited', script: 'echo booting; echo "fatal: config missing" >&2; exit 3' }),
    fx.start({ name: 'plain', script: 'sleep 600', memory: '64m' }),
  ]);
  await Promise.all([fx.waitForHealth(healthy, 'healthy'), fx.waitForHealth(unhealthy, 'unhealthy')]);
});

afterAll(async () => {
  await fx.cleanup();
});

describe('containers_list', () => {
  it("lists this run's containers with state and health, filtered by name", async () => {
    const res = await call(tool('containers_list'), { name: fx.prefix }, services);
    const byName = Object.fromEntries(res.containers.map((c: { name: string }) => [c.name, c]));
    expect(Object.keys(byName).sort()).toEqual([exited, healthy, plain, unhealthy].sort());
    expect(byName[healthy]).toMatchObject({ state: 'running', health: 'healthy', image: TEST_IMAGE });
    expect(byName[unhealthy]).toMatchObject({ state: 'running', health: 'unhealthy' });
    expect(byName[exited]).toMatchObject({ state: 'exited', health: 'none' });
    expect(byName[exited].status).toMatch(/Exited \(3\)/);
    expect(res).toMatchObject({ total: 4, returned: 4, truncated: false });
    // The engine's command (`sh -c <script>`, as docker ps shows it) and ports (none: --network none).
    expect(byName[healthy]).toMatchObject({ command: "sh -c 'echo started; sleep 600'", ports: [] });
    // Longer than 60 characters: cut, and the cut is marked.
    const full = `sh -c 'echo booting; echo "fatal: config missing" >&2; exit 3'`;
    expect(byName[exited].command).toBe(`${full.slice(0, 59)}…`);
  });

  it('filters by label, status and health', async () => {
    const byLabel = await call(tool('containers_list'), { name: fx.prefix, labels: ['tier=back'] }, services);
    expect(byLabel.containers.map((c: { name: string }) => c.name)).toEqual([unhealthy]);
    const byStatus = await call(tool('containers_list'), { name: fx.prefix, status: ['exited'] }, services);
    expect(byStatus.containers.map((c: { name: string }) => c.name)).toEqual([exited]);
    const byHealth = await call(tool('containers_list'), { name: fx.prefix, health: 'healthy' }, services);
    expect(byHealth.containers.map((c: { name: string }) => c.name)).toEqual([healthy]);
  });

  it('pages with limit and nextCursor until every container was seen once', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await call(
        tool('containers_list'),
        { name: fx.prefix, limit: 3, ...(cursor ? { cursor } : {}) },
        services,
      );
      seen.push(...page.containers.map((c: { name: string }) => c.name));
      expect(page.total).toBe(4);
      cursor = page.nextCursor;
      if (!page.truncated) break;
      expect(cursor).toBeTruthy();
    }
    expect(seen.sort()).toEqual([exited, healthy, plain, unhealthy].sort());
  });

  it('refuses bad filter input with ERR_INVALID_INPUT', async () => {
    expect((await callError(tool('containers_list'), { name: 'a b' }, services)).code).toBe('ERR_INVALID_INPUT');
    expect((await callError(tool('containers_list'), { status: ['sleeping'] }, services)).code).toBe(
      'ERR_INVALID_INPUT',
    );
    expect((await callError(tool('containers_list'), { limit: 0 }, services)).code).toBe('ERR_INVALID_INPUT');
  });
});

describe('containers_diagnose', () => {
  it('shows the exit code and the error log lines of an exited container', async () => {
    const res = await call(tool('containers_diagnose'), { container: exited }, services);
    expect(res.container).toMatchObject({
      name: exited,
      state: 'exited',
      running: false,
      exitCode: 3,
      oomKilled: false,
    });
    expect(res.container.finishedAt).toMatch(/^\d{4}-/);
    expect(res.errorLog.lines).toEqual([{ stream: 'stderr', text: 'fatal: config missing' }]);
    expect(res.health).toBeNull();
    expect(res.findings.join('\n')).toMatch(/exited with code 3/);
  });

  it('shows the failing health status and the last health check output', async () => {
    const res = await call(tool('containers_diagnose'), { container: unhealthy, healthChecks: 2 }, services);
    expect(res.health.status).toBe('unhealthy');
    expect(res.health.failingStreak).toBeGreaterThanOrEqual(1);
    expect(res.health.lastChecks.length).toBeGreaterThanOrEqual(1);
    expect(res.health.lastChecks.length).toBeLessThanOrEqual(2);
    expect(res.health.lastChecks.at(-1)).toMatchObject({ exitCode: 1, output: 'probe-failed-here' });
    expect(res.findings.join('\n')).toMatch(/healthcheck failing/);
  });

  it('finds nothing wrong with a healthy container', async () => {
    const res = await call(tool('containers_diagnose'), { container: healthy }, services);
    expect(res.container).toMatchObject({ running: true, health: 'healthy', exitCode: null });
    expect(res.findings).toEqual([]);
  });

  it('accepts a container id as well as a name', async () => {
    const id = (await fx.inspect(exited)).Id;
    const res = await call(tool('containers_diagnose'), { container: id.slice(0, 12) }, services);
    expect(res.container.name).toBe(exited);
  });

  it('an unknown container is ERR_NOT_FOUND naming it', async () => {
    const err = await callError(tool('containers_diagnose'), { container: `${fx.prefix}-nope` }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toContain(`${fx.prefix}-nope`);
  });

  it('a malformed reference is ERR_INVALID_INPUT saying what is allowed', async () => {
    for (const container of ['../etc', 'a/b', '', 'x'.repeat(200), 'name with space']) {
      const err = await callError(tool('containers_diagnose'), { container }, services);
      expect(err.code).toBe('ERR_INVALID_INPUT');
      expect(err.message).toMatch(/container/);
    }
  });
});

describe('containers_get_stats', () => {
  it('returns CPU and memory numbers for a running container', async () => {
    const res = await call(tool('containers_get_stats'), { container: plain }, services);
    expect(res.running).toBe(true);
    expect(typeof res.cpuPercent).toBe('number');
    expect(res.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(res.memoryUsageBytes).toBeGreaterThan(0);
    expect(res.memoryLimitBytes).toBe(64 * 1024 * 1024); // the container's own limit
    expect(res.memoryPercent).toBeCloseTo((res.memoryUsageBytes / res.memoryLimitBytes) * 100, 1);
    expect(res.memoryPercent).toBeGreaterThan(0);
    expect(res.memoryPercent).toBeLessThan(100);
  });

  it('reports a stopped container as not running with null numbers', async () => {
    const res = await call(tool('containers_get_stats'), { container: exited }, services);
    expect(res).toMatchObject({ running: false, cpuPercent: null, memoryUsageBytes: null });
  });
});

describe('lifecycle', () => {
  it('containers_restart really restarts (StartedAt moves) and waits until healthy', async () => {
    const before = (await fx.inspect(healthy)).State.StartedAt;
    const res = await call(
      tool('containers_restart'),
      { container: healthy, stopTimeoutSeconds: 1, waitSeconds: 20 },
      services,
    );
    const after = await fx.inspect(healthy);
    expect(after.State.StartedAt).not.toBe(before);
    expect(after.State.Health?.Status).toBe('healthy');
    expect(res).toMatchObject({ action: 'restart', changed: true, target: 'healthy', reached: true });
    expect(res.container).toMatchObject({
      name: healthy,
      running: true,
      health: 'healthy',
      startedAt: after.State.StartedAt,
    });
    expect(res.budget).toMatchObject({ used: 1, remaining: 2, maxRestarts: 3 });
  });

  it('containers_stop stops it, and stopping again changes nothing', async () => {
    const res = await call(tool('containers_stop'), { container: plain, stopTimeoutSeconds: 2 }, services);
    expect((await fx.inspect(plain)).State.Running).toBe(false);
    expect(res).toMatchObject({ action: 'stop', changed: true, target: 'stopped', reached: true });
    expect(res.container.running).toBe(false);
    const again = await call(tool('containers_stop'), { container: plain }, services);
    expect(again).toMatchObject({ changed: false, reached: true });
  });

  it('containers_start starts the stopped container and waits until running', async () => {
    const res = await call(tool('containers_start'), { container: plain, waitSeconds: 10 }, services);
    expect((await fx.inspect(plain)).State.Running).toBe(true);
    expect(res).toMatchObject({ action: 'start', changed: true, target: 'running', reached: true });
  });

  it('starting a container whose process exits at once reports it exited, not a success', async () => {
    const res = await call(tool('containers_start'), { container: exited, waitSeconds: 10 }, services);
    expect(res.reached).toBe(false);
    expect(res.container).toMatchObject({ running: false, exitCode: 3 });
    expect(res.message).toMatch(/exited .* code 3/);
  });

  it('the restart budget refuses after N restarts of the same container and asks for a human', async () => {
    const tight = makeServices({ maxRestarts: 2, windowSeconds: 600 });
    const args = { container: plain, stopTimeoutSeconds: 0, waitSeconds: 10 };
    await call(tool('containers_restart'), args, tight);
    await call(tool('containers_restart'), args, tight);
    const startedBefore = (await fx.inspect(plain)).State.StartedAt;
    const err = await callError(tool('containers_restart'), args, tight);
    expect(err.code).toBe('ERR_RESTART_BUDGET');
    expect(err.message).toMatch(/escalate to a human/);
    expect(err.message).toContain(plain);
    // refused means nothing happened
    expect((await fx.inspect(plain)).State.StartedAt).toBe(startedBefore);
    // another container still has its own budget
    await expect(
      call(tool('containers_restart'), { ...args, container: unhealthy, waitSeconds: 0 }, tight),
    ).resolves.toMatchObject({ changed: true });
  });

  it('lifecycle on an unknown container is ERR_NOT_FOUND', async () => {
    const err = await callError(tool('containers_restart'), { container: `${fx.prefix}-ghost` }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toContain(`${fx.prefix}-ghost`);
  });
});
