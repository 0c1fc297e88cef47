/** The no-op server the full-stack benchmarks run: only the kit is measured. */
import { createToolDefiner, defineServer } from '@ravenhelm/kit';
import { z } from 'zod';

const defineTool = createToolDefiner<object>();
const RO = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const RW = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

/** `bench_noop` is LOW; `bench_write` is MEDIUM (rate limited, attempt + outcome records). */
export const stackServer = defineServer({
  name: 'bench',
  version: '0.0.0',
  description: 'full-stack benchmark server',
  tools: [
    defineTool({
      name: 'bench_noop',
      title: 'No-op read',
      description: 'Returns immediately.',
      toolset: 'bench',
      tier: 'LOW',
      scopes: ['mcp:bench:read'],
      annotations: RO,
      input: z.object({ item: z.string().max(200).optional() }),
      output: z.object({ ok: z.boolean() }),
      handler: async () => ({ ok: true }),
    }),
    defineTool({
      name: 'bench_write',
      title: 'No-op write',
      description: 'A side-effecting no-op (MEDIUM: rate limited, attempt and outcome records).',
      toolset: 'bench',
      tier: 'MEDIUM',
      scopes: ['mcp:bench:write'],
      annotations: RW,
      input: z.object({ item: z.string().max(200).optional() }),
      output: z.object({ ok: z.boolean() }),
      handler: async () => ({ ok: true }),
    }),
  ],
  backendConfig: z.object({}),
  createServices: () => ({}),
});
