/**
 * Confirmed calls act on exactly what was confirmed, on the real engine. The kit plans again before a
 * confirmed (or approved) call runs and refuses when the plan changed; these tests change the engine in
 * the window right after that re-plan and before the handler's own engine calls (a backend hook, so the
 * race is deterministic): a container joining the project, another container taking the name. The
 * handler must act on the planned containers (ctx.planned), never on what a fresh lookup finds.
 * Also: a container removed between the restart budget's take and the engine call costs no budget.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createApprovalStore,
  createMemoryAuditSink,
  createRuntime,
  loadConfig,
  type SuiteRuntime,
  silentLogger,
  type ToolResult,
} from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage } from './fixture.js';
import { callError, call as invoke, makeServices, tool } from './harness.js';

const fx = new DockerFixture('planned');
const services = makeServices();
const approvals = createApprovalStore({ server: 'docker' });
const dir = mkdtempSync(join(tmpdir(), 'rh-planned-docker-'));
let rt: SuiteRuntime;

/** Runs once right after the next engine call of that kind answered: the engine changing in the window. */
const after: { list?: () => Promise<void>; inspect?: () => Promise<void> } = {};
/** Runs once right before the next restart is sent to the engine (given the container it names). */
let beforeRestart: ((ref: string) => Promise<void>) | undefined;

function hookBackend(): void {
  const backend = services.docker;
  const list = backend.listContainers.bind(backend);
  const inspect = backend.inspect.bind(backend);
  const restart = backend.restart.bind(backend);
  backend.listContainers = async (...args) => {
    const answer = await list(...args);
    const hook = after.list;
    after.list = undefined;
    await hook?.();
    return answer;
  };
  backend.inspect = async (...args) => {
    const answer = await inspect(...args);
    const hook = after.inspect;
    after.inspect = undefined;
    await hook?.();
    return answer;
  };
  backend.restart = async (...args) => {
    const hook = beforeRestart;
    beforeRestart = undefined;
    await hook?.(args[0]);
    return restart(...args);
  };
}

const label = (project: string, service: string) => ({
  'com.docker.compose.project': project,
  'com.docker.compose.service': service,
});

