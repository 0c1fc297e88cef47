/**
 * A plan that returns its targets ({ text, bound }): whenever the kit runs a handler after checking a plan
 * (a confirmed call's re-plan, a plan the user accepted by elicitation, an approved call's re-plan), the
 * handler gets exactly that plan's `bound` as ctx.planned, so it acts on what people confirmed and not on
 * a lookup of its own made moments later. Every path that runs a confirmed call is covered: the pipeline
 * (stdio), the HTTP fast path, the SDK server path and MCP Tasks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import {
  type ApprovalStore,
  createApprovalStore,
  createMemoryAuditSink,
  createRuntime,
  createToolDefiner,
  defineServer,
  type HttpServerHandle,
  loadConfig,
  localAuthenticator,
  type SuiteRuntime,
  silentLogger,
  startHttp,
  type ToolResult,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callBody, HTTP_CALL_PATHS, rpc } from '../fixtures/kit-harness.js';

interface Target {
  target: string;
}

/** The "backend": what a target name resolves to now, and what each handler saw. */
interface World {
  target: string;
  /** Every bound a plan handed out, in order: the handler must get the very object of the checked plan. */
  bounds: Target[];
  runs: { tool: string; hasPlanned: boolean; planned: unknown; current: string }[];
  /** Runs once right after the next plan is made: the backend changing between the check and the handler. */
  afterPlan?: (() => void) | undefined;
}

const world: World = { target: 'a', bounds: [], runs: [] };

const defineTool = createToolDefiner<{ world: World }>();
const DESTRUCTIVE = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };
const Out = z.object({ acted: z.string() });

function boundPlan(verb: string) {
  return (_input: unknown, ctx: { world: World }) => {
    const bound = { target: ctx.world.target };
    ctx.world.bounds.push(bound);
    const after = ctx.world.afterPlan;
    ctx.world.afterPlan = undefined;
    after?.();
    return { text: `${verb} ${bound.target}`, bound };
  };
}

function record(tool: string, ctx: { world: World; planned?: unknown }): { acted: string } {
  ctx.world.runs.push({
    tool,
    hasPlanned: Object.hasOwn(ctx, 'planned'),
    planned: ctx.planned,
    current: ctx.world.target,
  });
  return { acted: (ctx.planned as Target | undefined)?.target ?? ctx.world.target };
}

const tools = [
  defineTool({
    name: 'thing_delete',
    title: 'Delete the thing',
    description: 'Deletes the current thing.',
    toolset: 'thing',
    tier: 'MEDIUM',
    scopes: ['mcp:thing:write'],
    annotations: DESTRUCTIVE,
    input: z.object({}),
    output: Out,
    task: 'optional',
    plan: boundPlan('delete'),
    handler: async (_i, ctx) => record('thing_delete', ctx),
  }),
  defineTool({
    name: 'thing_wipe',
    title: 'Wipe the thing',
    description: 'Wipes the current thing (a plain-text plan).',
    toolset: 'thing',
    tier: 'MEDIUM',
    scopes: ['mcp:thing:write'],
    annotations: DESTRUCTIVE,
    input: z.object({ reason: z.string().optional() }),
    output: Out,
    plan: ({ reason }, ctx) => `wipe ${ctx.world.target}${reason ? ` because ${reason}` : ''}`,
    handler: async (_i, ctx) => record('thing_wipe', ctx),
  }),
  defineTool({
    name: 'thing_purge',
    title: 'Purge the thing',
    description: 'Purges the current thing (under approval).',
    toolset: 'thing',
    tier: 'MEDIUM',
    scopes: ['mcp:thing:write'],
    annotations: DESTRUCTIVE,
    input: z.object({}),
    output: Out,
    plan: boundPlan('purge'),
    handler: async (_i, ctx) => record('thing_purge', ctx),
  }),
  defineTool({
    name: 'thing_drop',
    title: 'Drop the thing',
    description: 'Drops the current thing (the policy asks no confirmation).',
    toolset: 'thing',
    tier: 'MEDIUM',
    scopes: ['mcp:thing:write'],
    annotations: DESTRUCTIVE,
    input: z.object({}),
    output: Out,
    plan: boundPlan('drop'),
    handler: async (_i, ctx) => record('thing_drop', ctx),
  }),
];

