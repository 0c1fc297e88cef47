/**
 * The audit log file removed or rotated (renamed, a new file created) under a running sink, on a real file
 * system: records written after that would land in a file nobody can see any more. Every write, durable
 * or not, must be refused from then on (the caller fails closed), and the sink's health must say why and
 * what to do, so /readyz can tell an orchestrator.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditEvent, createFileAuditSink, verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';

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
