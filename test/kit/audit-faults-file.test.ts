/**
 * The audit log file removed or rotated (renamed, a new file created) under a running sink, on a real file
 * system: records written after that would land in a file nobody can see any more. Every write, durable
 * or not, must be refused from then on (the caller fails closed), and the sink's health must say why and
 * what to do, so /readyz can tell an orchestrator.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type AuditEvent, createFileAuditSink, verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { sfxHighEnv } from '../fixtures/side-effect-env.js';
import { startHttpBin } from '../fixtures/spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-auditfault-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (i: number, tier: AuditEvent['tier'] = 'MEDIUM'): AuditEvent => ({
  server: 'sfx',
  tool: 'sfx_write',
  tier,
  principal: { subject: 'alice' },
  requestId: `r${i}`,
  phase: 'attempt',
  args: { value: `v${i}` },
});

describe('the audit log removed or rotated while open', () => {
  for (const fault of ['removed', 'rotated'] as const) {
    it(`${fault}: non-durable writes are refused too (not written where nobody sees them), health says so`, async () => {
      const path = join(dir, `${fault}.jsonl`);
      const sink = await createFileAuditSink({ path });
      await sink.write(event(1), { durable: false });
      expect(await sink.health?.()).toEqual({ ok: true });
      if (fault === 'removed') unlinkSync(path);
      else {
        renameSync(path, `${path}.1`);
        writeFileSync(path, '');
      }
      const medium = await Promise.allSettled([2, 3].map((i) => sink.write(event(i), { durable: false })));
      expect(medium.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(String((medium[0] as PromiseRejectedResult).reason.message)).toMatch(/removed or replaced/);
      await expect(sink.write(event(4, 'HIGH'), { durable: true })).rejects.toMatchObject({
        code: 'ERR_AUDIT_UNAVAILABLE',
      });
      const health = await sink.health?.();
      expect(health?.ok).toBe(false);
      expect(health?.reason).toMatch(/removed or replaced.*restart/);
      await sink.close();
      if (fault === 'rotated') {
        expect(readFileSync(path, 'utf8')).toBe(''); // nothing went to the new file either
        expect(await verifyAuditChain(`${path}.1`)).toMatchObject({ ok: true });
      }
    });
  }
});

/** Runs `body` against a fresh side-effect server on `path` with an SDK client, then stops both. */
async function withServer(path: string, sideEffects: string, body: (client: Client, url: string) => Promise<void>) {
  const server = await startHttpBin(
    'test/fixtures/side-effect-bin.ts',
    { ...sfxHighEnv(dir), RAVENHELM_AUDIT_FILE: path, SFX_LOG: sideEffects },
    { timeoutMs: 30_000 },
  );
  const client = new Client({ name: 'auditfault-file', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    await body(client, server.url);
  } finally {
    await client.close();
    await server.stop();
  }
}

describe('a real server whose audit log is removed', () => {
  it('refuses side effects with a clear error, /readyz says why and to restart, reads keep working', async () => {
    const path = join(dir, 'server.jsonl');
    const sideEffects = join(dir, 'server-side-effects.log');
    await withServer(path, sideEffects, async (client, url) => {
      expect((await client.callTool({ name: 'sfx_write', arguments: { value: 'before', ms: 0 } })).isError).toBeFalsy();
      unlinkSync(path);
      await expect(client.callTool({ name: 'sfx_write', arguments: { value: 'after', ms: 0 } })).rejects.toThrow(
        /sfx_write was not run: the audit log cannot be written/,
      );
      await expect(
        client.callTool({ name: 'sfx_grant', arguments: { value: 'after-high', secret: 'x', ms: 0 } }),
      ).rejects.toThrow(/ERR_AUDIT_UNAVAILABLE/);
      expect((await client.callTool({ name: 'sfx_read', arguments: { ms: 0 } })).isError).toBeFalsy();
      const ready = await fetch(new URL('/readyz', url), { signal: AbortSignal.timeout(5000) });
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(
        /refuses every write since the file was removed or replaced.*restart the server/,
      );
      // Neither side effect ran after the refusal ('after' was refused before its handler).
      expect(readFileSync(sideEffects, 'utf8').split('\n').filter(Boolean)).toEqual(['before']);
    });
    // A restart opens a new log at the path: side effects run again.
    await withServer(path, sideEffects, async (client, url) => {
      expect(
        (await client.callTool({ name: 'sfx_write', arguments: { value: 'restarted', ms: 0 } })).isError,
      ).toBeFalsy();
      expect((await fetch(new URL('/readyz', url))).status).toBe(200);
    });
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 });
  }, 60_000);
});
