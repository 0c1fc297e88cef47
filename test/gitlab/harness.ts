/** Calls GitLab tools the way the server does (invokeTool, real gitbeaker client) against the simulator. */
import type { Principal } from '@ravenhelm/auth';
import { type AnyTool, invokeTool, RavenhelmError, silentLogger } from '@ravenhelm/kit';
import { GitLabBackend, type GitLabServices, tools } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll } from 'vitest';
import { BOT_TOKEN, type GitLabSim, startGitLabSim } from '../simulators/gitlab.js';

export const principal: Principal = { subject: 'test', scopes: [], roles: [], source: 'stdio' };

/** How a test's backend differs from the default: the bot's token, no allowlist, 5 s per request, 2 retries. */
export interface BackendOpts {
  allowlist?: string[];
  token?: string;
  /** Read the token from this file instead (GITLAB_TOKEN_FILE). */
  tokenFile?: string;
  timeoutMs?: number;
  maxRetries?: number;
  maxRetryWaitMs?: number;
  maxLogBytes?: number;
}

export interface Fixture {
  sim: GitLabSim;
  services: GitLabServices;
  close(): Promise<void>;
}

export async function start(opts: BackendOpts = {}): Promise<Fixture> {
  const sim = await startGitLabSim();
  const services = { gitlab: backendFor(sim.url, opts) };
  return { sim, services, close: () => sim.close() };
}

/**
 * A fresh simulator for the file (or describe block) that calls this: started before its tests, closed after
 * them. The fixture's fields are read through, so `fx.sim` and `fx.services` work inside the tests.
 */
export function simulatorFor(opts: BackendOpts = {}): Fixture {
  let current: Fixture | undefined;
  const live = (): Fixture => {
    if (!current) throw new Error('the GitLab simulator is started in beforeAll: use it inside tests');
    return current;
  };
  beforeAll(async () => {
    current = await start(opts);
  });
  afterAll(() => current?.close());
  return {
    get sim() {
      return live().sim;
    },
    get services() {
      return live().services;
    },
    close: () => live().close(),
  };
}

export function backendFor(url: string, opts: BackendOpts = {}): GitLabBackend {
  return new GitLabBackend({
    url,
    ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : { token: opts.token ?? BOT_TOKEN }),
    timeoutMs: opts.timeoutMs ?? 5000,
    maxRetries: opts.maxRetries ?? 2,
    maxRetryWaitMs: opts.maxRetryWaitMs ?? 2000,
    allowlist: opts.allowlist ?? ['**'],
    maxLogBytes: opts.maxLogBytes ?? 4 * 1024 * 1024,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field in each test
export type Result = Record<string, any>;

export async function call(
  name: string,
  args: unknown,
  services: GitLabServices,
  maxOutputBytes = 64 * 1024,
  timeoutMs = 30_000,
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
      maxOutputBytes,
      options: {},
    },
    { timeoutMs },
  );
}

export async function callError(name: string, args: unknown, services: GitLabServices): Promise<RavenhelmError> {
  try {
    await call(name, args, services);
  } catch (err) {
    if (err instanceof RavenhelmError) return err;
    throw err;
  }
  throw new Error(`${name} succeeded but was expected to fail`);
}

export function tool(name: string): AnyTool<GitLabServices> {
  const found = tools.find((t) => t.name === name);
  if (!found) throw new Error(`no GitLab tool named ${name}`);
  return found;
}
