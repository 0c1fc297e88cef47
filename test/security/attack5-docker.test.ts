/**
 * Fifth round against the Docker server, from outside, through the MCP SDK client and the real engine
 * (behind a fault proxy on its socket where the engine must be slow). Each case is a defect found in this
 * round, kept as a regression test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultRig, INSPECT, LOGS, startFaultRig } from '../docker/fault-rig.js';
import { DockerFixture, docker, ensureImage } from '../docker/fixture.js';

const fx = new DockerFixture('attack5');
const project = `${fx.prefix}-app`;
/** Engine calls may take 20 s, a call 4 s: only the call's own time limit can cut a slow engine short. */
let rig: FaultRig;

beforeAll(async () => {
  await ensureImage();
  const labels = { 'com.docker.compose.project': project, 'com.docker.compose.service': 'web' };
  await fx.start({ name: 'web', labels, script: 'for i in $(seq 1 200); do echo web-$i; done; sleep 600' });
  rig = await startFaultRig('attack5');
  await fx.waitFor('the web container to log', async () => {
    const r = await rig.calls.call('compose_get_logs', { project, tail: 1 });
    return !r.isError && r.text.includes('web-200');
  });
}, 120_000);

afterAll(async () => {
  await rig?.close();
  await fx.cleanup();
});

describe("a slow engine and the call's own time limit, while garbage is collected", () => {
  // AbortSignal.any over an inline AbortSignal.timeout: on Node 20 the timeout signal was collected and
  // the "stop shortly before the deadline" never fired, so the kit's timeout answered instead.
  it('compose_get_logs answers before the time limit with the lines it read and where to resume', async () => {
    const a = await rig.underFault(
      LOGS,
      { kind: 'trickle', bytes: 20, everyMs: 100, bodyOnly: true },
      'compose_get_logs',
      {
        project,
        tail: 200,
      },
    );
    console.log(`compose_get_logs, trickle: ${a.ms} ms: ${a.text.slice(0, 300)}`);
    expect(a.isError, a.text).toBe(false);
    expect(a.ms).toBeLessThan(4000);
    expect(((a.structured?.notes ?? []) as string[]).join(' ')).toMatch(
      /read only in part: .*read them with logs_get container "[^"]+" since/,
    );
    await rig.proxy.drained(3000);
  }, 30_000);

  it('compose_get_status answers before the time limit when the restart-loop inspects hang', async () => {
    const a = await rig.underFault(INSPECT, { kind: 'hang' }, 'compose_get_status', { project });
    console.log(`compose_get_status, inspect hangs: ${a.ms} ms: ${a.text.slice(0, 300)}`);
    expect(a.isError, a.text).toBe(false);
    expect(a.ms).toBeLessThan(4000);
    expect(a.structured?.note).toMatch(/could not be checked for a restart loop/);
    await rig.proxy.drained(3000);
  }, 30_000);
});

describe('containers_list pages while containers come and go', () => {
  // The cursor was an offset: a container removed before it moved the rest up, and the next page skipped one.
  it('a container removed between two pages neither hides nor repeats another', async () => {
    for (const n of ['pg-a', 'pg-b', 'pg-c', 'pg-d']) await fx.start({ name: n, script: 'sleep 600' });
    const name = `${fx.prefix}-pg-`;
    const names = (r: Awaited<ReturnType<typeof rig.calls.call>>) =>
      ((r.structured?.containers ?? []) as { name: string }[]).map((c) => c.name.slice(name.length));
    const first = await rig.calls.call('containers_list', { name, limit: 2 });
    expect(names(first)).toEqual(['a', 'b']);
    // one shown before the cursor goes away
    await docker(['rm', '-f', fx.nameOf('pg-a')]);
    const second = await rig.calls.call('containers_list', { name, limit: 1, cursor: first.structured?.nextCursor });
    expect(names(second), second.text).toEqual(['c']);
    // the very container the cursor continues from goes away
    await docker(['rm', '-f', fx.nameOf('pg-c')]);
    const third = await rig.calls.call('containers_list', { name, limit: 5, cursor: second.structured?.nextCursor });
    expect(names(third), third.text).toEqual(['d']);
    expect(third.structured?.truncated).toBe(false);
    // a cursor not issued here is refused, saying what to do
    const forged = await rig.calls.call('containers_list', { name, cursor: 'k:zzzz' });
    expect(forged.isError).toBe(true);
    expect(forged.text).toMatch(/cursor is not one containers_list issued; omit it/);
  }, 60_000);
});
