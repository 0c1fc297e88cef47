/**
 * A tool's `logger` is the server logger's child with the call's tool and request id, made on first use
 * (pipeline.ts `lazyChild`): what a handler logs must go through that child.
 */
import {
  createMemoryAuditSink,
  createRuntime,
  createToolDefiner,
  defineServer,
  type Logger,
  loadConfig,
  silentLogger,
} from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const defineTool = createToolDefiner<object>();
const server = defineServer({
  name: 'logs',
  version: '0.0.0',
  description: 'tool logger test',
  tools: [
    defineTool({
      name: 'logs_write',
      title: 'Log a line',
      description: 'Logs one line through the context logger.',
      toolset: 'logs',
      tier: 'LOW',
      scopes: ['mcp:logs:read'],
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      input: z.object({ n: z.number().int().optional() }),
      output: z.object({ level: z.string() }),
      handler: async ({ n }, ctx) => {
        if (n === undefined) return { level: 'untouched' }; // never reads ctx.logger
        if (n > 0) ctx.logger.info({ n, token: 'hunter2' }, 'tool says hello');
        return { level: ctx.logger.level };
      },
    }),
  ],
  backendConfig: z.object({}),
  createServices: () => ({}),
});

describe('the tool context logger', () => {
  it('is the child with the tool and request id, made when the handler first uses it', async () => {
    // The server logger's child() records its bindings and what is logged through the child.
    const children: { bindings: Record<string, unknown>; logged: unknown[][] }[] = [];
    const logger = silentLogger();
    logger.child = ((bindings: Record<string, unknown>) => {
      const made = { bindings, logged: [] as unknown[][] };
      children.push(made);
      return { level: 'info', info: (...args: unknown[]) => made.logged.push(args) } as unknown as Logger;
    }) as unknown as Logger['child'];
    const config = loadConfig({ backendSchema: server.backendConfig, env: { RAVENHELM_HTTP_PORT: '0' } });
    const rt = await createRuntime(server as never, config, logger, { audit: createMemoryAuditSink() });
    try {
      const principal = { subject: 'p', scopes: ['mcp:logs:read'], roles: [], source: 'stdio' as const };
      const before = children.length;
      await rt.pipeline.call(principal, 'logs_write', {}, { requestId: 'req-untouched' });
      expect(children.length).toBe(before); // a call that never logs makes no child
      const quiet = await rt.pipeline.call(principal, 'logs_write', { n: 0 }, { requestId: 'req-quiet' });
      expect(quiet.structuredContent).toEqual({ level: 'info' }); // read through the child
      await rt.pipeline.call(principal, 'logs_write', { n: 7 }, { requestId: 'req-7' });
      const made = children.slice(before);
      expect(made.map((c) => c.bindings)).toEqual([
        { tool: 'logs_write', requestId: 'req-quiet' },
        { tool: 'logs_write', requestId: 'req-7' },
      ]);
      expect(made[1]?.logged).toEqual([[{ n: 7, token: 'hunter2' }, 'tool says hello']]);
    } finally {
      await rt.close();
    }
  });
});
