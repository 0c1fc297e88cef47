import { DockerBackend } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage, RUN_LABEL, TEST_IMAGE, TEST_LABEL } from './fixture.js';
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

  it('a name filter with a dot matches the dot only (the engine reads the filter as a regular expression)', async () => {
    // created, never started, and removed here: the other tests list exactly the four containers above
    const [dotted, lookalike] = [fx.nameOf('v1.0'), fx.nameOf('v1x0')];
    const labels = ['--label', `${TEST_LABEL}=1`, '--label', `${RUN_LABEL}=${fx.prefix}`];
    for (const name of [dotted, lookalike])
      await docker(['create', '--network', 'none', '--name', name, ...labels, TEST_IMAGE, 'true']);
    try {
      const res = await call(tool('containers_list'), { name: dotted }, services);
      expect(res.containers.map((c: { name: string }) => c.name)).toEqual([dotted]);
    } finally {
      await docker(['rm', '-f', dotted, lookalike]);
    }
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
    expect(res).toMatchObject({ state: 'exited', running: false, cpuPercent: null, memoryUsageBytes: null });
  });

  it('shows a paused container as paused, not running (the engine keeps State.Running true), with its memory', async () => {
    const frozen = await fx.start({ name: 'frozen', script: 'sleep 600' });
    await docker(['pause', frozen]);
    const state = (await fx.inspect(frozen)).State as { Running: boolean; Paused?: boolean };
    expect(state).toMatchObject({ Running: true, Paused: true });
    const res = await call(tool('containers_get_stats'), { container: frozen }, services);
    expect(res).toMatchObject({ name: frozen, state: 'paused', running: false });
    // its frozen processes still hold their memory
    expect(res.memoryUsageBytes).toBeGreaterThan(0);
  });

  it('a container that stops between the inspect and the sample is reported stopped, not running with zeros', async () => {
    const brief = await fx.start({ name: 'brief', script: 'sleep 600' });
    // The engine answers stats of a stopped container with zeros read at year 1: stop it just before the sample.
    class StopsFirst extends DockerBackend {
      override async stats(ref: string, signal?: AbortSignal) {
        await docker(['kill', brief]);
        return super.stats(ref, signal);
      }
    }
    const racing = { ...services, docker: new StopsFirst({ socketPath: '/var/run/docker.sock', timeoutMs: 10_000 }) };
    const res = await call(tool('containers_get_stats'), { container: brief }, racing);
    expect(res).toMatchObject({ name: brief, state: 'exited', running: false, cpuPercent: null, sampledAt: null });
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

  it('start and restart of a crash-looping container (restart policy) say the engine keeps restarting it, not a success', async () => {
    // moby restartmanager/restartmanager.go: each exit is answered by a restart after a growing wait (the state
    // is "restarting" meanwhile, with State.Running still true, so the engine treats a start as a no-op).
    const loop = await fx.start({ name: 'crashloop', script: 'exit 1', restart: 'unless-stopped' });
    await fx.waitFor('the crash loop to be in its backoff', async () => {
      const i = await fx.inspect(loop);
      return i.State.Restarting && i.RestartCount >= 3;
    });
    const started = await call(tool('containers_start'), { container: loop, waitSeconds: 3 }, services);
    expect(started).toMatchObject({ changed: false, reached: false });
    expect(started.message).toMatch(
      /keeps exiting and the engine's restart policy starts it again \(restart count \d+/,
    );
    expect(started.message).toContain('the start was not sent');
    expect(started.message).not.toContain('already running');
    const restarted = await call(tool('containers_restart'), { container: loop, waitSeconds: 3 }, services);
    expect(restarted).toMatchObject({ changed: true, reached: false });
    expect(restarted.message).toMatch(/(keeps exiting|exited) and the engine's restart policy starts it again/);
    // Ends the loop for the rest of the file. Not `docker update --restart no`: the engine updates the running
    // process, and one that has just exited (State.Running is still true until the engine has handled the exit)
    // fails it with "cannot update a stopped container" (seen under load on 2 cores). A forced remove works
    // in every state of the loop.
    await docker(['rm', '-f', loop]);
  }, 60_000);

  it('a stop of a restart-policy "always" container says the engine starts it again when the daemon restarts', async () => {
    const always = await fx.start({ name: 'always', script: 'sleep 600', restart: 'always' });
    const res = await call(tool('containers_stop'), { container: always, stopTimeoutSeconds: 0 }, services);
    expect(res).toMatchObject({ changed: true, reached: true, container: { running: false } });
    expect(res.message).toContain(
      'its restart policy is "always", so the engine starts it again when the Docker daemon restarts',
    );
    const other = await fx.start({ name: 'unless', script: 'sleep 600', restart: 'unless-stopped' });
    const quiet = await call(tool('containers_stop'), { container: other, stopTimeoutSeconds: 0 }, services);
    expect(quiet.message).not.toContain('daemon restarts');
  });

  it('lifecycle on an unknown container is ERR_NOT_FOUND', async () => {
    const err = await callError(tool('containers_restart'), { container: `${fx.prefix}-ghost` }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toContain(`${fx.prefix}-ghost`);
  });
});

describe('audit fixes: diagnose budget, unreadable logs, paused, secrets', () => {
  const DATA_BUDGET = 26_009; // the data share of the default 64 KiB output budget
  let ctl: string;
  let nolog: string;
  let paused: string;
  let secret: string;

  beforeAll(async () => {
    [ctl, paused, secret, nolog] = await Promise.all([
      // 30 error lines of 500 control characters and 1000 quotes each
      fx.start({
        name: 'ctl',
        script:
          // control characters (removed: a terminal shows none) and quotes (JSON escapes each into 2 bytes)
          "i=0; while [ $i -lt 30 ]; do printf 'error: '; head -c 500 /dev/zero | tr '\\0' '\\001'; head -c 1000 /dev/zero | tr '\\0' '\\042'; echo; i=$((i+1)); done; sleep 600",
      }),
      fx.start({ name: 'paused', script: 'sleep 600' }),
      fx.start({ name: 'secret', script: ': postgres://app:S3cretPW@db/app --password=S3cretPW; exec sleep 600' }),
      fx.start({ name: 'nolog', script: 'echo hi; exit 4', logDriver: 'none', init: false }),
    ]);
    // The three waits run side by side, each well within the configured 120 s hook timeout: an own
    // timeout of 60 s here once failed the whole block under CI load without saying which step was slow.
    await Promise.all([
      docker(['pause', paused]),
      fx.waitFor(
        'the control-character lines',
        async () => {
          const res = await call(tool('logs_get'), { container: ctl, tail: 100 }, services);
          return res.matchedLines >= 30;
        },
        90_000,
      ),
      fx.waitFor('nolog to exit', async () => (await fx.inspect(nolog)).State.Status === 'exited', 90_000),
    ]);
  });

  it('containers_diagnose fits error lines full of control characters and quotes into the budget (JSON escaping counted)', async () => {
    const res = await call(tool('containers_diagnose'), { container: ctl }, services, {
      maxOutputBytes: DATA_BUDGET,
    });
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(DATA_BUDGET);
    expect(res.errorLog.lines.length).toBeGreaterThan(0);
    expect(res.errorLog.lines.at(-1).text.startsWith('error: ""')).toBe(true);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none is left
    expect(JSON.stringify(res.errorLog)).not.toMatch(/\\u000[0-9a-f]|[\x00-\x1f]/);
    expect(res.errorLog.notes.join('\n')).toMatch(/cut|fit/);
    expect(res.container).toMatchObject({ name: ctl, running: true });
  });

  it('containers_diagnose of a container whose log cannot be read keeps the rest and states the gap', async () => {
    const res = await call(tool('containers_diagnose'), { container: nolog }, services);
    expect(res.container).toMatchObject({ name: nolog, exitCode: 4, running: false });
    expect(res.errorLog.lines).toEqual([]);
    expect(res.errorLog.unavailable).toBe('its log driver "none" keeps no logs the engine can read');
    expect(res.findings.join('\n')).toMatch(/exited with code 4/);
    expect(res.findings.join('\n')).toMatch(/its log could not be read: its log driver "none"/);
  });

  it('logs_get on such a container names it, not its 64-hex id', async () => {
    const err = await callError(tool('logs_get'), { container: nolog }, services);
    expect(err.message).toContain(nolog);
    expect(err.message).not.toMatch(/[0-9a-f]{64}/);
  });

  it('a paused container is not running, and containers_start says how to resume it instead of claiming success', async () => {
    const diag = await call(tool('containers_diagnose'), { container: paused }, services);
    expect(diag.container).toMatchObject({ state: 'paused', running: false });
    const err = await callError(tool('containers_start'), { container: paused }, services);
    expect(err.code).toBe('ERR_CONFLICT');
    expect(err.message).toMatch(/is paused/);
    expect(err.message).toMatch(/docker unpause .*not one of these tools/);
    expect((await fx.inspect(paused)).State.Status).toBe('paused');
  });

  it('containers_list never shows a password from a command line, and says it was redacted', async () => {
    const res = await call(tool('containers_list'), { name: secret }, services);
    const shown = JSON.stringify(res);
    expect(shown).not.toContain('S3cret');
    expect(res.containers[0].command).toContain('postgres://app:[redacted]@db/app');
  });
});