const thingServer = defineServer({
  name: 'thing',
  version: '0.0.0',
  description: 'Test server for planned targets',
  tools,
  backendConfig: z.object({}),
  createServices: () => ({ world }),
});

const POLICY = `
servers:
  thing:
    confirm: destructive
    tools:
      thing_purge:
        approve: { count: 1, ttl: 1m }
      thing_drop:
        confirm: false
`;

let dir: string;
let rt: SuiteRuntime;
let approvals: ApprovalStore;
let http: HttpServerHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rh-planned-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, POLICY);
  const config = loadConfig({
    backendSchema: thingServer.backendConfig,
    env: { RAVENHELM_HTTP_PORT: '0', RAVENHELM_CALL_TIMEOUT_MS: '5000' },
    overrides: { policyFile },
  });
  approvals = createApprovalStore({ server: 'thing' });
  rt = await createRuntime(thingServer as never, config, silentLogger(), {
    audit: createMemoryAuditSink(),
    approvals,
  });
  http = await startHttp(rt, {
    authenticator: localAuthenticator(rt.localPrincipal),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
  });
});

afterAll(async () => {
  await http?.shutdown();
  await rt?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  world.target = 'a';
  world.bounds = [];
  world.runs = [];
  world.afterPlan = undefined;
});

const call = (name: string, args: Record<string, unknown> = {}, meta = {}) =>
  rt.pipeline.call(rt.localPrincipal, name, args, meta);

function tokenOf(r: ToolResult): string {
  expect(r.isError).toBe(true);
  expect(r.content[0]?.text).toMatch(/^ERR_CONFIRMATION_REQUIRED/);
  return metaOf<{ token: string }>(r, 'ravenhelm/confirmation').token;
}

/** One `_meta` entry of a result (the test fails when it is missing). */
function metaOf<T>(r: { _meta?: Record<string, unknown> | undefined }, key: string): T {
  const value = r._meta?.[key];
  expect(value, key).toBeDefined();
  return value as T;
}

/** The backend moves on right after the next plan: what a handler's own lookup would then find. */
const changeRightAfterNextPlan = (to: string) => {
  world.afterPlan = () => {
    world.target = to;
  };
};

