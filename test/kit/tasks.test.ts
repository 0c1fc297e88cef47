import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  type GetTaskResult,
  type McpError,
  RELATED_TASK_META_KEY,
} from '@modelcontextprotocol/sdk/types.js';
import {
  connectRedis,
  createMcpServer,
  createMemoryAuditSink,
  createRuntime,
  createTaskStore,
  createToolDefiner,
  defineServer,
  loadConfig,
  silentLogger,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { connectEchoStdio } from '../fixtures/echo-stdio.js';
import { type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';
import { startRedis } from '../fixtures/redis.js';

const tokens = {
  alice: { subject: 'alice', clientId: 'agent-a', scopes: ['mcp:echo:read'], roles: [] },
  // Same subject, other client: another principal.
  aliceOther: { subject: 'alice', clientId: 'agent-b', scopes: ['mcp:echo:read'], roles: [] },
  bob: { subject: 'bob', clientId: 'agent-a', scopes: ['mcp:echo:read'], roles: [] },
  nobody: { subject: 'nobody', scopes: [], roles: [] },
};

async function sdkClient(url: string, token: string) {
  const client = new Client({ name: 'tasks-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

const createTask = (client: Client, args: Record<string, unknown>, name = 'echo_task') =>
  client.request(
    { method: 'tools/call', params: { name, arguments: args, task: { ttl: 120_000 } } },
    CreateTaskResultSchema,
  );

const taskResult = (client: Client, taskId: string) =>
  client.request({ method: 'tasks/result', params: { taskId } }, CallToolResultSchema);

async function until(client: Client, taskId: string, done: (t: GetTaskResult) => boolean): Promise<GetTaskResult> {
  for (let i = 0; i < 100; i++) {
    const t = await client.experimental.tasks.getTask(taskId);
    if (done(t)) return t;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`task ${taskId} did not reach the expected state`);
}

async function rejection(p: Promise<unknown>): Promise<McpError> {
  try {
    await p;
  } catch (err) {
    return err as McpError;
  }
  throw new Error('expected a JSON-RPC error');
}

/**
 * How a cancelled write task ends in the audit: plainly cancelled when the cancel came before its handler
 * started, unknown once it ran (the kit cannot tell what a tool that changes something already did).
 */
const STOPPED = [
  ['error', 'ERR_CANCELLED'],
  ['unknown', 'ERR_OUTCOME_UNKNOWN'],
];

describe('MCP Tasks over HTTP (2025-11-25)', () => {
  let h: EchoHarness;
  let alice: Client;
  let other: Client;
  beforeAll(async () => {
    h = await startEcho({ tokens });
    alice = await sdkClient(h.url, 'alice');
    other = await sdkClient(h.url, 'aliceOther');
  });
  afterAll(async () => {
    await alice?.close();
    await other?.close();
    await h?.stop();
  });

  it('declares the tasks capability and lists execution.taskSupport only on task-capable tools', async () => {
    expect(alice.getServerCapabilities()?.tasks).toEqual({ list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const { tools } = await alice.listTools();
    expect(tools.find((t) => t.name === 'echo_task')?.execution).toEqual({ taskSupport: 'optional' });
    expect(tools.find((t) => t.name === 'echo_say')?.execution).toBeUndefined();
  });

  it('create -> working -> completed; tasks/result returns the tool result; audit has attempt and outcome', async () => {
    const { task } = await createTask(alice, { ms: 300, value: 'v1' });
    expect(task.status).toBe('working');
    expect(task.ttl).toBe(120_000);
    expect(typeof task.pollInterval).toBe('number');
    const working = await alice.experimental.tasks.getTask(task.taskId);
    expect(working.status).toBe('working');
    // tasks/result blocks until the task ends.
    const result = await taskResult(alice, task.taskId);
    expect(result.structuredContent).toMatchObject({ value: 'v1' });
    expect(result._meta?.[RELATED_TASK_META_KEY]).toEqual({ taskId: task.taskId });
    const done = await alice.experimental.tasks.getTask(task.taskId);
    expect(done.status).toBe('completed');
    expect(done._meta?.[RELATED_TASK_META_KEY]).toBeUndefined();
    const records = h.audit.records.filter((r) => r.requestId === task.taskId);
    expect(records.map((r) => [r.phase, r.outcome ?? null])).toEqual([
      ['attempt', null],
      ['outcome', 'success'],
    ]);
    const { tasks } = await alice.experimental.tasks.listTasks();
    expect(tasks.map((t) => t.taskId)).toContain(task.taskId);
  });

  it('tasks/cancel aborts a working task; it stays cancelled and cannot be cancelled again', async () => {
    const before = h.services.calls.length;
    const { task } = await createTask(alice, { ms: 5000, value: 'never' });
    const cancelled = await alice.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    // The handler saw the abort and never recorded the write; the kit cannot know that of a tool that changes
    // something once its handler ran (its request may have reached the backend): unknown, or plainly
    // cancelled when the cancel came first.
    await expect
      .poll(() => h.audit.records.find((r) => r.requestId === task.taskId && r.phase === 'outcome'))
      .toBeTruthy();
    const outcome = h.audit.records.find((r) => r.requestId === task.taskId && r.phase === 'outcome');
    expect(STOPPED).toContainEqual([outcome?.outcome, outcome?.errorCode]);
    expect(h.services.calls.slice(before).some((c) => (c.args as { value?: string }).value === 'never')).toBe(false);
    expect((await alice.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    const again = await rejection(alice.experimental.tasks.cancelTask(task.taskId));
    expect(again.code).toBe(-32602);
    expect(again.message).toMatch(/terminal status 'cancelled'/);
  });

  it('a finished task cannot be cancelled', async () => {
    const { task } = await createTask(alice, { ms: 0, value: 'quick' });
    await until(alice, task.taskId, (t) => t.status === 'completed');
    const err = await rejection(alice.experimental.tasks.cancelTask(task.taskId));
    expect(err.code).toBe(-32602);
    expect(err.message).toMatch(/terminal status 'completed'/);
  });

  it('another principal (same subject, other client) cannot see, read or cancel the task', async () => {
    const { task } = await createTask(alice, { ms: 400, value: 'mine' });
    for (const attempt of [
      other.experimental.tasks.getTask(task.taskId),
      taskResult(other, task.taskId),
      other.experimental.tasks.cancelTask(task.taskId),
    ]) {
      const err = await rejection(attempt);
      expect(err.code).toBe(-32602);
      expect(err.message).toMatch(/Task not found/);
    }
    expect((await other.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).not.toContain(task.taskId);
    // Still alice's, still running to completion.
    expect((await taskResult(alice, task.taskId)).structuredContent).toMatchObject({ value: 'mine' });
  });

  it('authorization runs before a task exists: a caller without the scope gets 403 and no task', async () => {
    const before = h.audit.records.length;
    const res = await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'echo_task', arguments: { ms: 0, value: 'x' }, task: {} },
      },
      { authorization: 'Bearer nobody' },
    );
    expect(res.status).toBe(403);
    expect(res.json.result).toBeUndefined();
    const denied = h.audit.records.slice(before).filter((r) => r.tool === 'echo_task');
    expect(denied.map((r) => [r.phase, r.outcome])).toEqual([['outcome', 'denied']]);
    const list = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 8, method: 'tasks/list', params: {} },
      { authorization: 'Bearer nobody' },
    );
    expect(list.json.result.tasks).toEqual([]);
  });

  it('a plain call to a task-capable tool works as before', async () => {
    const result = await alice.callTool({ name: 'echo_task', arguments: { ms: 0, value: 'plain' } });
    expect(result.structuredContent).toMatchObject({ value: 'plain' });
    expect(result._meta?.[RELATED_TASK_META_KEY]).toBeUndefined();
  });

  it('refuses a task for a tool without task support, bad task params and unknown ids', async () => {
    const notTask = await rejection(createTask(alice, { message: 'x' }, 'echo_say'));
    expect(notTask.code).toBe(-32601);
    const bad = await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'echo_task', arguments: { ms: 0, value: 'x' }, task: { ttl: 'long' } },
      },
      { authorization: 'Bearer alice' },
    );
    expect(bad.json.error.code).toBe(-32602);
    const unknown = await rejection(alice.experimental.tasks.getTask('00000000-0000-4000-8000-000000000000'));
    expect(unknown.code).toBe(-32602);
  });

  it('a failing tool ends the task failed; tasks/result returns the isError result', async () => {
    const { task } = await createTask(alice, { ms: 0, value: 'x'.repeat(101) });
    const done = await until(alice, task.taskId, (t) => t.status !== 'working');
    expect(done.status).toBe('failed');
    expect(done.statusMessage).toMatch(/^ERR_INVALID_INPUT/);
    const result = await taskResult(alice, task.taskId);
    expect(result.isError).toBe(true);
  });
});

describe('MCP Tasks on the 2026-07-28 path (not offered there)', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens });
  });
  afterAll(async () => {
    await h?.stop();
  });
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const headers = (method: string, name?: string) => ({
    authorization: 'Bearer alice',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name ? { 'mcp-name': name } : {}),
  });

  it('lists no execution hint, answers tasks/* -32601 and runs a tools/call with params.task as a plain call', async () => {
    const list = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } },
      headers('tools/list'),
    );
    const tool = list.json.result.tools.find((t: { name: string }) => t.name === 'echo_task');
    expect(tool).toBeDefined();
    expect(tool.execution).toBeUndefined();
    const get = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 2, method: 'tasks/get', params: { taskId: 'x', _meta: meta } },
      headers('tasks/get'),
    );
    expect(get.json.error.code).toBe(-32601);
    const call = await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'echo_task', arguments: { ms: 0, value: 'v2' }, task: { ttl: 60_000 }, _meta: meta },
      },
      headers('tools/call', 'echo_task'),
    );
    expect(call.json.result.structuredContent).toEqual({ value: 'v2', waited: expect.any(Number) });
    expect(call.json.result.task).toBeUndefined();
  });
});

