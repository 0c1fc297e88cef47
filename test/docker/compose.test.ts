import type { AnyTool } from '@ravenhelm/kit';
import { jsonBytes, silentLogger } from '@ravenhelm/kit';
import type { DockerServices } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage } from './fixture.js';
import { call, callError, makeServices, principal, tool } from './harness.js';

const fx = new DockerFixture('compose');
// A project name unique to this run, so parallel runs never see each other's project.
const project = `demo-${fx.prefix.slice(-6)}`;
const services = makeServices();
let web: string;
let worker: string;

const label = (service: string) => ({ 'com.docker.compose.project': project, 'com.docker.compose.service': service });

beforeAll(async () => {
  await ensureImage();
  [web, worker] = await Promise.all([
    fx.start({
      name: 'web',
      labels: label('web'),
      health: { cmd: 'true' },
      script:
        'echo "web: listening"; sleep 0.3; printf "\\033[33mweb: GET /health 200\\033[0m\\n"; sleep 0.3; echo "web: upstream timeout" >&2; sleep 600',
    }),
    fx.start({
      name: 'worker',
      labels: label('worker'),
      script: 'sleep 0.15; echo "worker: job 1 picked"; sleep 0.3; echo "worker: job 1 failed" >&2; sleep 600',
    }),
  ]);
  await fx.waitForHealth(web, 'healthy');
  await new Promise((r) => setTimeout(r, 800)); // every log line written
});

afterAll(async () => {
  await fx.cleanup();
});