describe('ctx.planned: the handler acts on the plan the kit checked', () => {
  it('a confirmed call hands the handler the bound of its re-plan, not of a later lookup', async () => {
    const token = tokenOf(await call('thing_delete'));
    expect(world.runs).toEqual([]);
    changeRightAfterNextPlan('b');
    const r = await call('thing_delete', { confirmationToken: token });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toEqual({ acted: 'a' });
    expect(world.bounds).toHaveLength(2);
    expect(world.runs).toEqual([{ tool: 'thing_delete', hasPlanned: true, planned: { target: 'a' }, current: 'b' }]);
    // the very object the re-plan (the checked one) returned, not the first plan's
    expect(world.runs[0]?.planned).toBe(world.bounds[1]);
  });

  it('a target changed before the re-plan still refuses the confirmed call (ERR_CONFLICT), nothing run', async () => {
    const token = tokenOf(await call('thing_delete'));
    world.target = 'c';
    const r = await call('thing_delete', { confirmationToken: token });
    expect(r.content[0]?.text).toMatch(/^ERR_CONFLICT: nothing was changed/);
    expect(world.runs).toEqual([]);
  });

  it('a plan the user accepted by elicitation: the handler gets exactly that plan bound', async () => {
    const shown: string[] = [];
    const r = await call(
      'thing_delete',
      {},
      {
        elicitConfirmation: async (plan: string) => {
          shown.push(plan);
          world.target = 'b'; // changes while the user reads the dialog
          return true;
        },
      },
    );
    expect(shown).toEqual(['delete a']);
    expect(r.structuredContent).toEqual({ acted: 'a' });
    expect(world.bounds).toHaveLength(1);
    expect(world.runs[0]?.planned).toBe(world.bounds[0]);
    expect(world.runs[0]?.current).toBe('b');
    const declined = await call('thing_delete', {}, { elicitConfirmation: async () => false });
    expect(declined.content[0]?.text).toMatch(/the user declined/);
    expect(world.runs).toHaveLength(1);
  });

  it('an approved call hands the handler the bound of the re-plan that matched the approved plan', async () => {
    const first = await call('thing_purge');
    expect(first.content[0]?.text).toMatch(/^ERR_APPROVAL_PENDING/);
    const id = metaOf<{ requestId: string }>(first, 'ravenhelm/approval').requestId;
    expect((await approvals.decide(id, { subject: 'alice', approve: true })).ok).toBe(true);
    changeRightAfterNextPlan('b');
    const r = await call('thing_purge', { approvalRequestId: id });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toEqual({ acted: 'a' });
    expect(world.bounds).toHaveLength(2);
    expect(world.runs).toEqual([{ tool: 'thing_purge', hasPlanned: true, planned: { target: 'a' }, current: 'b' }]);
    expect(world.runs[0]?.planned).toBe(world.bounds[1]);
  });

  it('a plain-text plan confirms as before and leaves ctx.planned absent', async () => {
    const token = tokenOf(await call('thing_wipe'));
    expect(token).toMatch(/\./); // bound to the plan's digest as before
    const r = await call('thing_wipe', { confirmationToken: token });
    expect(r.structuredContent).toEqual({ acted: 'a' });
    expect(world.runs).toEqual([{ tool: 'thing_wipe', hasPlanned: false, planned: undefined, current: 'a' }]);
  });

  it('a plan reads its arguments as the call does: null for an optional one is absent', async () => {
    const asked = await call('thing_wipe', { reason: null });
    expect(asked.content[0]?.text).toContain('wipe a');
    expect(asked.content[0]?.text).not.toContain('thing_wipe) with'); // not the generic plan
    const r = await call('thing_wipe', { reason: null, confirmationToken: tokenOf(asked) });
    expect(r.structuredContent).toEqual({ acted: 'a' });
  });

  it('no confirmation, no plan checked: ctx.planned is absent', async () => {
    const r = await call('thing_drop');
    expect(r.structuredContent).toEqual({ acted: 'a' });
    expect(world.bounds).toEqual([]);
    expect(world.runs).toEqual([{ tool: 'thing_drop', hasPlanned: false, planned: undefined, current: 'a' }]);
  });

  it.each(HTTP_CALL_PATHS)('over HTTP (%s), a confirmed call gets the checked plan bound', async (_name, fast) => {
    const h = fast
      ? http
      : await startHttp(rt, {
          authenticator: localAuthenticator(rt.localPrincipal),
          authorizationServers: ['http://127.0.0.1:1/issuer'],
          toolCallFastPath: false,
        });
    try {
      const first = await rpc(h.url, callBody('thing_delete'));
      const token = first.json.result._meta['ravenhelm/confirmation'].token as string;
      changeRightAfterNextPlan('b');
      const second = await rpc(h.url, callBody('thing_delete', { confirmationToken: token }));
      expect(second.json.result.structuredContent).toEqual({ acted: 'a' });
      expect(world.runs[0]?.planned).toBe(world.bounds[1]);
    } finally {
      if (h !== http) await h.shutdown();
    }
  });

  it('as an MCP task, a confirmed call gets the checked plan bound', async () => {
    const client = new Client({ name: 'planned-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(http.url)));
    try {
      const first = await client.callTool({ name: 'thing_delete', arguments: {} });
      const token = metaOf<{ token: string }>(first, 'ravenhelm/confirmation').token;
      changeRightAfterNextPlan('b');
      const { task } = await client.request(
        { method: 'tools/call', params: { name: 'thing_delete', arguments: { confirmationToken: token }, task: {} } },
        CreateTaskResultSchema,
      );
      const result = await client.request(
        { method: 'tasks/result', params: { taskId: task.taskId } },
        CallToolResultSchema,
      );
      expect(result.structuredContent).toEqual({ acted: 'a' });
      expect(world.runs).toHaveLength(1);
      expect(world.runs[0]?.planned).toBe(world.bounds[1]);
      expect(world.runs[0]?.current).toBe('b');
    } finally {
      await client.close();
    }
  });
});
