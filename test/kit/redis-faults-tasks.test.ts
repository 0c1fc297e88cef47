/**
 * MCP Tasks while their Redis freezes (SIGSTOP) or dies (SIGKILL): a task being created, its result
 * being stored, tasks/get and tasks/result polling. Every request is answered within the Redis command
 * timeout + slack with an error that names Redis host:port (never its password) and says to retry; a
 * task that ran keeps its outcome (stored once Redis answers again, not lost); a create that timed out
 * leaves no ghost task behind; nothing stays in flight; each call has one audit outcome.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { answerText, outcomesSince, REDIS_PASSWORD, sleep, timed, useFaultServer } from '../fixtures/redis-faults.js';

const tokens = { alice: { subject: 'alice', clientId: 'agent-a', scopes: ['mcp:echo:read'], roles: [] } };
/** One Redis command timeout (1000 ms) + scheduling slack. */
const BOUND_MS = 1000 + 1000;
const N = 20;

const createTask = (c: Client, value: string, ms = 0) =>
  timed(() =>
    c.request(
      { method: 'tools/call', params: { name: 'echo_task', arguments: { ms, value }, task: { ttl: 120_000 } } },
      CreateTaskResultSchema,
      { timeout: 15_000 },
    ),
  );
const getTask = (c: Client, taskId: string) => timed(() => c.experimental.tasks.getTask(taskId, { timeout: 15_000 }));
const taskResult = (c: Client, taskId: string) =>
  timed(() => c.request({ method: 'tasks/result', params: { taskId } }, CallToolResultSchema, { timeout: 15_000 }));

describe('tasks: Redis frozen or killed', () => {
  const s = useFaultServer({ tokens, token: 'alice' });
  const port = () => s.h.redis.port;
  const expectClearError = (t: { ms: number; error?: Error }) => {
    const text = answerText(t);
    expect(t.error, text).toBeDefined();
    expect(text).toMatch(/ERR_BACKEND_UNAVAILABLE/);
    expect(text).toContain(`127.0.0.1:${port()}`);
    expect(text).toMatch(/retry/);
    expect(text).not.toContain(REDIS_PASSWORD);
    expect(t.ms).toBeLessThan(BOUND_MS);
  };

  it('creating tasks while Redis is frozen: refused at once, clearly, and no ghost task appears after', async () => {
    const before = (await s.client.experimental.tasks.listTasks()).tasks.length;
    s.h.redis.pause();
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => createTask(s.client, `frozen-${i}`)));
    await sleep(200);
    s.h.redis.resume();
    for (const a of answers) expectClearError(a);
    console.log(`task create, frozen: ${N} calls, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`);
    // The queued creates ran when Redis woke up; none of them may linger as a task nobody was told of.
    await expect
      .poll(async () => (await s.client.experimental.tasks.listTasks()).tasks.length, { timeout: 5000 })
      .toBe(before);
    expect(s.h.services.calls.filter((c) => String((c.args as { value: string }).value).startsWith('frozen-'))).toEqual(
      [],
    );
    // Recovery: a new task runs and returns its result.
    const ok = await createTask(s.client, 'after-frozen');
    const id = ok.value?.task.taskId as string;
    expect((await taskResult(s.client, id)).value?.structuredContent).toMatchObject({ value: 'after-frozen' });
  }, 30_000);

  it('a result finished while Redis is frozen is stored once Redis answers (not lost)', async () => {
    const from = s.h.audit.records.length;
    const started = await Promise.all(Array.from({ length: 5 }, (_, i) => createTask(s.client, `finish-${i}`, 400)));
    const ids = started.map((t) => t.value?.task.taskId as string);
    s.h.redis.pause();
    // The calls end during the freeze; polls meanwhile fail clearly and at once.
    await sleep(600);
    const polls = await Promise.all(ids.map((id) => getTask(s.client, id)));
    for (const p of polls) expectClearError(p);
    const result = await taskResult(s.client, ids[0] as string);
    expectClearError(result);
    await sleep(1000);
    s.h.redis.resume();
    for (const [i, id] of ids.entries()) {
      await expect
        .poll(async () => (await getTask(s.client, id)).value?.status, { timeout: 5000, interval: 100 })
        .toBe('completed');
      expect((await taskResult(s.client, id)).value?.structuredContent).toMatchObject({ value: `finish-${i}` });
    }
    // One outcome per call, nothing in flight.
    const outcomes = outcomesSince(s.h, from, 'echo_task');
    expect(outcomes.filter((r) => ids.includes(r.requestId))).toHaveLength(ids.length);
    expect(await s.h.inFlight()).toBe(0);
  }, 30_000);

  it('tasks/list and tasks/cancel while Redis is frozen: clear errors at once; the cancel works after', async () => {
    const long = await createTask(s.client, 'cancel-me', 3000);
    const id = long.value?.task.taskId as string;
    s.h.redis.pause();
    const listed = await timed(() => s.client.experimental.tasks.listTasks(undefined, { timeout: 15_000 }));
    const cancelled = await timed(() => s.client.experimental.tasks.cancelTask(id, { timeout: 15_000 }));
    s.h.redis.resume();
    expectClearError(listed);
    expectClearError(cancelled);
    expect((await s.client.experimental.tasks.cancelTask(id)).status).toBe('cancelled');
    await expect.poll(async () => (await getTask(s.client, id)).value?.status, { timeout: 5000 }).toBe('cancelled');
    expect(s.h.services.calls.filter((c) => (c.args as { value?: string }).value === 'cancel-me')).toEqual([]);
    await expect.poll(() => s.h.inFlight(), { timeout: 5000 }).toBe(0);
  }, 30_000);

  it('killed while tasks run, restarted: polls fail clearly meanwhile; the store works again after', async () => {
    const started = await Promise.all(Array.from({ length: 5 }, (_, i) => createTask(s.client, `kill-${i}`, 300)));
    const ids = started.map((t) => t.value?.task.taskId as string);
    await s.h.redis.kill();
    const during = await getTask(s.client, ids[0] as string);
    expectClearError(during);
    await sleep(500);
    await s.h.redis.restart();
    // The restarted Redis lost every task (no persistence): not found, never a hang.
    await expect
      .poll(async () => answerText(await getTask(s.client, ids[0] as string)), { timeout: 5000, interval: 100 })
      .toMatch(/Task not found/);
    const fresh = await createTask(s.client, 'after-kill');
    const id = fresh.value?.task.taskId as string;
    expect((await taskResult(s.client, id)).value?.structuredContent).toMatchObject({ value: 'after-kill' });
    expect(await s.h.inFlight()).toBe(0);
  }, 30_000);

  it('the Redis password appears in no log line or audit record', () => {
    expect(s.h.logs()).not.toContain(REDIS_PASSWORD);
    expect(JSON.stringify(s.h.audit.records)).not.toContain(REDIS_PASSWORD);
  });
});
