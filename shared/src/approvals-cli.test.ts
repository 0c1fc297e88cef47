import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, rpc, startEcho } from '../../test/fixtures/kit-harness.js';
import { makeCa, makeLeaf } from '../../test/fixtures/pki.js';
import { runApprovalsCli } from './approvals-cli.js';

const tokens = {
  'agent-token': { subject: 'agent-a', scopes: ['mcp:echo:write'], roles: [], spiffeId: 'spiffe://td/agent/a' },
  'alice-token': { subject: 'alice', scopes: ['mcp:approvals:approve'], roles: [] },
  'eve-token': { subject: 'eve', scopes: ['mcp:echo:read'], roles: [] },
};
const POLICY = 'servers:\n  echo:\n    tools:\n      echo_delete:\n        approve: { count: 1, ttl: 5m }\n';

function sink() {
  let text = '';
  return {
    write(s: string) {
      text += s;
    },
    get text() {
      return text;
    },
  };
}

async function cli(argv: string[], env: Record<string, string> = { RAVENHELM_APPROVALS_TOKEN: 'alice-token' }) {
  const out = sink();
  const err = sink();
  const code = await runApprovalsCli(argv, { env, out, err });
  return { code, out: out.text, err: err.text };
}

describe('ravenhelm-approvals', () => {
  let h: EchoHarness;
  let id: string;
  beforeAll(async () => {
    h = await startEcho({ tokens, policy: POLICY });
    const first = await rpc(h.url, callBody('echo_delete', { item: 'cli' }), { authorization: 'Bearer agent-token' });
    id = first.json.result._meta['ravenhelm/approval'].requestId;
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('lists and shows pending requests with plan, requester and SPIFFE ID', async () => {
    const list = await cli(['list', '--url', h.base]);
    expect(list).toMatchObject({ code: 0, err: '' });
    expect(list.out).toContain(`${id}  pending  echo/echo_delete`);
    expect(list.out).toContain("plan:       delete item 'cli'");
    expect(list.out).toContain('requested by agent-a, spiffe://td/agent/a');
    const json = await cli(['show', id, '--url', h.base, '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ id, state: 'pending', canDecide: true });
  });

  it('approves with a comment read from argv and the token from the named variable', async () => {
    const r = await cli(['approve', id, '--url', h.base, '--comment', 'looks right', '--token-env', 'MY_TOKEN'], {
      MY_TOKEN: 'alice-token',
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^approved: echo_delete may now run once/);
    const again = await cli(['approve', id, '--url', h.base]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/^ERR_APPROVAL_CONFLICT: /);
    expect((await cli(['list', '--url', h.base])).out).toBe('no pending approval requests\n');
    expect((await cli(['list', '--all', '--url', h.base])).out).toContain(`${id}  approved`);
  });

  it('refuses a token in argv, a missing token, a bad URL, id or comment, without calling the server', async () => {
    const token = await cli(['list', '--url', h.base, '--token', 'alice-token']);
    expect(token.code).toBe(2);
    expect(token.err).toMatch(/never accepted on the command line/);
    expect(token.err).not.toContain('alice-token');
    expect((await cli(['list', '--url', h.base], {})).err).toMatch(/RAVENHELM_APPROVALS_TOKEN is empty/);
    expect((await cli(['list', '--url', 'http://example.com'])).err).toMatch(/must use https:\/\//);
    expect((await cli(['list', '--url', 'ftp://x'])).code).toBe(2);
    expect((await cli(['show', 'apr_short', '--url', h.base])).err).toMatch(/must be an approval request id/);
    expect((await cli(['approve', id, '--url', h.base, '--comment', 'a\u0007b'])).err).toMatch(/control characters/);
    expect((await cli(['list', id, '--url', h.base])).code).toBe(2);
    expect((await cli(['frobnicate', '--url', h.base])).err).toMatch(/^usage: /);
  });

  it('reports the server refusing (no approver scope) and an unreachable server', async () => {
    const eve = await cli(['list', '--url', h.base], { RAVENHELM_APPROVALS_TOKEN: 'eve-token' });
    expect(eve.code).toBe(1);
    expect(eve.err).toMatch(/^ERR_APPROVAL_FORBIDDEN: approving needs the scope or role mcp:approvals:approve/);
    const gone = await cli(['list', '--url', 'http://127.0.0.1:1']);
    expect(gone.code).toBe(3);
    // fetch says only "TypeError: fetch failed": the cause tells a closed port from an untrusted certificate.
    expect(gone.err).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1: TypeError \(bad port\); check --url/);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const refused = await cli(['list', '--url', `http://127.0.0.1:${port}`]);
    expect(refused.err).toMatch(/:\d+: ECONNREFUSED; check --url and that the server runs/);
    const ca = await makeCa({ name: 'untrusted-ca' });
    const leaf = await makeLeaf({ ca, dns: ['localhost'], ips: ['127.0.0.1'] });
    const tls = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('[]'));
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    try {
      const url = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
      const untrusted = await cli(['list', '--url', url]);
      expect(untrusted.code).toBe(3);
      expect(untrusted.err).toMatch(
        /cannot reach https:\/\/127\.0\.0\.1:\d+: its TLS certificate is not trusted \([A-Z_]+\); point NODE_EXTRA_CA_CERTS at the CA/,
      );
    } finally {
      tls.close();
    }
  });

  it('refuses a redirect instead of following it with the token', async () => {
    let followed = 0;
    const target = createServer((_req, res) => {
      followed++;
      res.end('{}');
    });
    const redirecting = createServer((_req, res) => {
      res.writeHead(307, { location: `http://127.0.0.1:${(target.address() as AddressInfo).port}/approvals` });
      res.end();
    });
    await Promise.all([target, redirecting].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    try {
      const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`;
      const r = await cli(['list', '--url', url]);
      expect(r.code).toBe(3);
      expect(r.err).toMatch(/answered with a redirect \(HTTP 307\); give --url the server's own address/);
      expect(followed).toBe(0);
    } finally {
      await Promise.all([target, redirecting].map((s) => new Promise((r) => s.close(r))));
    }
  });
});