describe('compose projects', () => {
  it('compose_list_projects finds the project with its services and counts', async () => {
    const seen: Array<Record<string, unknown>> = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const res = await call(tool('compose_list_projects'), { limit: 200, ...(cursor ? { cursor } : {}) }, services);
      seen.push(...res.projects);
      if (!res.truncated) break;
      cursor = res.nextCursor;
    }
    const mine = seen.find((p) => p.project === project);
    expect(mine).toEqual({
      project,
      services: ['web', 'worker'],
      containers: 2,
      running: 2,
      restarting: 0,
      unhealthy: 0,
      exited: 0,
    });
  });

  it('compose_get_status shows each service', async () => {
    const res = await call(tool('compose_get_status'), { project }, services);
    expect(res.ok).toBe(true);
    expect(res.services.map((s: { service: string }) => s.service)).toEqual(['web', 'worker']);
    expect(res.services[0]).toMatchObject({ running: 1, total: 1 });
    expect(res.services[0].containers[0]).toMatchObject({ name: web, state: 'running', health: 'healthy' });
    expect(res.services[1].containers[0]).toMatchObject({ name: worker, health: 'none' });
  });

  it('an unknown project or service is ERR_NOT_FOUND naming it', async () => {
    const p = await callError(tool('compose_get_status'), { project: 'no-such-project-xyz' }, services);
    expect(p.code).toBe('ERR_NOT_FOUND');
    expect(p.message).toContain('no-such-project-xyz');
    const s = await callError(tool('compose_get_logs'), { project, services: ['db'] }, services);
    expect(s.code).toBe('ERR_NOT_FOUND');
    expect(s.message).toMatch(/"db".*web, worker/);
    expect((await callError(tool('compose_get_status'), { project: 'Bad Name' }, services)).code).toBe(
      'ERR_INVALID_INPUT',
    );
  });

  it('compose_get_logs merges services in time order with a service prefix, colors stripped', async () => {
    const res = await call(tool('compose_get_logs'), { project }, services);
    const lines = res.text.trimEnd().split('\n');
    expect([...lines].sort()).toEqual(
      [
        'web | web: listening',
        'web | web: GET /health 200',
        'web | [stderr] web: upstream timeout',
        'worker | worker: job 1 picked',
        'worker | [stderr] worker: job 1 failed',
      ].sort(),
    );
    // each service keeps its own order
    expect(lines.filter((l: string) => l.startsWith('web |'))).toEqual([
      'web | web: listening',
      'web | web: GET /health 200',
      'web | [stderr] web: upstream timeout',
    ]);
    expect(res).toMatchObject({ services: ['web', 'worker'], lines: 5, truncated: false });
    // and the merge is by time across services
    const stamped = await call(tool('compose_get_logs'), { project, timestamps: true }, services);
    const times = stamped.text
      .trimEnd()
      .split('\n')
      .map((l: string) => Date.parse(l.split(' ')[2] as string));
    expect(times.every((t: number) => Number.isFinite(t))).toBe(true);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(
      new Set(
        stamped.text
          .trimEnd()
          .split('\n')
          .map((l: string) => l.split(' ')[0]),
      ).size,
    ).toBe(2);
  });

  it('compose_get_logs greps, selects services and streams, and caps', async () => {
    const failed = await call(
      tool('compose_get_logs'),
      { project, grep: 'FAILED|TIMEOUT', grepMode: 'regex', ignoreCase: true, streams: 'stderr' },
      services,
    );
    // the two containers start at slightly different moments, so only the set is fixed here
    expect(failed.text.trimEnd().split('\n').sort()).toEqual([
      'web | web: upstream timeout',
      'worker | worker: job 1 failed',
    ]);
    expect(failed).toMatchObject({ lines: 2, matchedLines: 2 });
    const onlyWeb = await call(tool('compose_get_logs'), { project, services: ['web'], timestamps: true }, services);
    expect(onlyWeb.text.trimEnd().split('\n')).toHaveLength(3);
    expect(onlyWeb.text).toMatch(/^web \| \d{4}-\d{2}-\d{2}T\S+ web: listening/);
    const capped = await call(tool('compose_get_logs'), { project, maxBytes: 256 }, services, { maxOutputBytes: 2048 });
    expect(Buffer.byteLength(capped.text)).toBeLessThanOrEqual(256);
  });

  it('compose_get_logs totals are exact and clamps are stated; until bounds the read', async () => {
    const full = await call(tool('compose_get_logs'), { project }, services);
    expect(full.notes).toBeUndefined();
    const capped = await call(tool('compose_get_logs'), { project, maxBytes: 256 }, services, { maxOutputBytes: 2048 });
    expect(capped.totalBytes).toBe(Buffer.byteLength(full.text)); // regression: engine timestamps counted
    const big = await call(tool('compose_get_logs'), { project, maxBytes: 8192 }, services, { maxOutputBytes: 2048 });
    expect(big.notes?.[0]).toMatch(
      /^maxBytes 8192 lowered to 1024: every answer fits the server's output budget of 2048 bytes/,
    );
    const past = await call(tool('compose_get_logs'), { project, until: '2000-01-01T00:00:00Z' }, services);
    expect(past).toMatchObject({ text: '', lines: 0, scannedLines: 0 });
  });

  it('compose_get_logs answers what it read by the time limit and names the containers it could not read', async () => {
    // no time left for reads once the project is listed: nothing read, every container named, no timeout error
    const res = await call(tool('compose_get_logs'), { project }, services, { timeoutMs: 1500 });
    expect(res).toMatchObject({ text: '', lines: 0, scannedLines: 0 });
    expect(res.notes).toEqual([
      `no logs from 2 container(s) not read before the call's time limit (${web}, ${worker}); read them with services ["web","worker"], a smaller tail or a narrower since/until`,
    ]);
  });

  it('compose_get_logs runs catastrophic-backtracking patterns in linear time', async () => {
    // (.|.|.)*Z takes 3^n steps on an n-character line on the JS engine: hours on these lines
    const res = await call(tool('compose_get_logs'), { project, grep: '(.|.|.)*Z', grepMode: 'regex' }, services);
    expect(res).toMatchObject({ text: '', matchedLines: 0 });
    expect(res.scannedLines).toBeGreaterThanOrEqual(5);
    const err = await callError(tool('compose_get_logs'), { project, grep: '(a)\\1', grepMode: 'regex' }, services);
    expect(err.message).toMatch(/^grep: .*backreference/);
  }, 30_000);

  it('compose_restart restarts every container and waits for them', async () => {
    const before = await Promise.all([fx.inspect(web), fx.inspect(worker)]);
    const res = await call(tool('compose_restart'), { project, stopTimeoutSeconds: 1, waitSeconds: 30 }, services);
    const after = await Promise.all([fx.inspect(web), fx.inspect(worker)]);
    expect(after[0]?.State.StartedAt).not.toBe(before[0]?.State.StartedAt);
    expect(after[1]?.State.StartedAt).not.toBe(before[1]?.State.StartedAt);
    expect(res.allReached).toBe(true);
    expect(res.containers.map((c: { service: string; target: string }) => [c.service, c.target])).toEqual([
      ['web', 'healthy'],
      ['worker', 'running'],
    ]);
  });

  it('compose_stop stops the chosen services; compose_start brings them back', async () => {
    const stopped = await call(
      tool('compose_stop'),
      { project, services: ['worker'], stopTimeoutSeconds: 1 },
      services,
    );
    expect(stopped.containers).toHaveLength(1);
    expect((await fx.inspect(worker)).State.Running).toBe(false);
    expect((await fx.inspect(web)).State.Running).toBe(true);
    const status = await call(tool('compose_get_status'), { project }, services);
    expect(status.ok).toBe(false);
    const started = await call(tool('compose_start'), { project, waitSeconds: 20 }, services);
    expect((await fx.inspect(worker)).State.Running).toBe(true);
    // web was running: start was a no-op for it
    expect(started.containers.map((c: { service: string; changed: boolean }) => [c.service, c.changed])).toEqual([
      ['web', false],
      ['worker', true],
    ]);
  });

  it('the restart budget applies per container and a refusal touches nothing', async () => {
    const tight = makeServices({ maxRestarts: 1 });
    await call(tool('containers_restart'), { container: worker, stopTimeoutSeconds: 0, waitSeconds: 10 }, tight);
    const webStarted = (await fx.inspect(web)).State.StartedAt;
    const err = await callError(tool('compose_restart'), { project, stopTimeoutSeconds: 0 }, tight);
    expect(err.code).toBe('ERR_RESTART_BUDGET');
    expect(err.message).toContain(worker);
    expect(err.message).not.toContain(web);
    expect((await fx.inspect(web)).State.StartedAt).toBe(webStarted);
  });
});

