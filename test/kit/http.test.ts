import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';

const AGENT_SPIFFE = 'spiffe://ravenhelm.local/agent/oncall';
const tokens = {
  reader: { subject: 'reader', clientId: 'reader-app', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', clientId: 'writer-app', scopes: ['mcp:echo:write'], roles: [] },
  writer2: { subject: 'writer2', scopes: ['mcp:echo:write'], roles: [] },
  deleter: { subject: 'deleter', scopes: ['mcp:echo:write'], roles: [] },
  admin: { subject: 'admin', scopes: ['mcp:echo:admin'], roles: [] },
  adminSvid: { subject: 'admin-svid', scopes: ['mcp:echo:admin'], roles: [], spiffeId: AGENT_SPIFFE },
  adminWrongSvid: {
    subject: 'admin-wrong',
    scopes: ['mcp:echo:admin'],
    roles: [],
    spiffeId: 'spiffe://ravenhelm.local/agent/intruder',
  },
};
const POLICY = `
servers:
  echo:
    confirm: destructive
    spiffe:
      default: ['${AGENT_SPIFFE}']
`;

async function sdkClient(url: string, token: string) {
  const client = new Client({ name: 'kit-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

describe('HTTP transport with the SDK client', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    // One test sends 40 calls of one principal at once: above the default per-caller bound of 32.
    h = await startEcho({
      tokens,
      policy: POLICY,
      env: { RAVENHELM_RATE_LIMIT_POINTS: '5', RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '64' },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('initializes, lists only the callable tools and calls one', async () => {
    const client = await sdkClient(h.url, 'reader');
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(['echo_fail', 'echo_noop', 'echo_say', 'echo_slow', 'echo_task']);
    // Only the hints that differ from the MCP defaults are sent (read-only, closed world).
    expect(tools.find((t) => t.name === 'echo_say')?.annotations).toEqual({ readOnlyHint: true, openWorldHint: false });
    const result = await client.callTool({ name: 'echo_say', arguments: { message: 'hello' } });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ message: 'hello' });
    await client.close();
  });

  it('shows writers the write tools and admins with a verified SPIFFE ID the HIGH tool', async () => {
    const writer = await sdkClient(h.url, 'writer');
    expect((await writer.listTools()).tools.map((t) => t.name)).toContain('echo_write');
    expect((await writer.listTools()).tools.map((t) => t.name)).not.toContain('echo_secret_rotate');
    const admin = await sdkClient(h.url, 'admin');
    expect((await admin.listTools()).tools.map((t) => t.name)).not.toContain('echo_secret_rotate');
    const adminSvid = await sdkClient(h.url, 'adminSvid');
    expect((await adminSvid.listTools()).tools.map((t) => t.name)).toContain('echo_secret_rotate');
    await Promise.all([writer.close(), admin.close(), adminSvid.close()]);
  });

  it('validates arguments with a message naming the field', async () => {
    const client = await sdkClient(h.url, 'reader');
    const result = await client.callTool({ name: 'echo_say', arguments: { message: 42 } });
    expect(result.isError).toBe(true);
    expect((result.content as { text: string }[])[0]?.text).toMatch(/ERR_INVALID_INPUT: .*message/);
    const unknown = await client.callTool({ name: 'echo_say', arguments: { message: 'x', mesage: 'typo' } });
    expect((unknown.content as { text: string }[])[0]?.text).toMatch(/unknown argument\(s\) mesage/);
    await client.close();
  });

  it('turns backend failures into readable tool errors and hides internal details', async () => {
    const client = await sdkClient(h.url, 'reader');
    const backend = await client.callTool({ name: 'echo_fail', arguments: { kind: 'backend' } });
    expect(backend.isError).toBe(true);
    expect((backend.content as { text: string }[])[0]?.text).toBe(
      'ERR_BACKEND_UNAVAILABLE: echo backend is down; try later',
    );
    const internal = await rpc(h.url, callBody('echo_fail', { kind: 'internal' }), { authorization: 'Bearer reader' });
    expect(JSON.stringify(internal.json)).not.toContain('hunter2');
    await client.close();
  });

  it('refuses invalid arguments before handing out a confirmation token', async () => {
    const auth = { authorization: 'Bearer writer' };
    const res = await rpc(h.url, callBody('echo_delete', { item: 'x'.repeat(500) }), auth);
    expect(res.json.result.isError).toBe(true);
    expect(res.json.result.content[0].text).toMatch(/^ERR_INVALID_INPUT: invalid arguments for echo_delete/);
    expect(res.json.result._meta?.['ravenhelm/confirmation']).toBeUndefined();
  });

  it('destructive tools under a confirm policy return a plan and a single-use token bound to the arguments', async () => {
    const auth = { authorization: 'Bearer deleter' };
    const first = await rpc(h.url, callBody('echo_delete', { item: 'a' }), auth);
    expect(first.json.result.isError).toBe(true);
    expect(first.json.result.content[0].text).toContain("delete item 'a'");
    const token = first.json.result._meta['ravenhelm/confirmation'].token as string;
    expect(h.services.calls.some((c) => c.tool === 'echo_delete')).toBe(false);
    const otherArgs = await rpc(h.url, callBody('echo_delete', { item: 'b', confirmationToken: token }), auth);
    expect(otherArgs.json.result.content[0].text).toMatch(/^ERR_CONFIRMATION_INVALID/);
    const second = await rpc(h.url, callBody('echo_delete', { item: 'a', confirmationToken: token }), auth);
    expect(second.json.result.structuredContent).toEqual({ deleted: 'a' });
    const replay = await rpc(h.url, callBody('echo_delete', { item: 'a', confirmationToken: token }), auth);
    expect(replay.json.result.content[0].text).toMatch(/^ERR_CONFIRMATION_INVALID/);
    expect(h.services.calls.filter((c) => c.tool === 'echo_delete')).toHaveLength(1);
  });

  it('answers concurrent requests that reuse the same JSON-RPC id with their own results', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        rpc(h.url, callBody('echo_say', { message: `m${i}` }, 7), { authorization: 'Bearer reader' }),
      ),
    );
    results.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json.id).toBe(7);
      expect(r.json.result.structuredContent).toEqual({ message: `m${i}` });
    });
  });
});

