/** Calls Docker tools the way the server does: through invokeTool, with a real backend. */
import type { Principal } from '@ravenhelm/auth';
import { type AnyTool, invokeTool, RavenhelmError, silentLogger } from '@ravenhelm/kit';
import { DockerBackend, type DockerServices, RestartBudget, tools } from '@ravenhelm/mcp-docker';

export const principal: Principal = { subject: 'test', scopes: [], roles: [], source: 'stdio' };

export interface HarnessOptions {
  socketPath?: string;
  host?: string;
  timeoutMs?: number;
  maxRestarts?: number;
  windowSeconds?: number;
  maxResponseBytes?: number;
  maxConcurrentCalls?: number;
}

export function makeServices(opts: HarnessOptions = {}): DockerServices {
  return {
    docker: new DockerBackend({
      socketPath: opts.socketPath ?? '/var/run/docker.sock',
      host: opts.host,
      timeoutMs: opts.timeoutMs ?? 10_000,
      maxResponseBytes: opts.maxResponseBytes,
      maxConcurrentCalls: opts.maxConcurrentCalls,
    }),
    restartBudget: new RestartBudget({ maxRestarts: opts.maxRestarts ?? 3, windowSeconds: opts.windowSeconds ?? 600 }),
  };
}

export interface CallOptions {
  options?: Record<string, unknown>;
  maxOutputBytes?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field in each test
export type Result = Record<string, any>;

export async function call(
  tool: AnyTool<DockerServices>,
  args: unknown,
  services: DockerServices,
  opts: CallOptions = {},
): Promise<Result> {
  return invokeTool(
    tool,
    args,
    services,
    {
      signal: opts.signal ?? new AbortController().signal,
      logger: silentLogger(),
      principal,
      requestId: 'test',
      maxOutputBytes: opts.maxOutputBytes ?? 64 * 1024,
      options: opts.options ?? {},
    },
    { timeoutMs: opts.timeoutMs ?? 60_000 },
  );
}

/** Runs a call that must fail and returns the RavenhelmError (fails the test if it succeeds). */
export async function callError(
  tool: AnyTool<DockerServices>,
  args: unknown,
  services: DockerServices,
  opts: CallOptions = {},
): Promise<RavenhelmError> {
  try {
    await call(tool, args, services, opts);
  } catch (err) {
    if (err instanceof RavenhelmError) return err;
    throw err;
  }
  throw new Error(`${tool.name} succeeded but was expected to fail`);
}

/** A Docker tool by name (fails loudly when the name is wrong). */
export function tool(name: string): AnyTool<DockerServices> {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no Docker tool named ${name}`);
  return found;
}
