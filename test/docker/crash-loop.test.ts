/**
 * A start of a crash-looping container (restart policy) must not come back `reached: true` because the wait
 * ended while the policy's next run was up for a moment. The engine counts a restart when a run exits
 * (RestartCount grows then), not when the policy starts the next one: a wait that begins during the policy's
 * backoff sees the next run with the same count it saw first. That race made the crash-loop case in
 * containers.test.ts fail under load; here the engine's answers come in that order every time: the wait's
 * first look sees the backoff, its last look (answered after the wait's deadline, as a loaded engine does)
 * sees the next run, the count unchanged.
 */
import { DockerBackend } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage } from './fixture.js';
import { call, makeServices, tool } from './harness.js';

const fx = new DockerFixture('crashloop');
let loop: string;

type Inspected = Awaited<ReturnType<DockerBackend['inspect']>>;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Answers the inspects of one tool call in the order described above (all answers are the engine's own). */
class BackoffThenRun extends DockerBackend {
  armed = false;
  waitMs = 0;
  #looks = 0;
  #first: { at: number; count: number } | undefined;

  async #until(ref: string, what: string, ok: (i: Inspected) => boolean, signal?: AbortSignal): Promise<Inspected> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const info = await super.inspect(ref, signal);
      if (ok(info)) return info;
      if (Date.now() > deadline) throw new Error(`the engine never showed ${what}: ${JSON.stringify(info.State)}`);
      await pause(20);
    }
  }

  override async inspect(ref: string, signal?: AbortSignal): Promise<Inspected> {
    // the tool resolves the container by name; the wait looks it up by its full id
    if (!this.armed || !/^[0-9a-f]{64}$/.test(ref)) return super.inspect(ref, signal);
    this.#looks++;
    // the wait's first look: during the backoff
    if (this.#looks === 1) {
      const info = await this.#until(ref, 'the backoff', (i) => i.State.Restarting, signal);
      this.#first = { at: Date.now(), count: info.RestartCount };
      return info;
    }
    const first = this.#first as { at: number; count: number };
    // the run the policy starts after that backoff (count unchanged), or a later exit if the run was missed
    const run = await this.#until(
      ref,
      'the next run',
      (i) => (i.State.Running && !i.State.Restarting) || i.RestartCount > first.count,
      signal,
    );
    if (run.RestartCount !== first.count) throw new Error(`missed the run after restart ${first.count}`);
    // answered after the wait's deadline, as an engine under load may
    await pause(Math.max(0, first.at + this.waitMs + 100 - Date.now()));
    return run;
  }
}

beforeAll(async () => {
  await ensureImage();
  // each run lasts 0.5 s, so the run after a backoff is there to be seen
  loop = await fx.start({ name: 'loop', script: 'sleep 0.5; exit 1', restart: 'unless-stopped' });
});

afterAll(async () => {
  await fx.cleanup();
});

describe('a crash-looping container caught running at the end of the wait', () => {
  it('containers_start: not reached, and the answer says the engine keeps restarting it', async () => {
    // in a backoff of 0.8 to 6.4 s: long enough for the wait's first two looks to fall inside it
    await fx.waitFor('a backoff of 0.8 s or more', async () => {
      const i = await fx.inspect(loop);
      return i.State.Restarting && i.RestartCount >= 4 && i.RestartCount <= 7;
    });
    const backend = new BackoffThenRun({ socketPath: '/var/run/docker.sock', timeoutMs: 10_000 });
    const services = { ...makeServices(), docker: backend };
    backend.armed = true;
    backend.waitMs = 1000;
    const res = await call(tool('containers_start'), { container: loop, waitSeconds: 1 }, services);
    backend.armed = false;
    expect(res).toMatchObject({ changed: false, reached: false, container: { state: 'running' } });
    expect(res.message).toMatch(/keeps exiting and the engine's restart policy starts it again \(restart count \d+/);
    expect(res.message).toContain('the start was not sent');
    // not `docker update --restart no`, which fails for a run that has just exited (see containers.test.ts)
    await docker(['rm', '-f', loop]);
  }, 120_000);
});