describe('MCP Tasks across replicas (Redis)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let one: EchoHarness;
  let two: EchoHarness;
  beforeAll(async () => {
    redis = await startRedis();
    one = await startEcho({ tokens, env: { RAVENHELM_REDIS_URL: redis.url } });
    two = await startEcho({ tokens, env: { RAVENHELM_REDIS_URL: redis.url } });
  }, 30_000);
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await redis?.stop();
  });

  it('a task created on one replica is read, listed and cancelled through another', async () => {
    const a = await sdkClient(one.url, 'alice');
    const b = await sdkClient(two.url, 'alice');
    const bob = await sdkClient(two.url, 'bob');
    try {
      const { task } = await createTask(a, { ms: 300, value: 'shared' });
      expect((await b.experimental.tasks.getTask(task.taskId)).status).toBe('working');
      expect((await rejection(bob.experimental.tasks.getTask(task.taskId))).code).toBe(-32602);
      expect((await taskResult(b, task.taskId)).structuredContent).toMatchObject({ value: 'shared' });
      expect((await b.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(task.taskId);
      expect((await bob.experimental.tasks.listTasks()).tasks).toEqual([]);

      // Cancelled on replica two, running on replica one: one sees it in the store and aborts the handler.
      const long = (await createTask(a, { ms: 5000, value: 'cross' })).task;
      expect((await b.experimental.tasks.cancelTask(long.taskId)).status).toBe('cancelled');
      await expect
        .poll(() => one.audit.records.find((r) => r.requestId === long.taskId && r.phase === 'outcome'), {
          timeout: 4000,
        })
        .toBeTruthy();
      const stopped = one.audit.records.find((r) => r.requestId === long.taskId && r.phase === 'outcome');
      expect(STOPPED).toContainEqual([stopped?.outcome, stopped?.errorCode]);
      expect((await a.experimental.tasks.getTask(long.taskId)).status).toBe('cancelled');
    } finally {
      await Promise.all([a.close(), b.close(), bob.close()]);
    }
  });

  it('the Redis store bounds tasks per principal and keeps empty arrays in results intact', async () => {
    const client = await connectRedis(redis.url);
    try {
      await checkStoreBounds(
        createTaskStore({ redis: client, keyPrefix: 'test:task', limits: { maxRunning: 2, maxStored: 3 } }),
      );
    } finally {
      await client.quit();
    }
  });
});

