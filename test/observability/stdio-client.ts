/** The observability server over stdio, driven by the real SDK `Client` (output validation on). */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';

/** Starts the server from source with `env` (backend URLs, limits) and a connected client named `name`. */
export async function connectObservabilityStdio(name: string, env: Record<string, string>): Promise<Client> {
  const entry = tsEntry('servers/observability/src/bin.ts', ['--stdio']);
  const client = new Client({ name, version: '0' });
  await client.connect(
    new StdioClientTransport({
      command: entry.command,
      args: entry.args,
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stderr: 'ignore',
    }),
  );
  return client;
}
