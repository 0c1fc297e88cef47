/**
 * Every route that runs a tool call tells the backend slots whose call it is (the principal subject):
 * the HTTP fast path, the SDK server path, an MCP task (run in the background) and stdio. A tool here
 * takes a slot of a shared Semaphore and answers with the caller its backend call ran for. Callers are
 * carried once a backend queue has formed in the process (caller-context.ts), so the test forms one first.
 */
import { PassThrough } from 'node:stream';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { createToolDefiner, currentCaller, defineServer, Semaphore, startStdio } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Agents, serveAgents } from './fair-backend-harness.js';

interface Services {
  slots: Semaphore;
  seen: string[];
}

const defineTool = createToolDefiner<Services>();
const whoami = defineTool({
  name: 'slots_whoami',
  title: 'Whose backend call',
  description: 'Takes one backend slot and says which caller the call ran for.',
  toolset: 'slots',
  tier: 'LOW',
  scopes: ['mcp:fairq:read'],
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  task: 'optional',
  input: z.object({}),
  output: z.object({ caller: z.string() }),
  handler: async (_input, { slots, seen, signal }) => {
    const release = await slots.acquire(signal);
    try {
      await new Promise((r) => setTimeout(r, 5));
      const caller = currentCaller() ?? '(none)';
      seen.push(caller);
      return { caller };
    } finally {
      release();
    }
  },
});

const services: Services = { slots: new Semaphore(2), seen: [] };
const definition = defineServer({
  name: 'fairq',
  version: '0.0.0',
  description: 'Fair-share route test server',
  tools: [whoami],
  backendConfig: z.object({}),
  createServices: () => services,
});

const servers: Agents<Services>[] = [];
const serve = async (fastPath: boolean) => {
  const s = await serveAgents<Services>(definition, { env: {}, scopes: ['mcp:fairq:read'], agents: ['a'], fastPath });
  servers.push(s);
  return s;
};

beforeAll(async () => {
  // a backend queue in this process: from now on tool calls carry their caller
  const held = [await services.slots.acquire(), await services.slots.acquire()];
  const waiting = services.slots.acquire();
  for (const release of held) release();
  (await waiting)();
});

afterAll(async () => {
  for (const s of servers) await s.close();
});

const callerOf = (r: { structuredContent?: unknown }) => (r.structuredContent as { caller: string }).caller;

describe('the caller reaches the backend slots by every route', () => {
  it('HTTP fast path and SDK server path', async () => {
    for (const fastPath of [true, false]) {
      const s = await serve(fastPath);
      const r = await s.clients.a?.callTool({ name: 'slots_whoami', arguments: {} });
      expect(r?.isError, JSON.stringify(r?.content)).toBeFalsy();
      expect(callerOf(r as { structuredContent?: unknown })).toBe('agent-a');
    }
  });

  it('an MCP task run in the background', async () => {
    const s = await serve(true);
    const client = s.clients.a as NonNullable<(typeof s.clients)['a']>;
    const { task } = await client.request(
      { method: 'tools/call', params: { name: 'slots_whoami', arguments: {}, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const result = await client.request(
      { method: 'tasks/result', params: { taskId: task.taskId } },
      CallToolResultSchema,
    );
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    expect(callerOf(result)).toBe('agent-a');
  });

  it('stdio (the local principal)', async () => {
    const s = servers[0] ?? (await serve(true));
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stdio = await startStdio(s.rt, { stdin, stdout });
    const answers = new Map<number, Record<string, unknown>>();
    let buffered = '';
    stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const msg = JSON.parse(buffered.slice(0, nl)) as { id?: number; result?: Record<string, unknown> };
        buffered = buffered.slice(nl + 1);
        if (typeof msg.id === 'number' && msg.result) answers.set(msg.id, msg.result);
      }
    });
    const send = (m: object) => stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...m })}\n`);
    send({
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'fair-stdio', version: '1' } },
    });
    await expect.poll(() => answers.has(1)).toBe(true);
    send({ method: 'notifications/initialized' });
    send({ id: 2, method: 'tools/call', params: { name: 'slots_whoami', arguments: {} } });
    await expect.poll(() => answers.get(2)).toBeDefined();
    expect(callerOf(answers.get(2) as { structuredContent?: unknown })).toBe(s.rt.localPrincipal.subject);
    expect(s.rt.localPrincipal.subject).not.toBe('agent-a');
    await stdio.close();
  });

  it('work outside any tool call has no caller; every call above ran for its own', async () => {
    expect(currentCaller()).toBeUndefined();
    expect(services.seen).toHaveLength(4);
    expect(services.seen).not.toContain('(none)');
  });
});