describe('HTTP refusals, the way curl sees them', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({
      tokens,
      policy: POLICY,
      env: { RAVENHELM_RATE_LIMIT_POINTS: '3', RAVENHELM_MAX_OUTPUT_BYTES: '4096' },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('401 with a resource_metadata challenge when the token is missing or invalid', async () => {
    const missing = await rpc(h.url, callBody('echo_noop'));
    expect(missing.status).toBe(401);
    const challenge = missing.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${h.base}/.well-known/oauth-protected-resource/mcp"`);
    expect(challenge).toContain('scope="mcp:echo:read"');
    // RFC 6750 3.1: no credentials, no error information in the challenge.
    expect(challenge).not.toMatch(/error=|error_description=/);
    expect(challenge).not.toContain('error=');
    expect(missing.json.error.data.code).toBe('ERR_TOKEN_MISSING');
    const invalid = await rpc(h.url, callBody('echo_noop'), { authorization: 'Bearer nope' });
    expect(invalid.status).toBe(401);
    expect(invalid.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('serves protected resource metadata at both well-known paths', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']) {
      const res = await fetch(`${h.base}${path}`);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({
        resource: h.url,
        authorization_servers: ['http://127.0.0.1:1/issuer'],
        scopes_supported: ['mcp:echo:read', 'mcp:echo:write', 'mcp:echo:admin'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('403 insufficient_scope naming every scope the call needs', async () => {
    const res = await rpc(h.url, callBody('echo_write', { value: 'x' }), { authorization: 'Bearer reader' });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(res.headers.get('www-authenticate')).toContain('scope="mcp:echo:write"');
    expect(res.json.error.data).toMatchObject({ code: 'ERR_INSUFFICIENT_SCOPE', requiredScopes: ['mcp:echo:write'] });
    expect(h.services.calls.some((c) => c.tool === 'echo_write')).toBe(false);
  });

  it('HIGH tools need a verified SPIFFE ID on the allowlist, and write a durable attempt record', async () => {
    const noSvid = await rpc(h.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'p@ss-SECRET-1' }), {
      authorization: 'Bearer admin',
    });
    expect(noSvid.status).toBe(403);
    expect(noSvid.json.error.data.code).toBe('ERR_TIER_SPIFFE_REQUIRED');
    const wrong = await rpc(h.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'p@ss-SECRET-1' }), {
      authorization: 'Bearer adminWrongSvid',
    });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.message).not.toContain('spiffe://ravenhelm.local/agent/oncall');
    const ok = await rpc(h.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'p@ss-SECRET-1' }), {
      authorization: 'Bearer adminSvid',
    });
    expect(ok.status).toBe(200);
    expect(ok.json.result.structuredContent).toEqual({ rotated: 'db' });
    const records = h.audit.records.filter((r) => r.tool === 'echo_secret_rotate');
    expect(records.map((r) => [r.principal.subject, r.phase, r.outcome ?? null])).toEqual([
      ['admin', 'outcome', 'denied'],
      ['admin-wrong', 'outcome', 'denied'],
      ['admin-svid', 'attempt', null],
      ['admin-svid', 'outcome', 'success'],
    ]);
    expect(JSON.stringify(h.audit.records)).not.toContain('p@ss-SECRET-1');
  });

  it('429 with Retry-After for a MEDIUM tool over the limit, while another agent is still served', async () => {
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof rpc>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await rpc(h.url, callBody('echo_write', { value: `v${i}` }), { authorization: 'Bearer writer' });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last?.json.error.data.code).toBe('ERR_RATE_LIMITED');
    expect(last?.json.error.data.retryAfterSeconds).toBeGreaterThan(0);
    const other = await rpc(h.url, callBody('echo_write', { value: 'other' }), { authorization: 'Bearer writer2' });
    expect(other.status).toBe(200);
    // LOW tools are not rate limited
    const low = await rpc(h.url, callBody('echo_noop'), { authorization: 'Bearer writer' });
    expect(low.status).toBe(200);
  });

  it('bounds results: an answer over the output budget is an explicit error, not silent truncation', async () => {
    const res = await rpc(h.url, callBody('echo_say', { message: 'x', repeat: 10000 }), {
      authorization: 'Bearer reader',
    });
    expect(res.json.result.isError).toBe(true);
    expect(res.json.result.content[0].text).toMatch(
      /^ERR_OUTPUT_TOO_LARGE: echo_say produced \d+ bytes of data, over its 1433-byte share of the output budget/,
    );
  });

  it('bounds the whole answer, both copies of the data, by the output budget (4096 here)', async () => {
    // The largest answers that fit: plain text, and text whose every character is escaped again in the text copy.
    for (const message of ['x', '"']) {
      let [repeat, tooMany] = [1, 5000];
      while (tooMany - repeat > 1) {
        const mid = Math.floor((repeat + tooMany) / 2);
        const probe = await rpc(h.url, callBody('echo_say', { message, repeat: mid }), {
          authorization: 'Bearer reader',
        });
        if (probe.json.result.isError) tooMany = mid;
        else repeat = mid;
      }
      const res = await rpc(h.url, callBody('echo_say', { message, repeat }), { authorization: 'Bearer reader' });
      expect(res.json.result.isError).toBeFalsy();
      expect(Buffer.byteLength(JSON.stringify(res.json.result))).toBeLessThanOrEqual(4096);
      expect(res.json.result.structuredContent.message).toBe(message.repeat(repeat));
      const text = res.json.result.content[0].text as string;
      if (message === '"')
        expect(text).toMatch(
          /\[text copy cut at \d+ of \d+ bytes .*structuredContent has the complete echo_say result\]$/,
        );
      else expect(JSON.parse(text)).toEqual(res.json.result.structuredContent);
    }
  });

  it('refuses foreign Host and Origin headers (DNS rebinding)', async () => {
    const badHost = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        h.url,
        {
          method: 'POST',
          headers: { host: 'evil.example', 'content-type': 'application/json', authorization: 'Bearer reader' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(callBody('echo_noop')));
    });
    expect(badHost).toBe(403);
    const badOrigin = await rpc(h.url, callBody('echo_noop'), {
      authorization: 'Bearer reader',
      origin: 'http://evil.example',
    });
    expect(badOrigin.status).toBe(403);
    expect(badOrigin.json.error.data.code).toBe('ERR_ORIGIN_FORBIDDEN');
    const goodOrigin = await rpc(h.url, callBody('echo_noop'), { authorization: 'Bearer reader', origin: h.base });
    expect(goodOrigin.status).toBe(200);
  });

  it('grants CORS to an allowed origin only: its preflight is answered and its answers are readable, the 401 challenge too', async () => {
    const preflight = (origin: string, headers = 'authorization, content-type, mcp-protocol-version') =>
      fetch(h.url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
      });
    const pre = await preflight(h.base);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(h.base);
    expect(pre.headers.get('access-control-allow-methods')).toBe('POST');
    expect(pre.headers.get('access-control-allow-headers')).toBe('authorization, content-type, mcp-protocol-version');
    // a header list that is not plain names is not echoed: the fixed list is granted instead
    const odd = await preflight(h.base, 'authorization; x="y"');
    expect(odd.headers.get('access-control-allow-headers')).toMatch(
      /^authorization, content-type, accept, mcp-protocol-version/,
    );
    // the browser can read the sign-in challenge, and the answer once signed in
    const challenged = await rpc(h.url, callBody('echo_noop'), { origin: h.base });
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get('access-control-allow-origin')).toBe(h.base);
    expect(challenged.headers.get('access-control-expose-headers')).toContain('www-authenticate');
    const ok = await rpc(h.url, callBody('echo_noop'), { authorization: 'Bearer reader', origin: h.base });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(h.base);
    expect(ok.headers.get('vary')).toMatch(/origin/i);
    // a foreign origin gets no grant, its preflight included
    const foreign = await preflight('http://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    // agents and curl send no Origin: nothing CORS about their answers
    const plain = await rpc(h.url, callBody('echo_noop'), { authorization: 'Bearer reader' });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('caps the body, refuses batches, unknown protocol versions, GET and non-JSON', async () => {
    const big = await rpc(h.url, callBody('echo_say', { message: 'x'.repeat(2 * 1024 * 1024) }), {
      authorization: 'Bearer reader',
    });
    expect(big.status).toBe(413);
    const batch = await rpc(h.url, [callBody('echo_noop')], { authorization: 'Bearer reader' });
    expect(batch.status).toBe(400);
    const version = await rpc(h.url, callBody('echo_noop'), {
      authorization: 'Bearer reader',
      'mcp-protocol-version': '1999-01-01',
    });
    expect(version.status).toBe(400);
    expect(version.json.error.data.code).toBe('ERR_PROTOCOL_VERSION');
    const get = await fetch(h.url, { headers: { authorization: 'Bearer reader' } });
    expect(get.status).toBe(405);
    const text = await fetch(h.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: 'Bearer reader' },
      body: '{}',
    });
    expect(text.status).toBe(415);
    const garbage = await rpc(h.url, '{not json', { authorization: 'Bearer reader' });
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe(-32700);
    const unknownTool = await rpc(h.url, callBody('nope_tool'), { authorization: 'Bearer reader' });
    expect(unknownTool.status).toBe(200);
    expect(unknownTool.json.error.code).toBe(-32602);
  });

  it('accepts notifications with 202', async () => {
    const res = await rpc(
      h.url,
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { authorization: 'Bearer reader' },
    );
    expect(res.status).toBe(202);
  });

  it('exposes health, readiness and metrics', async () => {
    expect((await fetch(`${h.base}/healthz`)).status).toBe(200);
    expect((await fetch(`${h.base}/readyz`)).status).toBe(200);
    h.services.backendUp = false;
    await new Promise((r) => setTimeout(r, 1100)); // readiness is cached for one second
    const notReady = await fetch(`${h.base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { reason: string }).reason).toContain('echo backend is down');
    h.services.backendUp = true;
    const metrics = await (await fetch(`${h.base}/metrics`)).text();
    // echo_write: writer 3 successes then 2 x 429, writer2 1 success, reader 1 x 403
    expect(metrics).toMatch(
      /ravenhelm_tool_calls_total\{server="echo",tool="echo_write",tier="MEDIUM",outcome="success"\} 4\n/,
    );
    expect(metrics).toMatch(
      /ravenhelm_tool_calls_total\{server="echo",tool="echo_write",tier="MEDIUM",outcome="denied"\} 3\n/,
    );
    expect(metrics).toMatch(/ravenhelm_rejections_total\{server="echo",reason="ERR_RATE_LIMITED"\} 2/);
    expect(metrics).toContain('ravenhelm_tool_call_duration_seconds_bucket');
  });

  it('cancels the handler when the client goes away', async () => {
    const controller = new AbortController();
    const pending = fetch(h.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer reader' },
      body: JSON.stringify(callBody('echo_slow', { ms: 3000 })),
      signal: controller.signal,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    await pending;
    await new Promise((r) => setTimeout(r, 200));
    const slow = h.services.calls.filter((c) => c.tool === 'echo_slow');
    expect(slow.at(-1)?.args).toMatchObject({ aborted: true });
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight calls, then refuses new ones', async () => {
    const h = await startEcho({ tokens });
    const inflight = rpc(h.url, callBody('echo_slow', { ms: 500 }), { authorization: 'Bearer reader' });
    await new Promise((r) => setTimeout(r, 100));
    const stopping = h.stop();
    const result = await inflight;
    expect(result.status).toBe(200);
    expect(result.json.result.structuredContent.aborted).toBe(false);
    await stopping;
    await expect(fetch(`${h.base}/healthz`)).rejects.toThrow();
  });
});

describe('audit', () => {
  it('a failing durable audit write blocks a HIGH call before its handler runs (503)', async () => {
    const h = await startEcho({
      tokens,
      policy: POLICY,
      wrapAudit: (sink) => ({
        write: (event, opts) => (opts.durable ? Promise.reject(new Error('disk full')) : sink.write(event, opts)),
        close: () => sink.close(),
      }),
    });
    try {
      const res = await rpc(h.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'n' }), {
        authorization: 'Bearer adminSvid',
      });
      expect(res.status).toBe(503);
      expect(res.json.error.data.code).toBe('ERR_AUDIT_UNAVAILABLE');
      expect(h.services.calls.some((c) => c.tool === 'echo_secret_rotate')).toBe(false);
      // LOW calls do not need a durable record and keep working
      expect((await rpc(h.url, callBody('echo_noop'), { authorization: 'Bearer reader' })).status).toBe(200);
    } finally {
      await h.stop();
    }
  });

  it('every call ends with an outcome record: success, denied and error', async () => {
    const h = await startEcho({ tokens, policy: POLICY });
    try {
      await rpc(h.url, callBody('echo_say', { message: 'ok' }), { authorization: 'Bearer reader' });
      await rpc(h.url, callBody('echo_write', { value: 'v' }), { authorization: 'Bearer reader' });
      await rpc(h.url, callBody('echo_fail', { kind: 'backend' }), { authorization: 'Bearer reader' });
      const outcomes = h.audit.records
        .filter((r) => r.phase === 'outcome')
        .map((r) => [r.tool, r.outcome, r.errorCode ?? null]);
      expect(outcomes).toEqual([
        ['echo_say', 'success', null],
        ['echo_write', 'denied', 'ERR_INSUFFICIENT_SCOPE'],
        ['echo_fail', 'error', 'ERR_BACKEND_UNAVAILABLE'],
      ]);
      expect(h.audit.records.every((r, i) => i === 0 || r.prevHash === h.audit.records[i - 1]?.hash)).toBe(true);
    } finally {
      await h.stop();
    }
  });
});
