/**
 * Half a surrogate pair never leaves the server. A tool that cuts text at a UTF-16 index can split an
 * emoji; JSON.stringify then writes the lone half as an escape ("\ud83d"), which serde_json (Rust clients)
 * refuses for the whole message, and which makes the Anthropic API answer 400 "no low surrogate in string"
 * to every later turn of the conversation (anthropics/claude-code issues 1762, 1939, 6273, 60394). The
 * pipeline replaces any lone half in a result with U+FFFD (and logs which tool made it), the HTTP and
 * stdio writers do the same for every answer, and arguments holding a lone half are refused by name.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  createMemoryAuditSink,
  createRuntime,
  createToolDefiner,
  defineServer,
  type HttpServerHandle,
  type Logger,
  loadConfig,
  type SuiteRuntime,
  silentLogger,
  startHttp,
  ToolError,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HTTP_CALL_PATHS, staticTokens } from '../fixtures/kit-harness.js';
import { StdioPeer } from '../fixtures/stdio-peer.js';
import { illFormed } from '../fixtures/unicode.js';

const WHALE = '🐳';
/** A lone-surrogate escape in raw JSON: `\udXXX` (d800-dfff) after an even run of backslashes. */
const LONE_ESCAPE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i;

const calls: { tool: string; text: string }[] = [];
const defineTool = createToolDefiner<object>();
const RO = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
// Both tools cut with a plain .slice, as a tool with this bug would.
const server = defineServer({
  name: 'uni',
  version: '0.0.0',
  description: 'well-formed answers test',
  tools: [
    defineTool({
      name: 'uni_cut',
      title: 'Cut text',
      description: 'Returns the first `chars` UTF-16 units of the text, cut naively.',
      toolset: 'uni',
      tier: 'LOW',
      scopes: ['mcp:uni:read'],
      annotations: RO,
      input: z.object({ text: z.string(), chars: z.number().int().min(0) }),
      output: z.object({ text: z.string(), lines: z.array(z.object({ line: z.string() })) }),
      handler: async ({ text, chars }) => {
        calls.push({ tool: 'uni_cut', text });
        return { text: text.slice(0, chars), lines: [{ line: `${text.slice(0, chars)}…` }] };
      },
    }),
    defineTool({
      name: 'uni_fail',
      title: 'Fail quoting text',
      description: 'Fails with an error that quotes the first `chars` UTF-16 units of the text.',
      toolset: 'uni',
      tier: 'LOW',
      scopes: ['mcp:uni:read'],
      annotations: RO,
      input: z.object({ text: z.string(), chars: z.number().int().min(0) }),
      output: z.object({}),
      handler: async ({ text, chars }) => {
        throw new ToolError('ERR_NOT_FOUND', `no item named "${text.slice(0, chars)}"`, {
          name: text.slice(0, chars),
        });
      },
    }),
  ],
  backendConfig: z.object({}),
  createServices: () => ({}),
});

const warned: { obj: unknown; msg: unknown }[] = [];
function recordingLogger(): Logger {
  const logger = silentLogger();
  logger.warn = ((obj: unknown, msg: unknown) => {
    warned.push({ obj, msg });
  }) as Logger['warn'];
  return logger;
}

async function post(url: string, body: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: 'Bearer reader',
    },
    body,
  });
  return { status: res.status, raw: await res.text() };
}

const call = (id: number, name: string, args: Record<string, unknown>) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

