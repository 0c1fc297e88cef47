/**
 * An error message is capped where the error is made (MAX_ERROR_MESSAGE_BYTES): a backend whose error answer is
 * 200 KB no longer fills the caller's answer with it. Driven through the real HTTP pipeline and the SDK client; the
 * secret the backend echoes is redacted before the cut, including the copy that straddles the cut.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  BackendHttp,
  createMemoryAuditSink,
  createRuntime,
  createToolDefiner,
  defineServer,
  loadConfig,
  MAX_ERROR_MESSAGE_BYTES,
  type SuiteRuntime,
  silentLogger,
  startHttp,
  ToolError,
  withoutValues,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callBody, rpc, sdkHttpClient, staticTokens } from '../fixtures/kit-harness.js';

const SECRET = 'Sk-0123456789-abcdefghij-SECRET';
/** The backend's error body: the secret first, then filler, then the secret across the 2 KiB mark, then more. */
const BODY = `denied for token ${SECRET}: ${'x'.repeat(1_900)}${SECRET}${'y'.repeat(200_000)} token=${SECRET} TAIL-MARK`;

interface Services {
  backend: BackendHttp;
}
const defineTool = createToolDefiner<Services>();
const tool = defineTool({
  name: 'huge_fail',
  title: 'Fail with a huge backend error',
  description: 'Calls a backend that answers 500 with a 200 KB body quoting the credential.',
  toolset: 'huge',
  tier: 'LOW',
  scopes: ['mcp:huge:read'],
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({}),
  output: z.object({ ok: z.boolean() }),
  handler: async (_args, { backend, signal }) => {
    const res = await backend.request<string>('GET', '/fail', { signal });
    if (res.status >= 400) {
      // as a server does: the credential the call carried is cut out of what the backend said
      throw new ToolError('ERR_BACKEND_ERROR', `the backend refused: ${withoutValues(String(res.body), [SECRET], 8)}`);
    }
    return { ok: true };
  },
});

let backendServer: Server;
let rt: SuiteRuntime;
let url: string;
let shutdown: () => Promise<void>;

beforeAll(async () => {
  backendServer = createServer((_req, res) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(BODY);
  });
  await new Promise<void>((r) => backendServer.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(backendServer.address() as AddressInfo).port}`;
  const def = defineServer({
    name: 'huge',
    version: '0.0.0',
    description: 'error cap test',
    tools: [tool],
    backendConfig: z.object({}),
    createServices: () => ({
      backend: new BackendHttp({ name: 'Huge', baseUrl: base, timeoutMs: 5_000, auth: { bearer: SECRET } }),
    }),
  });
  const config = loadConfig({ backendSchema: def.backendConfig, env: { RAVENHELM_HTTP_PORT: '0' } });
  rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
  const http = await startHttp(rt, {
    authenticator: staticTokens({ t: { subject: 'reader', scopes: ['mcp:huge:read'], roles: [] } }),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
  });
  url = http.url;
  shutdown = () => http.shutdown();
});
afterAll(async () => {
  await shutdown?.();
  await rt?.close();
  await new Promise((r) => backendServer?.close(r));
});

function checkCapped(text: string) {
  expect(text.startsWith('ERR_BACKEND_ERROR: the backend refused: ')).toBe(true);
  expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_BYTES + 'ERR_BACKEND_ERROR: '.length);
  expect(text).toMatch(/… \[error message cut at \d+ of \d+ bytes\]$/);
  expect(text).toContain('[redacted]');
  // no piece of the secret at all: the copy across the cut was redacted before the cut
  for (let i = 0; i + 6 <= SECRET.length; i++) expect(text).not.toContain(SECRET.slice(i, i + 6));
  expect(text).not.toContain('TAIL-MARK');
}

describe('a tool whose backend error is 200 KB', () => {
  it('answers a capped, redacted message over raw HTTP', async () => {
    const res = await rpc(url, callBody('huge_fail'), { authorization: 'Bearer t' });
    expect(res.status).toBe(200);
    expect(res.json.result.isError).toBe(true);
    const text: string = res.json.result.content[0].text;
    checkCapped(text);
    expect(JSON.stringify(res.json).length).toBeLessThan(4_000);
  });

  it('and through the SDK client', async () => {
    const client = await sdkHttpClient(url, 't');
    try {
      const result = await client.callTool({ name: 'huge_fail', arguments: {} });
      expect(result.isError).toBe(true);
      checkCapped((result.content as { text: string }[])[0]?.text ?? '');
    } finally {
      await client.close();
    }
  });
});