it('the memory store bounds tasks per principal the same way', async () => {
  await checkStoreBounds(createTaskStore({ limits: { maxRunning: 2, maxStored: 3 } }));
});

async function checkStoreBounds(store: ReturnType<typeof createTaskStore>) {
  const p = { subject: 's', clientId: 'c', scopes: [], roles: [], source: 'local' } as never;
  const q = { subject: 's', clientId: 'other', scopes: [], roles: [], source: 'local' } as never;
  const t1 = await store.create(p, undefined, 'x');
  const t2 = await store.create(p, undefined, 'x');
  if (!t1 || !t2) throw new Error('the first two tasks must be created');
  expect(await store.create(p, undefined, 'x')).toBeUndefined();
  // Another principal has its own bound.
  expect(await store.create(q, undefined, 'x')).toBeTruthy();
  expect(await store.get(q, t1.taskId)).toBeUndefined();
  const outcome = { result: { content: [], structuredContent: { items: [] } } };
  expect(await store.finish(p, t1.taskId, 'completed', 'completed', outcome)).toBe(true);
  expect(await store.finish(p, t1.taskId, 'failed', 'late', outcome)).toBe(false);
  expect(await store.outcome(p, t1.taskId)).toEqual(outcome);
  expect(await store.create(p, undefined, 'x')).toBeTruthy();
  // Full (3 stored): the oldest finished task makes room for the next one.
  await store.finish(p, t2.taskId, 'completed', 'completed', outcome);
  expect(await store.create(p, undefined, 'x')).toBeTruthy();
  expect(await store.get(p, t1.taskId)).toBeUndefined();
  expect(await store.get(p, t2.taskId)).toBeDefined();
  expect((await store.list(p, undefined)).tasks).toHaveLength(3);
}

