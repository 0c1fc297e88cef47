/**
 * @modelcontextprotocol/conformance 0.1.13 server scenarios that apply to tool servers like ours,
 * run against every server with a real access token from the dev issuer, verified by the server's
 * OAuth wiring (a loopback proxy adds the header: the suite has no token flag). The other scenarios
 * expect fixture tools (test_simple_text, ...) we do not ship.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ServerDefinition } from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { observabilityServer } from '@ravenhelm/mcp-observability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { startConformanceTarget } from '../fixtures/conformance-target.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const run = promisify(execFile);
const CLI = `${REPO_ROOT}node_modules/@modelcontextprotocol/conformance/dist/index.js`;
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];
const SERVERS: ServerDefinition<object, z.ZodObject>[] = [dockerServer as never, observabilityServer as never];

describe.each(SERVERS.map((s) => [s.name, s] as const))('conformance: %s server', (_name, def) => {
  let stop: () => Promise<void>;
  let url: string;

  beforeAll(async () => {
    const target = await startConformanceTarget(def);
    url = target.url;
    stop = target.stop;
  }, 60_000);

  afterAll(async () => {
    await stop?.();
  });

  it.each(SCENARIOS)(
    '%s passes',
    async (scenario) => {
      const { stdout } = await run(process.execPath, [CLI, 'server', '--url', url, '--scenario', scenario], {
        timeout: 60_000,
      }).catch((err: { stdout?: string; message: string }) => ({ stdout: err.stdout ?? err.message }));
      const summary = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(stdout);
      expect(summary, stdout).not.toBeNull();
      expect(Number(summary?.[3]), stdout).toBe(0);
      expect(Number(summary?.[1]), stdout).toBe(Number(summary?.[2]));
      expect(Number(summary?.[1])).toBeGreaterThan(0);
    },
    90_000,
  );
});
