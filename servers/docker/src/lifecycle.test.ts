import { silentLogger, type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { DockerBackend } from './backend.js';
import { runLifecycle } from './lifecycle.js';
import { RestartBudget } from './restart-budget.js';
import { composeStart } from './tools/compose.js';
import type { DockerServices } from './tools/define.js';

const ID = 'f'.repeat(64);

function inspectInfo(): Docker.ContainerInspectInfo {
  return {
    Id: ID,
    Name: '/web-1',
    RestartCount: 0,
    State: {
      Status: 'running',
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 1,
      ExitCode: 0,
      Error: '',
      StartedAt: '2026-01-01T00:00:00Z',
      FinishedAt: '0001-01-01T00:00:00Z',
    },
  } as unknown as Docker.ContainerInspectInfo;
}

const notFound = () =>
  new ToolError('ERR_NOT_FOUND', `container "${ID}" was not found; check the name or id with containers_list`);

/** A handler context on a fake engine: only the calls a test makes. */
function contextWith(engine: Partial<DockerBackend>): ToolContext<DockerServices> {
  return {
    docker: engine as DockerBackend,
    restartBudget: new RestartBudget(),
    signal: new AbortController().signal,
    logger: silentLogger(),
    principal: { subject: 'test', scopes: [], roles: [], source: 'stdio' },
    requestId: 'test',
    maxOutputBytes: 64 * 1024,
    options: {},
    deadline: Date.now() + 30_000,
  };
}

describe('lifecycle when the container goes away', () => {
  it('a restart whose container is removed during the wait is done-then-removed, named by name, budget shown', async () => {
    let inspects = 0;
    const ctx = contextWith({
      inspect: async () => {
        if (inspects++ === 0) return inspectInfo();
        throw notFound();
      },
      restart: async () => undefined,
    });
    const res = await runLifecycle(ctx, 'web-1', 'restart', { graceSeconds: 0, waitSeconds: 5 });
    expect(res).toMatchObject({
      action: 'restart',
      changed: true,
      reached: false,
      container: { name: 'web-1', state: 'removed', running: false },
      budget: { used: 1, remaining: 2 },
    });
    expect(res.message).toMatch(/^container "web-1" was restarted and then removed while waiting/);
    expect(res.message).not.toContain(ID);
  });

  it('a stop whose container is removed (--rm) reached its target', async () => {
    let inspects = 0;
    const ctx = contextWith({
      inspect: async () => {
        if (inspects++ === 0) return inspectInfo();
        throw notFound();
      },
      stop: async () => true,
    });
    const res = await runLifecycle(ctx, 'web-1', 'stop', { graceSeconds: 0, waitSeconds: 5 });
    expect(res).toMatchObject({ changed: true, reached: true, target: 'stopped', container: { state: 'removed' } });
  });

  it('a container removed before the action is ERR_NOT_FOUND naming it by name, not by its id', async () => {
    const ctx = contextWith({
      inspect: async () => inspectInfo(),
      restart: async () => {
        throw notFound();
      },
    });
    const err = await runLifecycle(ctx, 'web-1', 'restart', { graceSeconds: 0, waitSeconds: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toMatch(/^container "web-1" \(ffffffffffff\) was removed before the restart reached it/);
    expect(err.message).not.toContain(ID);
  });
});

describe('compose_start on a paused container', () => {
  it('answers failed for it, saying start does not resume it, and starts nothing', async () => {
    const paused = inspectInfo();
    paused.State.Paused = true;
    let started = 0;
    const ctx = contextWith({
      listContainers: async () =>
        [
          {
            Id: ID,
            Names: ['/web-1'],
            Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' },
          },
        ] as unknown as Docker.ContainerInfo[],
      inspect: async () => paused,
      start: async () => {
        started++;
        return true;
      },
    });
    const res = (await composeStart.handler({ project: 'shop', waitSeconds: 5 }, ctx)) as {
      complete: boolean;
      allReached: boolean;
      counts: Record<string, number>;
      containers: { outcome: string; message?: string }[];
    };
    expect(started).toBe(0);
    expect(res.allReached).toBe(false);
    expect(res.counts).toMatchObject({ total: 1, failed: 1 });
    expect(res.containers[0]).toMatchObject({ outcome: 'failed' });
    expect(res.containers[0]?.message).toMatch(/^container "web-1" is paused .* start does not resume it/);
  });
});

describe('start of a container that was created but never started', () => {
  /** As the engine shows it before the first start: a healthcheck configured, but no State.Health yet. */
  function created(test: string[]): Docker.ContainerInspectInfo {
    const info = inspectInfo();
    Object.assign(info.State, { Status: 'created', Running: false, StartedAt: '0001-01-01T00:00:00Z' });
    (info as { Config: unknown }).Config = { Labels: {}, Healthcheck: { Test: test } };
    return info;
  }

  /** The engine after start: running, its health starting for the first `starting` inspects, then healthy. */
  function engineAfterStart(test: string[], starting: number): Partial<DockerBackend> {
    let startedOnce = false;
    let inspects = 0;
    return {
      inspect: async () => {
        const info = created(test);
        if (!startedOnce) return info;
        Object.assign(info.State, { Status: 'running', Running: true, StartedAt: '2026-01-01T00:00:00Z' });
        if (test[0] !== 'NONE') {
          info.State.Health = {
            Status: inspects++ < starting ? 'starting' : 'healthy',
            FailingStreak: 0,
            Log: [],
          } as unknown as Docker.ContainerInspectInfo['State']['Health'];
        }
        return info;
      },
      start: async () => {
        startedOnce = true;
        return true;
      },
    };
  }

  it('waits for healthy when its configuration has a healthcheck (State.Health only appears once it runs)', async () => {
    const ctx = contextWith(engineAfterStart(['CMD-SHELL', 'true'], 8));
    const res = await runLifecycle(ctx, 'web-1', 'start', { graceSeconds: 0, waitSeconds: 10 });
    expect(res).toMatchObject({ changed: true, target: 'healthy', reached: true, container: { health: 'healthy' } });
  });

  it('waits for running when the healthcheck is turned off (Test ["NONE"])', async () => {
    const ctx = contextWith(engineAfterStart(['NONE'], 0));
    const res = await runLifecycle(ctx, 'web-1', 'start', { graceSeconds: 0, waitSeconds: 10 });
    expect(res).toMatchObject({ changed: true, target: 'running', reached: true, container: { health: 'none' } });
  });
});
