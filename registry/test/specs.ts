import type { ToolSpec } from '../src/types.js';

/** A valid tool declaration as the registry sees it; override any field. */
export function spec(overrides: Partial<ToolSpec> = {}): ToolSpec {
  return {
    server: 'demo',
    name: 'things_list',
    title: 'List things',
    description: 'List every thing.',
    toolset: 'things',
    tier: 'LOW',
    scopes: ['mcp:demo:read'],
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    inputSchema: { type: 'object', properties: {} },
    outputSchema: { type: 'object', properties: {} },
    ...overrides,
  };
}

const WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const DESTRUCTIVE = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false };

/** A small server: a read tool, a write tool, a destructive tool and a HIGH admin tool in two toolsets. */
export function demoSpecs(server = 'demo'): ToolSpec[] {
  return [
    spec({ server, name: 'things_list', scopes: [`mcp:${server}:read`] }),
    spec({
      server,
      name: 'things_restart',
      title: 'Restart a thing',
      tier: 'MEDIUM',
      scopes: [`mcp:${server}:write`],
      annotations: WRITE,
    }),
    spec({
      server,
      name: 'things_delete',
      title: 'Delete a thing',
      tier: 'MEDIUM',
      scopes: [`mcp:${server}:write`],
      annotations: DESTRUCTIVE,
    }),
    spec({
      server,
      name: 'secrets_rotate',
      title: 'Rotate a secret',
      toolset: 'secrets',
      tier: 'HIGH',
      scopes: [`mcp:${server}:admin`],
      annotations: DESTRUCTIVE,
    }),
  ];
}