describe.each(HTTP_CALL_PATHS)('well-formed answers over HTTP (%s)', (_label, fastPath) => {
  let rt: SuiteRuntime;
  let http: HttpServerHandle;
  beforeAll(async () => {
    const config = loadConfig({ backendSchema: server.backendConfig, env: { RAVENHELM_HTTP_PORT: '0' } });
    rt = await createRuntime(server as never, config, recordingLogger(), { audit: createMemoryAuditSink() });
    http = await startHttp(rt, {
      authenticator: staticTokens({ reader: { subject: 'reader', scopes: ['mcp:uni:read'], roles: [] } }),
      authorizationServers: ['http://127.0.0.1:1/issuer'],
      toolCallFastPath: fastPath,
    });
  });
  afterAll(async () => {
    await http?.shutdown();
    await rt?.close();
  });

  it('a result cut inside an emoji reaches the client with U+FFFD, never half a pair', async () => {
    warned.length = 0;
    const { status, raw } = await post(http.url, call(1, 'uni_cut', { text: `ok ${WHALE}${WHALE}`, chars: 4 }));
    expect(status).toBe(200);
    expect(raw).not.toMatch(LONE_ESCAPE);
    const answer = JSON.parse(raw);
    expect(answer.result.structuredContent).toEqual({ text: 'ok \uFFFD', lines: [{ line: 'ok \uFFFD…' }] });
    // the text copy says the same
    expect(JSON.parse(answer.result.content[0].text)).toEqual(answer.result.structuredContent);
    expect(illFormed(answer)).toBeUndefined();
    expect(warned).toContainEqual({ obj: { tool: 'uni_cut' }, msg: expect.stringMatching(/lone UTF-16 surrogate/) });
    // a cut between pairs is left alone and warns of nothing
    warned.length = 0;
    const whole = JSON.parse((await post(http.url, call(2, 'uni_cut', { text: `ok ${WHALE}${WHALE}`, chars: 5 }))).raw);
    expect(whole.result.structuredContent.text).toBe(`ok ${WHALE}`);
    expect(warned).toEqual([]);
  });

  it('an error message that quotes half a pair is made well-formed too', async () => {
    const { raw } = await post(http.url, call(3, 'uni_fail', { text: `${WHALE}`, chars: 1 }));
    expect(raw).not.toMatch(LONE_ESCAPE);
    const answer = JSON.parse(raw);
    expect(answer.result.isError).toBe(true);
    expect(answer.result.content[0].text).toBe('ERR_NOT_FOUND: no item named "\uFFFD"');
    expect(illFormed(answer)).toBeUndefined();
  });

  it('refuses an argument holding half a pair by name, without running the tool', async () => {
    calls.length = 0;
    // as curl would send it: the escape in the request body
    const body = call(4, 'uni_cut', { text: 'x', chars: 1 }).replace('"text":"x"', '"text":"ab\\ud83d"');
    const { raw } = await post(http.url, body);
    expect(raw).not.toMatch(LONE_ESCAPE);
    const answer = JSON.parse(raw);
    expect(answer.result.isError).toBe(true);
    expect(answer.result.content[0].text).toMatch(
      /^ERR_INVALID_INPUT: invalid arguments for uni_cut: text: character 2 is half of a UTF-16 surrogate pair/,
    );
    expect(calls).toEqual([]);
  });

  it('an unknown tool name holding half a pair is answered well-formed', async () => {
    const { raw } = await post(http.url, call(5, 'x', {}).replace('"name":"x"', '"name":"uni_\\udc33"'));
    expect(raw).not.toMatch(LONE_ESCAPE);
    expect(JSON.parse(raw).error.message).toContain('uni_\uFFFD');
  });

  it('the SDK client sees only well-formed strings', async () => {
    const client = new Client({ name: 'well-formed', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(http.url), {
        requestInit: { headers: { authorization: 'Bearer reader' } },
      }),
    );
    try {
      const result = await client.callTool({ name: 'uni_cut', arguments: { text: `${WHALE}!`, chars: 1 } });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ text: '\uFFFD' });
      expect(illFormed(result)).toBeUndefined();
    } finally {
      await client.close();
    }
  });
});

describe('well-formed answers over stdio', () => {
  it('answers an unknown tool name holding half a pair with a well-formed line', async () => {
    const peer = await StdioPeer.start({});
    try {
      const raw = await peer.send(call(1, 'x', {}).replace('"name":"x"', '"name":"echo_\\ud83d"'));
      expect(raw).toBeDefined();
      expect(raw).not.toMatch(LONE_ESCAPE);
      expect(JSON.parse(raw ?? 'null').error.message).toContain('echo_\uFFFD');
      const refused = JSON.parse(
        (await peer.send(call(2, 'echo_say', { message: 'x' }).replace('"message":"x"', '"message":"\\udc33"'))) ??
          'null',
      );
      expect(refused.result.isError).toBe(true);
      expect(refused.result.content[0].text).toMatch(/message: character 0 is half of a UTF-16 surrogate pair/);
    } finally {
      await peer.stop();
    }
  });
});
