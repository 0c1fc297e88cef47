/**
 * Human approval (issue 16) through a real kit server over HTTP: a call under an `approve` policy waits
 * for people, runs exactly once with the approved arguments under the requester's identity, and every
 * refusal (rejected, expired, self-approval, a second approval by the same person, other arguments, a
 * replay) is refused and audited.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
// the CLI is its own bin, not part of the kit's exports (a bundle importing it would run it)
import { runApprovalsCli } from '../../shared/src/approvals-cli.js';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';

const AGENT_SPIFFE = 'spiffe://ravenhelm.local/agent/a';
const SECRET = 'hunter2-very-secret-value';
const tokens = {
  agent: {
    subject: 'agent-a',
    clientId: 'client-a',
    scopes: ['mcp:echo:admin'],
    roles: [],
    spiffeId: AGENT_SPIFFE,
  },
  agentB: { subject: 'agent-b', scopes: ['mcp:echo:write'], roles: [] },
  // The requesting agent's own subject also holding the approver scope: still cannot approve itself.
  agentApprover: { subject: 'agent-a', scopes: ['mcp:echo:write', 'mcp:approvals:approve'], roles: [] },
  alice: { subject: 'alice', scopes: ['mcp:approvals:approve'], roles: [] },
  bob: { subject: 'bob', scopes: [], roles: ['sec-approver'] },
  carol: { subject: 'carol', scopes: [], roles: ['sec-approver'] },
  eve: { subject: 'eve', scopes: ['mcp:echo:read'], roles: [] },
};
const POLICY = `
servers:
  echo:
    confirm: destructive
    spiffe:
      default: ['spiffe://ravenhelm.local/agent/*']
    tools:
      echo_delete:
        approve: { count: 1, ttl: 1m }
      echo_secret_rotate:
        approve: { approvers: sec-approver, count: 2, ttl: 10m }
`;

const auth = (t: keyof typeof tokens) => ({ authorization: `Bearer ${t}` });

async function api(
  h: EchoHarness,
  method: string,
  path: string,
  token?: keyof typeof tokens,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON bodies
): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(`${h.base}${path}`, {
    method,
    headers: {
      ...(token ? auth(token) : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

async function call(h: EchoHarness, token: keyof typeof tokens, name: string, args: Record<string, unknown>) {
  const r = await rpc(h.url, callBody(name, args), auth(token));
  expect(r.status).toBe(200);
  return r.json.result as {
    isError?: boolean;
    content: { text: string }[];
    structuredContent?: Record<string, unknown>;
    // biome-ignore lint/suspicious/noExplicitAny: _meta is open
    _meta?: any;
  };
}

async function request(h: EchoHarness, token: keyof typeof tokens, name: string, args: Record<string, unknown>) {
  const r = await call(h, token, name, args);
  expect(r.isError).toBe(true);
  expect(r.content[0]?.text).toMatch(/^ERR_APPROVAL_PENDING: nothing was run yet/);
  return r._meta['ravenhelm/approval'].requestId as string;
}

const runs = (h: EchoHarness, tool: string) => h.services.calls.filter((c) => c.tool === tool).length;
const recordsOf = (h: EchoHarness, id: string) =>
  h.audit.records.filter((r) => (r as { approval?: { id: string } }).approval?.id === id);

describe('human approval over HTTP', () => {
  let h: EchoHarness;
  let hook: Server;
  const hooks: unknown[] = [];
  beforeAll(async () => {
    hook = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        hooks.push(JSON.parse(body));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const port = (hook.address() as { port: number }).port;
    h = await startEcho({
      tokens,
      policy: POLICY,
      env: { RAVENHELM_APPROVALS_WEBHOOK_URL: `http://127.0.0.1:${port}/hook?token=${SECRET}-in-url` },
    });
  });
  afterAll(async () => {
    await h?.stop();
    await new Promise((resolve) => hook?.close(resolve));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists approvals_get_status and the approvalRequestId argument', async () => {
    const r = await rpc(h.url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, auth('agent'));
    const byName = new Map(r.json.result.tools.map((t: { name: string }) => [t.name, t]));
    // biome-ignore lint/suspicious/noExplicitAny: JSON schema
    const del = byName.get('echo_delete') as any;
    expect(del.inputSchema.properties.approvalRequestId.type).toBe('string');
    expect(del.inputSchema.properties.confirmationToken).toBeUndefined();
    expect(del.description).toMatch(/Needs human approval/);
    expect(byName.has('approvals_get_status')).toBe(true);
    // biome-ignore lint/suspicious/noExplicitAny: JSON schema
    expect((byName.get('echo_write') as any).inputSchema.properties.approvalRequestId).toBeUndefined();
  });

  it('pending -> approved -> runs exactly once, audited and linked; a replay is refused', async () => {
    const before = runs(h, 'echo_delete');
    const id = await request(h, 'agent', 'echo_delete', { item: 'x1' });
    expect(runs(h, 'echo_delete')).toBe(before);
    const pendingAudit = recordsOf(h, id);
    expect(pendingAudit).toHaveLength(1);
    expect(pendingAudit[0]).toMatchObject({
      outcome: 'pending',
      principal: { subject: 'agent-a' },
      tool: 'echo_delete',
    });

    // The agent's poll and a premature retry: still pending, nothing runs.
    const poll = await call(h, 'agent', 'approvals_get_status', { requestId: id });
    expect(poll.structuredContent).toMatchObject({ requestId: id, state: 'pending', count: 1 });
    const early = await call(h, 'agent', 'echo_delete', { item: 'x1', approvalRequestId: id });
    expect(early.content[0]?.text).toMatch(/^ERR_APPROVAL_PENDING/);
    expect(runs(h, 'echo_delete')).toBe(before);

    const listed = await api(h, 'GET', '/approvals', 'alice');
    expect(listed.status).toBe(200);
    const item = listed.json.approvals.find((a: { id: string }) => a.id === id);
    expect(item).toMatchObject({
      tool: 'echo_delete',
      plan: "delete item 'x1'",
      requester: { subject: 'agent-a', clientId: 'client-a', spiffeId: AGENT_SPIFFE },
      args: { item: 'x1' },
      approvers: 'mcp:approvals:approve',
      state: 'pending',
      canDecide: true,
    });
    expect(item.argsDigest).toBeUndefined();
    expect(item.secondsLeft).toBeGreaterThan(50);

    const approved = await api(h, 'POST', `/approvals/${id}/approve`, 'alice', { comment: 'go ahead' });
    expect(approved.status).toBe(200);
    expect(approved.json).toMatchObject({ state: 'approved', approvals: [{ subject: 'alice', comment: 'go ahead' }] });
    const poll2 = await call(h, 'agent', 'approvals_get_status', { requestId: id });
    expect(poll2.structuredContent).toMatchObject({ state: 'approved' });
    expect(String(poll2.structuredContent?.next)).toContain(`"approvalRequestId": "${id}"`);

    const ran = await call(h, 'agent', 'echo_delete', { item: 'x1', approvalRequestId: id });
    expect(ran.isError).toBeUndefined();
    expect(ran.structuredContent).toEqual({ deleted: 'x1' });
    expect(runs(h, 'echo_delete')).toBe(before + 1);

    const replay = await call(h, 'agent', 'echo_delete', { item: 'x1', approvalRequestId: id });
    expect(replay.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: approval request apr_\S+ was already used/);
    expect(runs(h, 'echo_delete')).toBe(before + 1);

    const trail = recordsOf(h, id).filter((r) => r.phase === 'outcome');
    expect(
      trail.map((r) => [r.principal.subject, r.outcome, (r as { approval?: { state: string } }).approval?.state]),
    ).toEqual([
      ['agent-a', 'pending', 'pending'],
      ['agent-a', 'pending', 'pending'],
      ['alice', 'success', 'approved'],
      ['agent-a', 'success', 'consumed'],
      ['agent-a', 'denied', 'consumed'],
    ]);
    expect(trail[3]).toMatchObject({ approval: { approvedBy: ['alice'] }, principal: { spiffeId: AGENT_SPIFFE } });
    expect(trail[4]).toMatchObject({ errorCode: 'ERR_APPROVAL_INVALID' });
    expect((await api(h, 'GET', '/approvals', 'alice')).json.approvals.map((a: { id: string }) => a.id)).not.toContain(
      id,
    );
  });

  it('an approval is for the plan people saw: when the target changed since, nothing runs and it is spent', async () => {
    const before = runs(h, 'echo_delete');
    h.services.itemNotes = new Map([['p1', 'unused for 90 days']]);
    const id = await request(h, 'agent', 'echo_delete', { item: 'p1' });
    const shown = (await api(h, 'GET', '/approvals', 'alice')).json.approvals.find((a: { id: string }) => a.id === id);
    expect(shown.plan).toBe("delete item 'p1' (unused for 90 days)");
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice')).status).toBe(200);
    h.services.itemNotes.set('p1', 'in use by 3 services'); // what the approvers did not see
    const ran = await call(h, 'agent', 'echo_delete', { item: 'p1', approvalRequestId: id });
    expect(ran.content[0]?.text).toBe(
      `ERR_CONFLICT: nothing was changed: what echo_delete would do now differs from the plan approval request ${id} approved (its target changed since). Plan now: delete item 'p1' (in use by 3 services)\nCall echo_delete again without approvalRequestId to request approval of this plan`,
    );
    expect(runs(h, 'echo_delete')).toBe(before);
    const replay = await call(h, 'agent', 'echo_delete', { item: 'p1', approvalRequestId: id });
    expect(replay.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: approval request apr_\S+ was already used/);
    expect(runs(h, 'echo_delete')).toBe(before);
    expect(
      recordsOf(h, id)
        .filter((r) => r.phase === 'outcome')
        .at(-2),
    ).toMatchObject({
      outcome: 'error',
      errorCode: 'ERR_CONFLICT',
      approval: { id, state: 'plan-changed', approvedBy: ['alice'] },
    });
    h.services.itemNotes = undefined;
  });

  it('a rejected request never runs', async () => {
    const before = runs(h, 'echo_delete');
    const id = await request(h, 'agent', 'echo_delete', { item: 'r1' });
    const rejected = await api(h, 'POST', `/approvals/${id}/reject`, 'alice', { comment: 'not during business hours' });
    expect(rejected.json).toMatchObject({ state: 'rejected', rejections: [{ subject: 'alice' }] });
    const retry = await call(h, 'agent', 'echo_delete', { item: 'r1', approvalRequestId: id });
    expect(retry.content[0]?.text).toBe(
      `ERR_APPROVAL_INVALID: approval request ${id} was rejected by alice ("not during business hours"): echo_delete was not run`,
    );
    expect(runs(h, 'echo_delete')).toBe(before);
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice')).status).toBe(409);
    expect(recordsOf(h, id).at(-1)).toMatchObject({ outcome: 'denied', errorCode: 'ERR_APPROVAL_CONFLICT' });
  });

  it('an expired request is gone: it cannot be approved, polled or run', async () => {
    const before = runs(h, 'echo_delete');
    const id = await request(h, 'agent', 'echo_delete', { item: 'e1' });
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice')).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 61_000);
    const retry = await call(h, 'agent', 'echo_delete', { item: 'e1', approvalRequestId: id });
    expect(retry.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: approval request apr_\S+ is unknown or expired/);
    expect(runs(h, 'echo_delete')).toBe(before);
    expect((await api(h, 'GET', `/approvals/${id}`, 'alice')).status).toBe(404);
    const poll = await call(h, 'agent', 'approvals_get_status', { requestId: id });
    expect(poll.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: .*unknown or expired/);
    expect(recordsOf(h, id).at(-1)).toMatchObject({ outcome: 'denied', approval: { state: 'not-found' } });
  });

  it('the requester can never approve its own request, even holding the approver scope', async () => {
    const id = await request(h, 'agent', 'echo_delete', { item: 's1' });
    const self = await api(h, 'POST', `/approvals/${id}/approve`, 'agentApprover');
    expect(self.status).toBe(403);
    expect(self.json.error).toMatchObject({ code: 'ERR_APPROVAL_FORBIDDEN' });
    expect(self.json.error.message).toMatch(/a requester can never approve its own request/);
    expect((await api(h, 'GET', `/approvals/${id}`, 'agentApprover')).json.canDecide).toBe(false);
    expect((await call(h, 'agent', 'echo_delete', { item: 's1', approvalRequestId: id })).content[0]?.text).toMatch(
      /^ERR_APPROVAL_PENDING/,
    );
    expect(recordsOf(h, id).at(-2)).toMatchObject({
      principal: { subject: 'agent-a' },
      outcome: 'denied',
      errorCode: 'ERR_APPROVAL_FORBIDDEN',
      approval: { decision: 'approve' },
    });
  });

  it('two people for count 2, never the same person twice; a secret never shows', async () => {
    const before = runs(h, 'echo_secret_rotate');
    const args = { name: 'db-password', newValue: SECRET };
    const id = await request(h, 'agent', 'echo_secret_rotate', args);
    // alice holds the default approver scope, not this tool's role: she does not see the request at all.
    expect((await api(h, 'GET', `/approvals/${id}`, 'alice')).status).toBe(404);
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice')).status).toBe(404);
    const shown = await api(h, 'GET', `/approvals/${id}`, 'bob');
    expect(shown.json.args).toEqual({ name: 'db-password', newValue: '[redacted]' });
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'bob', { comment: 'ops ok' })).json.state).toBe('pending');
    const twice = await api(h, 'POST', `/approvals/${id}/approve`, 'bob');
    expect(twice.status).toBe(409);
    expect(twice.json.error.message).toMatch(/the same person cannot approve twice/);
    expect((await call(h, 'agent', 'echo_secret_rotate', { ...args, approvalRequestId: id })).content[0]?.text).toMatch(
      /^ERR_APPROVAL_PENDING: .*1 of 2 approvals/s,
    );
    expect(runs(h, 'echo_secret_rotate')).toBe(before);
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'carol', { comment: 'sec ok' })).json.state).toBe(
      'approved',
    );
    const ran = await call(h, 'agent', 'echo_secret_rotate', { ...args, approvalRequestId: id });
    expect(ran.structuredContent).toEqual({ rotated: 'db-password' });
    expect(runs(h, 'echo_secret_rotate')).toBe(before + 1);
    expect(recordsOf(h, id).at(-1)).toMatchObject({ outcome: 'success', approval: { approvedBy: ['bob', 'carol'] } });

    // Nothing the server said or wrote carries the secret: audit, API, webhook messages.
    const everything = JSON.stringify([h.audit.records, shown.json, hooks, ran]);
    expect(everything).not.toContain(SECRET);
  });

  it("a tool's own view of its arguments (shownArgs) is what records and approvers see; the call runs them as given", async () => {
    const raw = 'blob-7?key=k3y-0f-the-item-41';
    const id = await request(h, 'agent', 'echo_delete', { item: raw });
    const shown = await api(h, 'GET', `/approvals/${id}`, 'alice');
    expect(shown.json.args).toEqual({ item: 'blob-7?key=[hidden]' });
    await api(h, 'POST', `/approvals/${id}/approve`, 'alice');
    const ran = await call(h, 'agent', 'echo_delete', { item: raw, approvalRequestId: id });
    expect(ran.structuredContent).toEqual({ deleted: raw });
    expect(h.services.calls.at(-1)).toEqual({ tool: 'echo_delete', args: { item: raw } });
    const records = recordsOf(h, id);
    expect(records.map((r) => r.args)).toContainEqual(shown.json.args);
    // Every record of the requester's calls carries one digest: that of the arguments as given.
    expect(new Set(records.filter((r) => r.principal.subject === 'agent-a').map((r) => r.argsDigest)).size).toBe(1);
    expect(JSON.stringify([h.audit.records, shown.json, hooks])).not.toContain('k3y-0f-the-item-41');

    // A view that fails shows nothing of the arguments, never the raw ones.
    const failing = await request(h, 'agent', 'echo_delete', { item: 'view-fails' });
    const notShown = '[arguments not shown: the tool could not redact them]';
    expect((await api(h, 'GET', `/approvals/${failing}`, 'alice')).json.args).toBe(notShown);
    expect(recordsOf(h, failing).map((r) => r.args)).toEqual([notShown]);
  });

  it('other arguments, another caller or a malformed id cannot use an approval; the approved call still can', async () => {
    const id = await request(h, 'agent', 'echo_delete', { item: 't1' });
    await api(h, 'POST', `/approvals/${id}/approve`, 'alice');
    const before = runs(h, 'echo_delete');
    const tampered = await call(h, 'agent', 'echo_delete', { item: 't2', approvalRequestId: id });
    expect(tampered.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: .* was made for other arguments/);
    const otherAgent = await call(h, 'agentB', 'echo_delete', { item: 't1', approvalRequestId: id });
    expect(otherAgent.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: .* another caller/);
    const malformed = await call(h, 'agent', 'echo_delete', { item: 't1', approvalRequestId: 'apr_../../x' });
    expect(malformed.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID: approvalRequestId must be the request id/);
    expect(runs(h, 'echo_delete')).toBe(before);
    const denied = recordsOf(h, id).filter((r) => r.outcome === 'denied');
    expect(denied.map((r) => r.principal.subject)).toEqual(['agent-a', 'agent-b']);
    expect((await call(h, 'agent', 'echo_delete', { item: 't1', approvalRequestId: id })).structuredContent).toEqual({
      deleted: 't1',
    });
    expect(runs(h, 'echo_delete')).toBe(before + 1);
    // Another agent cannot even poll it.
    expect((await call(h, 'agentB', 'approvals_get_status', { requestId: id })).content[0]?.text).toMatch(/not yours/);
  });

  it('a tool without approval refuses approvalRequestId', async () => {
    const r = await call(h, 'agentB', 'echo_write', { value: 'v', approvalRequestId: `apr_${'a'.repeat(32)}` });
    expect(r.content[0]?.text).toBe('ERR_INVALID_INPUT: echo_write takes no approvalRequestId: it needs no approval');
  });

  it('the operator API needs a token with an approver scope or role, and valid input', async () => {
    const none = await api(h, 'GET', '/approvals');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const eve = await api(h, 'GET', '/approvals', 'eve');
    expect(eve.status).toBe(403);
    expect(eve.headers.get('www-authenticate')).toMatch(
      /error="insufficient_scope", scope="mcp:approvals:approve sec-approver"/,
    );
    const id = await request(h, 'agent', 'echo_delete', { item: 'v1' });
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'eve')).status).toBe(403);
    const long = await api(h, 'POST', `/approvals/${id}/approve`, 'alice', { comment: 'x'.repeat(501) });
    expect(long.status).toBe(400);
    expect(long.json.error.message).toMatch(/comment: must be at most 500 characters/);
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice', { comment: 'ok', extra: 1 })).status).toBe(400);
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice', '{not json')).status).toBe(400);
    expect((await api(h, 'GET', `/approvals/${id}/approve`, 'alice')).status).toBe(405);
    expect((await api(h, 'GET', '/approvals/not-an-id', 'alice')).status).toBe(404);
    expect((await api(h, 'GET', '/approvals?state=weird', 'alice')).status).toBe(400);
    expect((await api(h, 'GET', `/approvals/${id}`, 'alice')).json.state).toBe('pending');
  });

  it('notifies the webhook with an Alertmanager-style message for each new request', async () => {
    const id = await request(h, 'agent', 'echo_delete', { item: 'w1' });
    await vi.waitFor(() => expect(hooks.some((m) => JSON.stringify(m).includes(id))).toBe(true), { timeout: 3000 });
    // biome-ignore lint/suspicious/noExplicitAny: webhook JSON
    const msg = hooks.find((m) => JSON.stringify(m).includes(id)) as any;
    expect(msg).toMatchObject({ version: '4', status: 'firing', receiver: 'ravenhelm-approvals' });
    expect(msg.alerts[0]).toMatchObject({
      status: 'firing',
      labels: {
        alertname: 'RavenhelmApprovalPending',
        server: 'echo',
        tool: 'echo_delete',
        approval_id: id,
        requester: 'agent-a',
        spiffe_id: AGENT_SPIFFE,
      },
      annotations: { description: "delete item 'w1'" },
    });
  });

  it('approvers see what runs: an agent cannot hide or reorder text in the console, the CLI or the webhook', async () => {
    // ESC [2K + CR erase the terminal line and print over it; U+202E reverses what follows in a browser;
    // the line feed starts a line that looks like one of the CLI's own fields.
    const item = "prod-db\u001b[2K\rdelete item 'tmp'\u202Epmt\n  approvers:  1 x nobody";
    const id = await request(h, 'agent', 'echo_delete', { item });
    const hidden = /(?!\n)[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

    const shown = await api(h, 'GET', `/approvals/${id}`, 'alice');
    expect(shown.status).toBe(200);
    expect(shown.json.plan).not.toMatch(hidden);
    expect(shown.json.plan).toContain('prod-db[U+001B][2K[U+000D]');
    expect(shown.json.plan).toContain('[U+202E]pmt');
    expect(JSON.stringify(shown.json.args)).toContain('[U+001B]');
    expect(shown.json.args.item).not.toMatch(hidden);

    const out: string[] = [];
    const code = await runApprovalsCli(['show', id, '--url', h.base], {
      env: { RAVENHELM_APPROVALS_TOKEN: 'alice' },
      out: { write: (s: string) => out.push(s) },
      err: { write: (s: string) => out.push(s) },
    });
    expect(code).toBe(0);
    const printed = out.join('');
    expect(printed).not.toMatch(hidden);
    expect(printed).toContain('prod-db[U+001B][2K[U+000D]');
    // the plan's second line is marked as the plan's; the one approvers field is the server's
    expect(printed).toContain("            |   approvers:  1 x nobody'");
    expect(printed.split('\n').filter((l) => l.startsWith('  approvers:'))).toEqual([
      '  approvers:  1 x mcp:approvals:approve; approved by nobody yet',
    ]);

    await vi.waitFor(() => expect(hooks.some((m) => JSON.stringify(m).includes(id))).toBe(true), { timeout: 3000 });
    // biome-ignore lint/suspicious/noExplicitAny: webhook JSON
    const msg = hooks.find((m) => JSON.stringify(m).includes(id)) as any;
    expect(msg.alerts[0].annotations.description).not.toMatch(hidden);
    expect(msg.alerts[0].annotations.description).toContain('[U+202E]');
    expect(JSON.parse(msg.alerts[0].annotations.arguments).item).not.toMatch(hidden);

    // What runs is what the agent asked for, byte for byte: only its display changed.
    expect((await api(h, 'POST', `/approvals/${id}/approve`, 'alice')).json.state).toBe('approved');
    const ran = await call(h, 'agent', 'echo_delete', { item, approvalRequestId: id });
    expect(ran.structuredContent).toEqual({ deleted: item });
  });

  it('the audit chain stays valid with approval records', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rh-apr-'));
    try {
      const file = join(dir, 'audit.jsonl');
      writeFileSync(file, `${h.audit.records.map((r) => JSON.stringify(r)).join('\n')}\n`);
      const verdict = await verifyAuditChain(file);
      expect(verdict).toEqual({ ok: true, records: h.audit.records.length });
      expect(h.audit.records.some((r) => (r as { approval?: unknown }).approval)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('works through the SDK client: pending is a readable error result, the status output validates', async () => {
    const client = new Client({ name: 'approvals-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(h.url), { requestInit: { headers: auth('agent') } }),
    );
    try {
      await client.listTools();
      const pending = await client.callTool({ name: 'echo_delete', arguments: { item: 'sdk' } });
      expect(pending.isError).toBe(true);
      // biome-ignore lint/suspicious/noExplicitAny: _meta
      const id = (pending._meta as any)['ravenhelm/approval'].requestId as string;
      const status = await client.callTool({ name: 'approvals_get_status', arguments: { requestId: id } });
      expect(status.structuredContent).toMatchObject({ state: 'pending' });
      await api(h, 'POST', `/approvals/${id}/approve`, 'alice');
      const ran = await client.callTool({ name: 'echo_delete', arguments: { item: 'sdk', approvalRequestId: id } });
      expect(ran.structuredContent).toEqual({ deleted: 'sdk' });
    } finally {
      await client.close();
    }
  });
});

describe('human approval: limits', () => {
  it('one agent cannot open more than 20 pending requests; others are not affected', async () => {
    const h = await startEcho({
      tokens: {
        a: { subject: 'flood', scopes: ['mcp:echo:write'], roles: [] },
        b: { subject: 'calm', scopes: ['mcp:echo:write'], roles: [] },
      },
      policy: 'servers:\n  echo:\n    tools:\n      echo_delete:\n        approve: {}\n',
      env: { RAVENHELM_RATE_LIMIT_POINTS: '1000' },
    });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await rpc(h.url, callBody('echo_delete', { item: `i${i}` }), { authorization: 'Bearer a' });
        expect(r.json.result.content[0].text).toMatch(/^ERR_APPROVAL_PENDING/);
      }
      const over = await rpc(h.url, callBody('echo_delete', { item: 'one-more' }), { authorization: 'Bearer a' });
      expect(over.json.result.content[0].text).toMatch(
        /^ERR_RATE_LIMITED: you already have 20 approval requests pending on this server/,
      );
      expect(over.json.result._meta['ravenhelm/error'].retryAfterSeconds).toBeGreaterThan(1700);
      const other = await rpc(h.url, callBody('echo_delete', { item: 'x' }), { authorization: 'Bearer b' });
      expect(other.json.result.content[0].text).toMatch(/^ERR_APPROVAL_PENDING/);
      expect((await h.rt.pipeline.approvals.list()).length).toBe(21);
    } finally {
      await h.stop();
    }
  });
});
