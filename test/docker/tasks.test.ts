/** compose_restart as an MCP task on the real engine, through the docker server's HTTP endpoint. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema,
  CreateTaskResultSchema,
  RELATED_TASK_META_KEY,
} from '@modelcontextprotocol/sdk/types.js';
import {
  createMemoryAuditSink,
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  localAuthenticator,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';

const fx = new DockerFixture('tasks');
const project = `task-${fx.prefix.slice(-6)}`;
const audit = createMemoryAuditSink();
let web: string;
let rt: SuiteRuntime;
let http: HttpServerHandle;
let client: Client;

beforeAll(async () => {
  await ensureImage();
  web = await fx.start({
    name: 'web',
    labels: { 'com.docker.compose.project': project, 'com.docker.compose.service': 'web' },
    script: 'sleep 600',
  });
  const config = loadConfig({
    backendSchema: dockerServer.backendConfig,
    backendEnv: dockerServer.backendEnv ?? {},
    env: { RAVENHELM_HTTP_PORT: '0', RAVENHELM_CALL_TIMEOUT_MS: '60000' },
  });
  rt = await createRuntime(dockerServer as never, config, silentLogger(), { audit });
  http = await startHttp(rt, {
    authenticator: localAuthenticator(rt.localPrincipal),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
  });
  client = new Client({ name: 'docker-tasks-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
}, 120_000);

afterAll(async () => {
  await client?.close();
  await http?.shutdown();
  await rt?.close();
  await fx.cleanup();
});

describe('compose_restart as an MCP task', () => {
  it('is listed as task-capable, runs in the background and its result comes from tasks/result', async () => {
    const { tools } = await client.listTools();
    expect(tools.find((t) => t.name === 'compose_restart')?.execution).toEqual({ taskSupport: 'optional' });
    const before = (await fx.inspect(web)).State.StartedAt;
    const { task } = await client.request(
      {
        method: 'tools/call',
        params: { name: 'compose_restart', arguments: { project, stopTimeoutSeconds: 1, waitSeconds: 30 }, task: {} },
      },
      CreateTaskResultSchema,
    );
    expect(task.status).toBe('working');
    const result = await client.request(
      { method: 'tasks/result', params: { taskId: task.taskId } },
      CallToolResultSchema,
      {
        timeout: 90_000,
      },
    );
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ project, action: 'restart', allReached: true });
    expect(result._meta?.[RELATED_TASK_META_KEY]).toEqual({ taskId: task.taskId });
    expect((await client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    expect((await fx.inspect(web)).State.StartedAt).not.toBe(before);
    const records = audit.records.filter((r) => r.requestId === task.taskId);
    expect(records.map((r) => [r.tool, r.phase, r.outcome ?? null])).toEqual([
      ['compose_restart', 'attempt', null],
      ['compose_restart', 'outcome', 'success'],
    ]);
  }, 120_000);
});