/** Calls a tool under a short kit timeout, so the deadline behaviour is tested in seconds instead of 30. */
const callWithin = (t: AnyTool<DockerServices>, args: unknown, svc: DockerServices, timeoutMs: number) =>
  call(t, args, svc, { timeoutMs });

describe('compose lifecycle on a larger project', () => {
  // 12 services whose PID 1 ignores SIGTERM: every stop takes its whole grace period, as in the audit.
  const bulk = `bulk-${fx.prefix.slice(-6)}`;
  const N = 12;
  const names: string[] = [];
  const startedAt = async (name: string) => (await fx.inspect(name)).State.StartedAt;

  beforeAll(async () => {
    names.push(
      ...(await Promise.all(
        Array.from({ length: N }, (_, i) =>
          fx.start({
            name: `bulk${String(i).padStart(2, '0')}`,
            init: false,
            labels: {
              'com.docker.compose.project': bulk,
              'com.docker.compose.service': `s${String(i).padStart(2, '0')}`,
            },
            script: 'trap "" TERM; while :; do sleep 1; done',
          }),
        ),
      )),
    );
  }, 120_000);

  it('compose_restart acts in parallel, starts nothing it cannot finish before the deadline, answers what is left and charges only what it did', async () => {
    const tight = makeServices({ maxRestarts: 1 });
    const before = await Promise.all(names.map(startedAt));
    const t0 = Date.now();
    // stop grace 3 s: one round of 8 restarts (6 s estimated) starts within the 10 s call, a second round never can
    const res = await callWithin(
      tool('compose_restart'),
      { project: bulk, stopTimeoutSeconds: 3, waitSeconds: 20 },
      tight,
      10_000,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(res).toMatchObject({ complete: false, allReached: false });
    expect(res.counts.total).toBe(N);
    expect(res.counts.notAttempted).toBe(N - 8);
    expect(res.counts.reached + res.counts.inProgress).toBe(8);
    expect(res.message).toMatch(/not attempted before the call's time limit .*call compose_restart with services \[/);
    for (const [i, name] of names.entries()) {
      const row = res.containers.find((c: { name: string }) => c.name === name);
      if (row.outcome === 'in-progress') continue; // the engine was slower than estimated: it may or may not be done
      const restarted = (await startedAt(name)) !== before[i];
      expect([name, restarted]).toEqual([name, row.outcome === 'reached']);
      // the budget is used by the containers restarted, and only by them
      expect([name, (await tight.restartBudget.status(name)).used]).toEqual([name, restarted ? 1 : 0]);
    }
  }, 60_000);

  it('compose_stop returns a partial answer at the deadline; calling again finishes the project', async () => {
    // let the restarts of the test before finish in the engine
    await fx.waitFor(
      'every restart done',
      async () =>
        (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${bulk}`])).split('\n').length === N,
    );
    const first = await callWithin(
      tool('compose_stop'),
      { project: bulk, stopTimeoutSeconds: 3, waitSeconds: 20 },
      services,
      9000,
    );
    expect(first).toMatchObject({ complete: false, allReached: false });
    expect(first.counts).toMatchObject({ total: N, reached: 8, notAttempted: N - 8 });
    expect(first.message).toMatch(/call compose_stop again with the same arguments to finish/);
    const running = (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${bulk}`]))
      .split('\n')
      .filter(Boolean);
    expect(running).toHaveLength(first.counts.notAttempted);
    const second = await callWithin(
      tool('compose_stop'),
      { project: bulk, stopTimeoutSeconds: 3, waitSeconds: 20 },
      services,
      9000,
    );
    expect(second).toMatchObject({ complete: true, allReached: true });
    expect(second.counts).toMatchObject({
      total: N,
      unchanged: first.counts.reached,
      reached: first.counts.notAttempted,
    });
    expect(await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${bulk}`])).toBe('');
  }, 60_000);

  it('a large result is summarized within the output budget, never refused after the work is done', async () => {
    const budget = 2048;
    const res = await call(tool('compose_start'), { project: bulk, waitSeconds: 20 }, services, {
      maxOutputBytes: budget,
    });
    expect(jsonBytes(res)).toBeLessThanOrEqual(budget);
    expect(res).toMatchObject({ complete: true, allReached: true });
    expect(res.counts).toMatchObject({ total: N, reached: N });
    expect(res.omitted).toBeGreaterThan(0);
    expect(res.containers.length + res.omitted).toBe(N);
    const running = (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${bulk}`])).split('\n');
    expect(running).toHaveLength(N);
  }, 60_000);

  it('the compose_stop plan names the containers it resolves to, so a container joining the project changes it', async () => {
    const stop = tool('compose_stop');
    const ctx = {
      ...services,
      signal: new AbortController().signal,
      logger: silentLogger(),
      principal,
      requestId: 'plan',
      maxOutputBytes: 64 * 1024,
      options: {},
      deadline: Date.now() + 30_000,
    };
    const input = stop.input.parse({ project: bulk });
    const planText = async () => {
      const made = await stop.plan?.(input, ctx);
      return typeof made === 'string' ? made : made?.text;
    };
    const before = await planText();
    for (const name of names) expect(before).toContain(name);
    expect(before).toContain(`${N} container(s)`);
    const intruder = await fx.start({
      name: 'intruder',
      labels: { 'com.docker.compose.project': bulk, 'com.docker.compose.service': 'db' },
      script: 'sleep 600',
    });
    try {
      const after = await planText();
      // the kit binds the confirmation token to the plan's digest: a changed plan refuses the confirmed call
      expect(after).not.toBe(before);
      expect(after).toContain(intruder);
    } finally {
      await docker(['rm', '-f', intruder]);
    }
  }, 60_000);
});

