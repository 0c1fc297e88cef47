/** Calls observability tools the way the server does: through invokeTool, with real backends. */
import type { Principal } from '@ravenhelm/auth';
import { type AnyTool, invokeTool, RavenhelmError, silentLogger } from '@ravenhelm/kit';
import {
  createObservabilityServices,
  ObservabilityBackendConfig,
  type ObservabilityServices,
  tools,
} from '@ravenhelm/mcp-observability';
import type { z } from 'zod';

export const principal: Principal = { subject: 'test', scopes: [], roles: [], source: 'stdio' };

/** Services from a backend config section (validated by the server's own schema, defaults applied). */
export function makeServices(config: z.input<typeof ObservabilityBackendConfig> = {}): ObservabilityServices {
  return createObservabilityServices(ObservabilityBackendConfig.parse(config));
}

export interface CallOptions {
  maxOutputBytes?: number;
  timeoutMs?: number;
}

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field in each test
export type Result = Record<string, any>;

export async function call(
  name: string,
  args: unknown,
  services: ObservabilityServices,
  opts: CallOptions = {},
): Promise<Result> {
  return invokeTool(
    tool(name),
    args,
    services,
    {
      signal: new AbortController().signal,
      logger: silentLogger(),
      principal,
      requestId: 'test',
      maxOutputBytes: opts.maxOutputBytes ?? 64 * 1024,
      options: {},
    },
    { timeoutMs: opts.timeoutMs ?? 30_000 },
  );
}

/** Runs a call that must fail and returns the RavenhelmError (fails the test if it succeeds). */
export async function callError(
  name: string,
  args: unknown,
  services: ObservabilityServices,
  opts: CallOptions = {},
): Promise<RavenhelmError> {
  try {
    await call(name, args, services, opts);
  } catch (err) {
    if (err instanceof RavenhelmError) return err;
    throw err;
  }
  throw new Error(`${name} succeeded but was expected to fail`);
}

export function tool(name: string): AnyTool<ObservabilityServices> {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no observability tool named ${name}`);
  return found;
}