beforeAll(async () => {
  await ensureImage();
  hookBackend();
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
servers:
  docker:
    confirm: destructive
    tools:
      exec_run:
        options:
          allow:
            - argv: ["cat", "/tmp/who"]
            - container: "${fx.nameOf('pinned')}"
              argv: ["cat", "/tmp/pinned"]
      compose_restart:
        approve: { count: 1, ttl: 1m }
`,
  );
  const config = loadConfig({
    backendSchema: dockerServer.backendConfig,
    backendEnv: dockerServer.backendEnv ?? {},
    env: { RAVENHELM_POLICY_FILE: policyFile, RAVENHELM_CALL_TIMEOUT_MS: '60000' },
  });
  rt = await createRuntime(dockerServer as never, config, silentLogger(), {
    audit: createMemoryAuditSink(),
    approvals,
    services,
  });
}, 120_000);

afterAll(async () => {
  await rt?.close();
  await fx.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  after.list = undefined;
  after.inspect = undefined;
  beforeRestart = undefined;
});

// Preflighted: authorization (exec_run is HIGH) is not what these tests are about.
const call = (name: string, args: Record<string, unknown>) =>
  rt.pipeline.call(rt.localPrincipal, name, args, { preflighted: true });

/** The first call's confirmation token (nothing ran yet). */
async function tokenFor(name: string, args: Record<string, unknown>): Promise<string> {
  const first = await call(name, args);
  expect(first.content[0]?.text).toMatch(/^ERR_CONFIRMATION_REQUIRED: nothing was changed yet/);
  return (first._meta?.['ravenhelm/confirmation'] as { token: string } | undefined)?.token as string;
}

const running = async (name: string) => (await fx.inspect(name)).State.Running;
const errorText = (r: ToolResult) => (r.isError ? r.content[0]?.text : undefined);

/** A container writing `value` to /tmp/<file>, ready once the file is there. */
async function startWriting(suffix: string, file: string, value: string): Promise<string> {
  const name = await fx.start({ name: suffix, script: `echo -n ${value} > /tmp/${file}; sleep 600` });
  await fx.waitFor(`${name} to write /tmp/${file}`, async () => {
    const out = await docker(['exec', name, 'cat', `/tmp/${file}`]).catch(() => '');
    return out === value;
  });
  return name;
}

describe('compose lifecycle acts on the confirmed containers only', () => {
  it('compose_stop: a container joining the project right after the re-plan is not stopped, and the answer says so', async () => {
    const project = `join-${fx.prefix.slice(-6)}`;
    const [web, worker] = await Promise.all([
      fx.start({ name: 'join-web', labels: label(project, 'web'), script: 'sleep 600' }),
      fx.start({ name: 'join-worker', labels: label(project, 'worker'), script: 'sleep 600' }),
    ]);
    const args = { project, stopTimeoutSeconds: 1, waitSeconds: 20 };
    const token = await tokenFor('compose_stop', args);
    let intruder = '';
    // Fires after the confirmed call's re-plan listed the project (so the plan still matches).
    after.list = async () => {
      intruder = await fx.start({ name: 'join-intruder', labels: label(project, 'web'), script: 'sleep 600' });
    };
    const r = await call('compose_stop', { ...args, confirmationToken: token });
    expect(errorText(r)).toBeUndefined();
    expect(intruder).not.toBe('');
    expect(await running(intruder)).toBe(true);
    expect([await running(web), await running(worker)]).toEqual([false, false]);
    const out = r.structuredContent as { counts: { total: number; reached: number }; message: string };
    expect(out.counts).toMatchObject({ total: 2, reached: 2 });
    expect(out.message).toContain(`1 container(s) joined after the confirmed plan and were left as they are`);
    expect(out.message).toContain(intruder);
  }, 60_000);

  it('compose_stop: a confirmed container removed right after the re-plan is reported removed', async () => {
    const project = `gone-${fx.prefix.slice(-6)}`;
    const [web, worker] = await Promise.all([
      fx.start({ name: 'gone-web', labels: label(project, 'web'), script: 'sleep 600' }),
      fx.start({ name: 'gone-worker', labels: label(project, 'worker'), script: 'sleep 600' }),
    ]);
    const args = { project, stopTimeoutSeconds: 1, waitSeconds: 20 };
    const token = await tokenFor('compose_stop', args);
    after.list = async () => {
      await docker(['rm', '-f', worker]);
    };
    const r = await call('compose_stop', { ...args, confirmationToken: token });
    const out = r.structuredContent as {
      complete: boolean;
      counts: { total: number; reached: number; removed: number };
      containers: { name: string; outcome: string }[];
      message: string;
    };
    expect(out.counts).toMatchObject({ total: 2, reached: 1, removed: 1 });
    expect(out.complete).toBe(true);
    expect(out.containers.find((c) => c.name === worker)?.outcome).toBe('removed');
    expect(out.message).toContain(`1 removed during the call (${worker})`);
    expect(await running(web)).toBe(false);
  }, 60_000);

  it('compose_restart under approval: a container joining after the approved re-plan is not restarted', async () => {
    const project = `appr-${fx.prefix.slice(-6)}`;
    const web = await fx.start({ name: 'appr-web', labels: label(project, 'web'), script: 'sleep 600' });
    const args = { project, stopTimeoutSeconds: 1, waitSeconds: 20 };
    const first = await call('compose_restart', args);
    expect(first.content[0]?.text).toMatch(/^ERR_APPROVAL_PENDING/);
    expect(first.content[0]?.text).toContain(
      `restart the 1 container(s) of compose project "${project}", and only these: ${web}`,
    );
    const id = (first._meta?.['ravenhelm/approval'] as { requestId: string } | undefined)?.requestId as string;
    expect((await approvals.decide(id, { subject: 'ops-alice', approve: true })).ok).toBe(true);
    const webStarted = (await fx.inspect(web)).State.StartedAt;
    let intruder = '';
    let intruderStarted = '';
    after.list = async () => {
      intruder = await fx.start({ name: 'appr-intruder', labels: label(project, 'web'), script: 'sleep 600' });
      intruderStarted = (await fx.inspect(intruder)).State.StartedAt;
    };
    const r = await call('compose_restart', { ...args, approvalRequestId: id });
    expect(errorText(r)).toBeUndefined();
    expect(r.structuredContent).toMatchObject({ allReached: true, counts: { total: 1, reached: 1 } });
    expect((await fx.inspect(web)).State.StartedAt).not.toBe(webStarted);
    expect((await fx.inspect(intruder)).State.StartedAt).toBe(intruderStarted);
    expect((r.structuredContent as { message: string }).message).toContain(intruder);
  }, 60_000);
});

describe('exec_run runs in the confirmed container only', () => {
  it('another container takes the name right after the re-plan (the planned one renamed): runs in the planned one', async () => {
    const box = await startWriting('box', 'who', 'original');
    const args = { container: box, argv: ['cat', '/tmp/who'] };
    const token = await tokenFor('exec_run', args);
    after.inspect = async () => {
      await docker(['rename', box, `${box}-old`]);
      await startWriting('box', 'who', 'imposter');
    };
    const r = await call('exec_run', { ...args, confirmationToken: token });
    expect(errorText(r)).toBeUndefined();
    expect(r.structuredContent).toMatchObject({ stdout: 'original', container: `${box}-old`, exitCode: 0 });
  }, 60_000);

  it('the planned container is removed and another takes its name: refused, nothing run in the other', async () => {
    const gone = await startWriting('gone', 'who', 'original');
    const args = { container: gone, argv: ['cat', '/tmp/who'] };
    const token = await tokenFor('exec_run', args);
    after.inspect = async () => {
      await docker(['rm', '-f', gone]);
      await startWriting('gone', 'who', 'imposter');
    };
    const r = await call('exec_run', { ...args, confirmationToken: token });
    expect(errorText(r)).toMatch(
      new RegExp(
        `^ERR_CONFLICT: nothing was run: container "${gone}" \\(id [0-9a-f]{12}\\), which the confirmed plan named, was removed since; call exec_run again`,
      ),
    );
    expect(r.structuredContent).toBeUndefined();
  }, 60_000);

  it('the planned container is renamed out of its allowlist rule: refused, nothing run', async () => {
    const pinned = await startWriting('pinned', 'pinned', 'original');
    const args = { container: pinned, argv: ['cat', '/tmp/pinned'] };
    const token = await tokenFor('exec_run', args);
    after.inspect = async () => {
      await docker(['rename', pinned, `${pinned}-old`]);
      await startWriting('pinned', 'pinned', 'imposter');
    };
    const r = await call('exec_run', { ...args, confirmationToken: token });
    expect(errorText(r)).toMatch(
      /^ERR_CONFLICT: nothing was run: container .* was renamed to ".*-old" since and is no longer allowed/,
    );
    expect(r.structuredContent).toBeUndefined();
  }, 60_000);
});

describe('containers_stop stops the confirmed container only', () => {
  it('another container takes the name right after the re-plan: the planned one is stopped, the other runs on', async () => {
    const web = await startWriting('web', 'who', 'original');
    const token = await tokenFor('containers_stop', { container: web, waitSeconds: 20 });
    let intruder = '';
    after.inspect = async () => {
      await docker(['rename', web, `${web}-old`]);
      intruder = await startWriting('web', 'who', 'imposter');
    };
    const r = await call('containers_stop', { container: web, waitSeconds: 20, confirmationToken: token });
    expect(errorText(r)).toBeUndefined();
    expect(r.structuredContent).toMatchObject({ action: 'stop', changed: true, reached: true });
    expect(await running(`${web}-old`)).toBe(false);
    expect(await running(intruder)).toBe(true);
  }, 60_000);

  it('another container took the name between the confirmation and the confirmed call: refused (the plan names the id)', async () => {
    const db = await startWriting('db', 'who', 'original');
    const token = await tokenFor('containers_stop', { container: db });
    await docker(['rename', db, `${db}-old`]);
    const intruder = await startWriting('db', 'who', 'imposter');
    const r = await call('containers_stop', { container: db, confirmationToken: token });
    expect(errorText(r)).toMatch(/^ERR_CONFLICT: nothing was changed: what containers_stop would do now differs/);
    expect(await running(intruder)).toBe(true);
    expect(await running(`${db}-old`)).toBe(true);
  }, 60_000);

  it('the planned container is removed and another takes its name: refused, the other keeps running', async () => {
    const gone = await startWriting('stopgone', 'who', 'original');
    const token = await tokenFor('containers_stop', { container: gone });
    let intruder = '';
    after.inspect = async () => {
      await docker(['rm', '-f', gone]);
      intruder = await startWriting('stopgone', 'who', 'imposter');
    };
    const r = await call('containers_stop', { container: gone, confirmationToken: token });
    expect(errorText(r)).toMatch(
      new RegExp(
        `^ERR_CONFLICT: nothing was stopped: container "${gone}" \\(id [0-9a-f]{12}\\), which the confirmed plan named, was removed since`,
      ),
    );
    expect(await running(intruder)).toBe(true);
  }, 60_000);
});

describe('restart budget', () => {
  it('a container removed between the budget take and the engine call uses up no budget', async () => {
    const doomed = await fx.start({ name: 'doomed', script: 'sleep 600' });
    beforeRestart = async () => {
      await docker(['rm', '-f', doomed]);
    };
    const err = await callError(tool('containers_restart'), { container: doomed, waitSeconds: 5 }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toContain(`container "${doomed}"`);
    expect(err.message).toContain('its restart budget was not used');
    expect((await services.restartBudget.status(doomed)).used).toBe(0);
  }, 60_000);

  it('compose_restart: the container removed before its restart reached the engine gives its budget back', async () => {
    const project = `budget-${fx.prefix.slice(-6)}`;
    await Promise.all([
      fx.start({ name: 'budget-a', labels: label(project, 'a'), script: 'sleep 600' }),
      fx.start({ name: 'budget-b', labels: label(project, 'b'), script: 'sleep 600' }),
    ]);
    // The first restart sent (containers are acted on in parallel: either may be first) finds it gone.
    let removed = '';
    beforeRestart = async (ref) => {
      removed = (await fx.inspect(ref)).Name.replace(/^\//, '');
      await docker(['rm', '-f', removed]);
    };
    const res = await invoke(tool('compose_restart'), { project, stopTimeoutSeconds: 1, waitSeconds: 20 }, services);
    expect(res.counts).toMatchObject({ total: 2, reached: 1, removed: 1 });
    const kept = [fx.nameOf('budget-a'), fx.nameOf('budget-b')].find((n) => n !== removed) as string;
    expect((await services.restartBudget.status(removed)).used).toBe(0);
    expect((await services.restartBudget.status(kept)).used).toBe(1);
  }, 60_000);
});
