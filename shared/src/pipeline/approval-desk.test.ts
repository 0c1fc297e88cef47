import type { Principal } from '@ravenhelm/auth';
import { parsePolicy, Registry, type ToolSpec } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { RavenhelmError } from '../errors.js';
import { silentLogger } from '../logging.js';
import { ApprovalDesk } from './approval-desk.js';
import { createApprovalStore } from './approvals.js';
import { createMemoryAuditSink } from './audit.js';

const spec = (name: string): ToolSpec => ({
  server: 'demo',
  name,
  title: name,
  description: name,
  toolset: 'things',
  tier: 'MEDIUM',
  scopes: ['mcp:demo:write'],
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  inputSchema: { type: 'object' },
  outputSchema: { type: 'object' },
});
const who = (subject: string, scopes: string[] = [], roles: string[] = []): Principal => ({
  subject,
  scopes,
  roles,
  source: 'oauth',
});

function setup() {
  const registry = new Registry(
    [spec('things_restart'), spec('things_delete')],
    parsePolicy(
      'servers:\n  demo:\n    tools:\n      things_restart: { approve: {} }\n      things_delete: { approve: { approvers: ops, count: 2 } }\n',
    ),
  );
  const store = createApprovalStore({ server: 'demo' });
  const audit = createMemoryAuditSink();
  const desk = new ApprovalDesk({ server: 'demo', store, registry, audit, logger: silentLogger() });
  const make = (tool: string, approvers: string, count: 1 | 2) =>
    store.create({
      server: 'demo',
      tool,
      requester: { subject: 'agent' },
      argsDigest: 'sha256:secret-digest',
      args: { x: 1 },
      plan: `do ${tool}`,
      approvers,
      count,
      ttlSeconds: 60,
    });
  return { desk, audit, make };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RavenhelmError);
  return (e as RavenhelmError).code;
}

describe('ApprovalDesk', () => {
  it('needs one of the approver credentials in force, by scope or by role', async () => {
    const { desk } = setup();
    expect(await codeOf(desk.list(who('eve', ['mcp:demo:write'])))).toBe('ERR_APPROVAL_FORBIDDEN');
    await expect(desk.list(who('op', [], ['ops']))).resolves.toEqual([]);
    await expect(desk.list(who('al', ['mcp:approvals:approve']))).resolves.toEqual([]);
  });

  it('shows each operator only the requests whose rule they hold, never the digest', async () => {
    const { desk, make } = setup();
    const a = await make('things_restart', 'mcp:approvals:approve', 1);
    const b = await make('things_delete', 'ops', 2);
    const alice = who('alice', ['mcp:approvals:approve']);
    const listed = await desk.list(alice);
    expect(listed.map((v) => v.id)).toEqual([a.id]);
    expect(listed[0]).not.toHaveProperty('argsDigest');
    expect(JSON.stringify(listed)).not.toContain('secret-digest');
    expect(await codeOf(desk.get(alice, b.id))).toBe('ERR_APPROVAL_NOT_FOUND');
    expect((await desk.get(who('op', [], ['ops']), b.id)).canDecide).toBe(true);
    expect((await desk.get(who('agent', [], ['ops']), b.id)).canDecide).toBe(false);
  });

  it('audits every decision, accepted or refused, with the approver as principal', async () => {
    const { desk, make, audit } = setup();
    const b = await make('things_delete', 'ops', 2);
    await desk.decide(who('op1', [], ['ops']), b.id, true, 'fine');
    expect(await codeOf(desk.decide(who('op1', [], ['ops']), b.id, true))).toBe('ERR_APPROVAL_CONFLICT');
    expect(await codeOf(desk.decide(who('agent', [], ['ops']), b.id, true))).toBe('ERR_APPROVAL_FORBIDDEN');
    const done = await desk.decide(who('op2', [], ['ops']), b.id, true);
    expect(done.state).toBe('approved');
    expect(
      audit.records.map((r) => [
        r.principal.subject,
        r.outcome,
        r.errorCode ?? null,
        (r as { approval?: unknown }).approval,
      ]),
    ).toEqual([
      ['op1', 'success', null, { id: b.id, state: 'pending', decision: 'approve', approvedBy: ['op1'] }],
      [
        'op1',
        'denied',
        'ERR_APPROVAL_CONFLICT',
        { id: b.id, state: 'pending', decision: 'approve', approvedBy: ['op1'] },
      ],
      [
        'agent',
        'denied',
        'ERR_APPROVAL_FORBIDDEN',
        { id: b.id, state: 'pending', decision: 'approve', approvedBy: ['op1'] },
      ],
      ['op2', 'success', null, { id: b.id, state: 'approved', decision: 'approve', approvedBy: ['op1', 'op2'] }],
    ]);
    expect(audit.records.every((r) => r.tool === 'things_delete' && r.tier === 'MEDIUM')).toBe(true);
  });
});
