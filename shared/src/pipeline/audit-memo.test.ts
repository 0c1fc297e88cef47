import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AuditEvent,
  type AuditRecord,
  createFileAuditSink,
  createMemoryAuditSink,
  digestArgs,
  verifyAuditChain,
} from './audit.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-audit-memo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SENSITIVE = ['newValue'];
const event = (
  phase: AuditEvent['phase'],
  args: unknown,
  sensitiveKeys: readonly string[] = SENSITIVE,
): AuditEvent => ({
  server: 'echo',
  tool: 'echo_secret_rotate',
  tier: 'HIGH',
  principal: { subject: 'agent' },
  requestId: 'r1',
  phase,
  args,
  sensitiveKeys,
  ...(phase === 'outcome' ? { outcome: 'success' as const } : {}),
});

function records(path: string): AuditRecord[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditRecord);
}

describe('file audit sink: a call prepares its arguments once for attempt and outcome', () => {
  it('gives the outcome the attempt-time digest and redacted copy, and the chain verifies', async () => {
    const path = join(dir, 'memo.jsonl');
    const sink = await createFileAuditSink({ path });
    const args = { name: 'db', newValue: 'hunter2', nested: { n: 1 } };
    const digest = digestArgs(args);
    await sink.write(event('attempt', args), { durable: true });
    args.nested.n = 2; // a handler changing a nested value it was handed: the call was made with n = 1
    await sink.write(event('outcome', args), { durable: false });
    await sink.close();
    const [attempt, outcome] = records(path);
    expect(attempt?.argsDigest).toBe(digest);
    expect(outcome?.argsDigest).toBe(digest);
    expect(outcome?.args).toEqual({ name: 'db', newValue: '[redacted]', nested: { n: 1 } });
    expect(readFileSync(path, 'utf8')).not.toContain('hunter2');
    expect((await verifyAuditChain(path)).ok).toBe(true);
  });

  it('recomputes when the outcome names other sensitive keys, and forgets the arguments after the outcome', async () => {
    const path = join(dir, 'memo2.jsonl');
    const sink = await createFileAuditSink({ path });
    const args = { name: 'db', newValue: 'hunter2' };
    await sink.write(event('attempt', args), { durable: false });
    await sink.write(event('outcome', args, []), { durable: false });
    args.name = 'other';
    await sink.write(event('outcome', args), { durable: false }); // no attempt left to reuse: computed now
    await sink.close();
    const [, differentKeys, later] = records(path);
    expect(differentKeys?.args).toEqual({ name: 'db', newValue: 'hunter2' });
    expect(later?.args).toEqual({ name: 'other', newValue: '[redacted]' });
    expect(later?.argsDigest).toBe(digestArgs(args));
  });
});

describe('audit records: the repeated parts built once are still each record own', () => {
  it('keeps principals apart that a joined key would confuse, and names each record its own tool and server', async () => {
    const sink = createMemoryAuditSink();
    const principals = [
      { subject: 's', clientId: 'a|b' },
      { subject: 's', clientId: 'a', spiffeId: 'b' },
      { subject: 's|a', clientId: 'b' },
      { subject: 's', clientId: 'a|b' },
      { subject: 's' },
    ];
    for (const [i, principal] of principals.entries()) {
      await sink.write(
        { ...event('outcome', {}), principal, tool: i % 2 ? 'tool_a' : 'tool_b', server: i > 2 ? 'x' : 'y' },
        { durable: false },
      );
    }
    expect(sink.records.map((r) => [r.principal, r.tool, r.server])).toEqual(
      principals.map((p, i) => [p, i % 2 ? 'tool_a' : 'tool_b', i > 2 ? 'x' : 'y']),
    );
  });
});
