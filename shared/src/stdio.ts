import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createMcpServer } from './mcp-server.js';
import type { SuiteRuntime } from './runtime.js';

/**
 * stdio: for Claude/Cursor `mcp.json`. No OAuth (the MCP spec says so); the caller is the local
 * principal from configuration, and HIGH tools stay off unless `local.allowHigh` is set.
 */
export async function startStdio(rt: SuiteRuntime): Promise<{ close(): Promise<void> }> {
  const mcp = createMcpServer({
    name: rt.definition.name,
    version: rt.definition.version,
    description: rt.definition.description,
    pipeline: rt.pipeline,
    localPrincipal: rt.localPrincipal,
    elicitation: true,
  });
  const transport = new StdioServerTransport();
  await mcp.connect(transport);
  rt.logger.info(
    { tools: rt.pipeline.listTools(rt.localPrincipal).length, subject: rt.localPrincipal.subject },
    'serving MCP over stdio',
  );
  return {
    async close() {
      await rt.pipeline.idle();
      await mcp.close();
    },
  };
}
