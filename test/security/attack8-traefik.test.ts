/**
 * Eighth round against the Traefik server from outside (the real bin over stdio, the SDK Client, the simulator).
 * - hand-written YAML of the route directory (a file taken over, the blocking-file scan) was parsed by the yaml
 *   library on the main thread: 256 KiB of stray "]" (each one a syntax error, for which the library builds an
 *   Error) held the event loop for minutes and took hundreds of MB; every other call waited.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { confirmed, ok, type Structured } from '../traefik/harness.js';
import { sleep, traefikSession, until } from './traefik-session.js';

/** The bin's peak resident memory (VmHWM), in MB. */
function peakMb(client: Client): number {
  const pid = (client.transport as StdioClientTransport).pid;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/** `size` bytes of flow YAML that is one syntax error per byte after the first. */
const strayBrackets = (size: number) => `[${']'.repeat(size - 1)}`;

describe('hand-written YAML the parser would take minutes over', () => {
  const s = traefikSession({ env: { TRAEFIK_LOAD_TIMEOUT_MS: '600' } });

  it('the plan of a taken-over 256 KiB file answers in seconds, without it; other calls are not held', async () => {
    writeFileSync(join(s.fx.dir, 'hostile.yaml'), strayBrackets(256 * 1024));
    try {
      const started = Date.now();
      const plan = s.client.callTool({ name: 'routes_remove', arguments: { name: 'hostile', takeOver: true } });
      await sleep(500);
      const asked = Date.now();
      expect((await ok(s.client, 'overview_get')).sections).toHaveLength(8);
      expect(Date.now() - asked).toBeLessThan(5000);
      const meta = (await plan)._meta?.['ravenhelm/confirmation'] as { plan: string } | undefined;
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(meta?.plan).toMatch(
        /^remove .*hostile\.yaml:\n-# 1 lines not shown \(parsing it (takes more than \d+ ms|needs more than \d+ MB): not checked here for credentials\)/,
      );
      expect(peakMb(s.client)).toBeLessThan(350);
    } finally {
      rmSync(join(s.fx.dir, 'hostile.yaml'), { force: true });
    }
  }, 180_000);

  it('the blocking-file scan stops within its budget and names the file as unchecked', async () => {
    // within the scan's parse bound (64 KiB); the simulator, like yaml.v3, stops at the first error
    writeFileSync(join(s.fx.dir, 'a-hostile.yaml'), strayBrackets(60 * 1024));
    await until(() => s.fx.sim.fileError !== undefined, 10_000);
    try {
      const started = Date.now();
      const { result } = await confirmed(s.client, 'routes_apply', {
        name: 'blocked',
        rule: 'Host(`blocked.example.com`)',
        servers: ['http://10.0.0.9'],
        dryRun: false,
      });
      const took = Date.now() - started;
      const out = result.structuredContent as Structured;
      expect(out).toMatchObject({ written: true, loaded: false });
      expect(out.note).toMatch(/1 file\(s\) too large, too complex or too many to check here/);
      expect(out.note).toMatch(/the newest file this server did not write is "a-hostile\.yaml"/);
      expect(took).toBeLessThan(600 + 1500 + 5000);
    } finally {
      rmSync(join(s.fx.dir, 'a-hostile.yaml'), { force: true });
    }
  }, 180_000);
});
