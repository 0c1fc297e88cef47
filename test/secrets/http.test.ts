import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, SPIFFE } from './harness.js';

// The bin over Streamable HTTP (loopback, auth mode none: the local principal), the way agents and curl
// scripts reach it; HIGH tools are on over HTTP and gated by the policy's SPIFFE allowlist.
const VALUE = 'Http-Reveal-Value-93be11d0';
const PUT_VALUE = 'Http-Put-Value-4471ccae2';
const sim = new SecretsManagerSimulator();
let server: HttpBin;
let url: string;
let dir: string;
const results: string[] = [];

beforeAll(async () => {
  await sim.start();
  sim.seed('http/db', VALUE);
  dir = mkdtempSync(join(tmpdir(), 'secrets-http-'));
  writeFileSync(join(dir, 'policy.json'), JSON.stringify(policyFor({ revealTo: ['ops'] })));
  server = await startHttpBin('servers/secrets/src/bin.ts', {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AWS_ENDPOINT_URL: sim.url,
    AWS_REGION: sim.region,
    AWS_ACCESS_KEY_ID: sim.accessKeyId,
    AWS_SECRET_ACCESS_KEY: sim.secretAccessKey,
    AWS_CONFIG_FILE: join(dir, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials'),
    RAVENHELM_POLICY_FILE: join(dir, 'policy.json'),
    RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
    RAVENHELM_LOG_LEVEL: 'debug',
    RAVENHELM_AUTH_MODE: 'none',
    RAVENHELM_LOCAL_SUBJECT: 'ops',
    RAVENHELM_LOCAL_SCOPES: 'mcp:secrets:admin',
    RAVENHELM_LOCAL_SPIFFE_ID: SPIFFE,
    // HIGH tools in auth mode none must be turned on explicitly (hardening issue 7, item 10).
    RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
  });
  url = server.url;
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('secrets over Streamable HTTP', () => {
  it('serves every tool to the SDK client; reveal and confirm work per request', async () => {
    const client = new Client({ name: 'secrets-http', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(10);
    const first = await client.callTool({ name: 'secrets_get', arguments: { name: 'http/db', reveal: true } });
    results.push(JSON.stringify(first));
    const token = (first.structuredContent as { revealToken: string }).revealToken;
    const second = await client.callTool({
      name: 'secrets_get',
      arguments: { name: 'http/db', reveal: true, revealToken: token },
    });
    expect(second.structuredContent).toMatchObject({ revealed: true, value: VALUE });
    const put = await client.callTool({ name: 'secrets_put', arguments: { name: 'http/new', value: PUT_VALUE } });
    results.push(JSON.stringify(put));
    const cfm = (put._meta as Record<string, { token: string }>)['ravenhelm/confirmation']?.token;
    const done = await client.callTool({
      name: 'secrets_put',
      arguments: { name: 'http/new', value: PUT_VALUE, confirmationToken: cfm },
    });
    results.push(JSON.stringify(done));
    expect(done.structuredContent).toMatchObject({ name: 'http/new', created: true });
    expect(sim.valueOf('http/new')).toBe(PUT_VALUE);
    await client.close();
  }, 60_000);

  it('answers a plain JSON-RPC POST the way a curl script sends it', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'secrets_list', arguments: {} },
      }),
    });
    const text = await res.text();
    results.push(text);
    expect(res.status, text).toBe(200);
    expect(text).toContain('http/db');
  });

  it('never logs or audits a value', () => {
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('secrets_get');
    assertNowhere([VALUE, PUT_VALUE], { results: results.join('\n'), stderr: server.stderr(), audit });
  });
});
