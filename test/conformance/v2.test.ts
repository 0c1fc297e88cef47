/**
 * @modelcontextprotocol/conformance 0.2.x (needs Node 22+: run it with `scripts/node24.sh
 * --conformance`, which installs it into a scratch folder and sets RAVENHELM_CONFORMANCE_CLI).
 * Skipped under the machine's Node 20, where test/conformance/conformance.test.ts runs 0.1.13.
 * The server scenarios that apply to a tool server; the rest expect the SDK's fixture tools,
 * prompts and resources.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServerDefinition } from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { startConformanceTarget } from '../fixtures/conformance-target.js';

const run = promisify(execFile);
const BASELINE = fileURLToPath(new URL('./v2-baseline.yml', import.meta.url));
const CLI = process.env.RAVENHELM_CONFORMANCE_CLI;
/**
 * The 2025-11-25 and 2026-07-28 scenarios that apply; checks that need fixture tools or prompts and
 * resources are per-check expected failures in v2-baseline.yml. Not applicable (fixture tools):
 * tools-call-error, json-schema-2020-12, tools-call-*, prompts-*, resources-*, input-required-result-*.
 * RAVENHELM_CONFORMANCE_SCENARIOS=a,b overrides the list.
 */
const SCENARIOS = (
  process.env.RAVENHELM_CONFORMANCE_SCENARIOS ??
  'server-initialize,ping,tools-list,dns-rebinding-protection,server-stateless,http-header-validation,caching'
)
  .split(',')
  .filter(Boolean);

describe.skipIf(!CLI)('conformance 0.2.x (Node 24): docker server', () => {
  let stop: () => Promise<void>;
  let url: string;
  const def = dockerServer as unknown as ServerDefinition<object, z.ZodObject>;

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
      const result = await run(
        process.execPath,
        [CLI as string, 'server', '--url', url, '--scenario', scenario, '--expected-failures', BASELINE],
        { timeout: 60_000 },
      ).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (err: { code?: number; stdout?: string; message: string }) => ({
          code: err.code ?? 1,
          stdout: err.stdout ?? err.message,
        }),
      );
      // exit 0: every check passed or is a baselined expected failure (a stale baseline entry exits 1)
      expect(result.code, result.stdout).toBe(0);
      expect(result.stdout).toMatch(/Passed: [1-9]\d*\//);
    },
    90_000,
  );
});