describe('MCP Tasks over stdio', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-tasks-stdio-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a task to completion and cancels another', async () => {
    const client = await connectEchoStdio(dir, { RAVENHELM_LOCAL_SCOPES: 'mcp:echo:read' });
    try {
      const { task } = await createTask(client, { ms: 200, value: 'stdio' });
      expect(task.status).toBe('working');
      expect((await taskResult(client, task.taskId)).structuredContent).toMatchObject({ value: 'stdio' });
      expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
      const long = (await createTask(client, { ms: 5000, value: 'stop' })).task;
      expect((await client.experimental.tasks.cancelTask(long.taskId)).status).toBe('cancelled');
    } finally {
      await client.close();
    }
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tool: string; phase: string; outcome?: string; errorCode?: string });
    const outcomes = audit.filter((r) => r.tool === 'echo_task' && r.phase === 'outcome');
    expect(outcomes.map((r) => r.outcome)).toContain('success');
    // The cancelled one: plainly cancelled when the cancel came before its handler started; echo_task
    // changes something, so once the handler ran its outcome is unknown (the kit cannot tell what it did).
    const stopped = outcomes.find((r) => r.outcome !== 'success');
    expect(STOPPED).toContainEqual([stopped?.outcome, stopped?.errorCode]);
  });
});

describe("a tool with taskSupport 'required'", () => {
  it('refuses a plain call with -32601 and runs as a task', async () => {
    const defineTool = createToolDefiner<object>();
    const only = defineTool({
      name: 'echo_only_task',
      title: 'Task only',
      description: 'Runs only as a task.',
      toolset: 'echo',
      tier: 'LOW',
      scopes: ['mcp:echo:read'],
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      task: 'required',
      input: z.object({ n: z.number().int() }),
      output: z.object({ n: z.number() }),
      handler: async ({ n }) => ({ n: n * 2 }),
    });
    const def = defineServer({
      name: 'echo',
      version: '0.0.0',
      description: 'required-task test',
      tools: [only],
      backendConfig: z.object({}),
      createServices: () => ({}),
    });
    const config = loadConfig({ backendSchema: def.backendConfig, env: { RAVENHELM_LOCAL_SCOPES: 'mcp:echo:read' } });
    const rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
    const server = createMcpServer({
      name: 'echo',
      version: '0.0.0',
      description: 'x',
      pipeline: rt.pipeline,
      localPrincipal: rt.localPrincipal,
      tasks: rt.tasks,
    });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(a);
    const client = new Client({ name: 'required-test', version: '1.0.0' });
    await client.connect(b);
    try {
      const { tools } = await client.listTools();
      expect(tools[0]?.execution).toEqual({ taskSupport: 'required' });
      const plain = await rejection(
        client.request(
          { method: 'tools/call', params: { name: 'echo_only_task', arguments: { n: 2 } } },
          CallToolResultSchema,
        ),
      );
      expect(plain.code).toBe(-32601);
      expect(plain.message).toMatch(/runs only as a task: send params.task/);
      const { task } = await createTask(client, { n: 21 }, 'echo_only_task');
      expect((await taskResult(client, task.taskId)).structuredContent).toEqual({ n: 42 });
    } finally {
      await client.close();
      await server.close();
      await rt.close();
    }
  });
});