describe('lifecycle edge cases', () => {
  it('a container removed during the wait after a restart is reported done-then-removed, by name', async () => {
    const gone = `gone-${fx.prefix.slice(-6)}`;
    // a healthcheck that never passes: the restart then waits for "healthy" until the container is removed
    const [a, b] = await Promise.all([
      fx.start({
        name: 'gone-a',
        health: { cmd: 'false' },
        labels: { 'com.docker.compose.project': gone, 'com.docker.compose.service': 'a' },
        script: 'sleep 600',
      }),
      fx.start({ name: 'gone-b', health: { cmd: 'false' }, script: 'sleep 600' }),
    ]);
    const svc = makeServices();
    const removal = new Promise((r) => setTimeout(r, 2500)).then(() => docker(['rm', '-f', a, b]));
    const [composed, single] = await Promise.all([
      call(tool('compose_restart'), { project: gone, stopTimeoutSeconds: 0, waitSeconds: 20 }, svc),
      call(tool('containers_restart'), { container: b, stopTimeoutSeconds: 0, waitSeconds: 20 }, svc),
    ]);
    await removal;
    // removed, or still being removed when the engine last answered
    expect(single).toMatchObject({ changed: true, reached: false, container: { name: b, running: false } });
    expect(single.container.state).toMatch(/^remov(ed|ing)$/);
    expect(single.message).toContain(`container "${b}" was restarted and then removed`);
    expect(single.message).not.toMatch(/[0-9a-f]{64}/);
    expect(single.budget).toMatchObject({ used: 1 });
    expect(composed).toMatchObject({ allReached: false, complete: true, counts: { total: 1, removed: 1 } });
    expect(composed.containers[0]).toMatchObject({ name: a, outcome: 'removed', changed: true, restartsLeft: 2 });
    expect(composed.message).toContain(`removed during the call (${a})`);
  }, 60_000);

  it('compose_list_projects marks labels that are not compose project names, which the other tools refuse', async () => {
    const odd = `Rh.Upper${fx.prefix.slice(-6)}`;
    await fx.start({ name: 'odd', labels: { 'com.docker.compose.project': odd }, script: 'sleep 600' });
    const res = await call(tool('compose_list_projects'), { limit: 200 }, services);
    const row = res.projects.find((p: { project: string }) => p.project === odd);
    expect(row).toMatchObject({ project: odd, addressable: false });
    expect(res.note).toMatch(/addressable: false are not valid compose project names/);
    expect(res.projects.find((p: { project: string }) => p.project === project)?.addressable).toBeUndefined();
    expect((await callError(tool('compose_get_status'), { project: odd }, services)).code).toBe('ERR_INVALID_INPUT');
  }, 60_000);
  it('one project name, two working dirs: listed with both dirs, lifecycle refused naming them, services of one allowed', async () => {
    // Compose labels each container with the dir it ran from (docker/compose pkg/api/labels.go,
    // com.docker.compose.project.working_dir) and finds a project by its name label alone.
    const twin = `twin-${fx.prefix.slice(-6)}`;
    const at = (dir: string, service: string) => ({
      'com.docker.compose.project': twin,
      'com.docker.compose.service': service,
      'com.docker.compose.project.working_dir': dir,
    });
    const [webA, dbA, webB] = await Promise.all([
      fx.start({ name: 'twin-a-web', labels: at('/srv/a', 'web'), script: 'sleep 600' }),
      fx.start({ name: 'twin-a-db', labels: at('/srv/a', 'db'), script: 'sleep 600' }),
      fx.start({ name: 'twin-b-web', labels: at('/srv/b', 'web'), script: 'sleep 600' }),
    ]);
    const listed = await call(tool('compose_list_projects'), { limit: 200 }, services);
    expect(listed.note).toContain(`"${twin}" ("/srv/a", "/srv/b")`);
    const status = await call(tool('compose_get_status'), { project: twin }, services);
    expect(status.note).toContain('2 deployments sharing the project name, from different working dirs');
    expect(status.note).toContain('"/srv/a", "/srv/b"');
    expect((await call(tool('compose_get_status'), { project }, services)).note).toBeUndefined();
    const logs = await call(tool('compose_get_logs'), { project: twin }, services);
    expect(logs.notes).toEqual([
      expect.stringContaining('2 deployments sharing the project name, from different working dirs'),
    ]);
    expect(logs.notes[0]).toContain('"/srv/a", "/srv/b"');
    expect((await call(tool('compose_get_logs'), { project: twin, services: ['db'] }, services)).notes).toBeUndefined();
    for (const name of ['compose_stop', 'compose_restart']) {
      const err = await callError(tool(name), { project: twin, waitSeconds: 0 }, services);
      expect(err.code).toBe('ERR_CONFLICT');
      expect(err.message).toContain('nothing was done');
      expect(err.message).toContain(`"/srv/a": ${dbA}, ${webA}`);
      expect(err.message).toContain(`"/srv/b": ${webB}`);
    }
    for (const c of [webA, dbA, webB]) expect((await fx.inspect(c)).State.Running).toBe(true);
    // a service only one deployment has is unambiguous
    const db = await call(tool('compose_stop'), { project: twin, services: ['db'], stopTimeoutSeconds: 0 }, services);
    expect(db).toMatchObject({ allReached: true, counts: { total: 1 } });
    expect((await fx.inspect(webB)).State.Running).toBe(true);
  }, 60_000);
  it('compose_stop says once which stopped containers the engine starts again when the daemon restarts', async () => {
    // restart policy "always" restarts a stopped container when the daemon restarts; "unless-stopped" does not
    // (docs.docker.com/engine/containers/start-containers-automatically/)
    const kept = `kept-${fx.prefix.slice(-6)}`;
    const at = (service: string) => ({ 'com.docker.compose.project': kept, 'com.docker.compose.service': service });
    const [api, db] = await Promise.all([
      fx.start({ name: 'kept-api', labels: at('api'), script: 'sleep 600', restart: 'always' }),
      fx.start({ name: 'kept-db', labels: at('db'), script: 'sleep 600', restart: 'unless-stopped' }),
    ]);
    const warning = `1 stopped container(s) have the restart policy "always" (${api}): the engine starts them again when the Docker daemon restarts (docker update --restart unless-stopped keeps them stopped)`;
    const first = await call(tool('compose_stop'), { project: kept, stopTimeoutSeconds: 0 }, services);
    expect(first).toMatchObject({ allReached: true, counts: { total: 2, reached: 2 } });
    expect(first.message).toContain(warning);
    expect(first.message.split('daemon restarts')).toHaveLength(2);
    expect(first.message).not.toContain(db);
    // already stopped: the stop still holds only until the daemon restarts
    const again = await call(tool('compose_stop'), { project: kept, stopTimeoutSeconds: 0 }, services);
    expect(again.counts).toMatchObject({ unchanged: 2 });
    expect(again.message).toContain(warning);
    const started = await call(tool('compose_start'), { project: kept, waitSeconds: 10 }, services);
    expect(started.message).not.toContain('daemon restarts');
  }, 60_000);
  it('compose_get_status: a crash-looping service caught between exits is not counted running, and not ok', async () => {
    // The list endpoint shows it "running" ("Up 1 second"); moby's restart manager brings it back after each exit.
    const looped = `loop-${fx.prefix.slice(-6)}`;
    const loop = await fx.start({
      name: 'status-loop',
      labels: { 'com.docker.compose.project': looped, 'com.docker.compose.service': 'api' },
      script: 'sleep 4; exit 1',
      restart: 'always',
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
    // with no time left for the checks, the candidates are named as unchecked instead of guessed about
    const hurried = await call(tool('compose_list_projects'), { limit: 200 }, services, { timeoutMs: 1500 });
    expect(hurried.note).toMatch(
      /running container\(s\) up for under two minutes could not be checked for a restart loop/,
    );
    expect(hurried.projects.find((p: { project: string }) => p.project === looped)).toMatchObject({
      running: 1,
      restarting: 0,
    });
    const [res, listed] = await Promise.all([
      call(tool('compose_get_status'), { project: looped }, services),
      call(tool('compose_list_projects'), { limit: 200 }, services),
    ]);
    // compose_list_projects: restarting (now, or back from an exit under a minute ago), not running
    expect(listed.projects.find((p: { project: string }) => p.project === looped)).toMatchObject({
      containers: 1,
      running: 0,
      restarting: 1,
    });
    expect(listed.note ?? '').not.toContain('could not be checked');
    expect(res.ok).toBe(false);
    expect(res.services[0]).toMatchObject({ service: 'api', running: 0, total: 1 });
    expect(res.services[0].containers[0].state).toBe('running');
    expect(res.services[0].containers[0].status).toMatch(
      /restarted \d+ times by its restart policy, the last exit \d+ s ago/,
    );
  }, 60_000);
});
