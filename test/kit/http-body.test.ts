/**
 * What a request body means, as real clients send it: compressed (Content-Encoding), with a charset
 * parameter, with a byte order mark, in a media type that only starts like JSON. The server either
 * reads the body the client meant or refuses it saying what to send; it never runs a tool on bytes it
 * misread. And the plain GET resources answer HEAD, with an Allow header that tells the truth.
 */
import { request } from 'node:http';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, startEcho } from '../fixtures/kit-harness.js';

const tokens = { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } };
const JSON_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  authorization: 'Bearer writer',
};

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON-RPC bodies
  json: any;
}

/** One raw HTTP request over node:http (fetch would not send a body we compressed ourselves as is). */
function send(url: string, method: string, headers: Record<string, string>, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

let h: EchoHarness;
beforeAll(async () => {
  h = await startEcho({ tokens, env: { RAVENHELM_MAX_BODY_BYTES: '65536' } });
});
afterAll(async () => {
  await h?.stop();
});

const say = (message: string, id = 1) => JSON.stringify(callBody('echo_say', { message }, id));
const said = (a: Answer) => a.json?.result?.structuredContent?.message;
const callsOf = (tool: string) => h.audit.records.filter((r) => r.tool === tool && r.phase === 'outcome').length;

describe('Content-Encoding of a request body (RFC 9110 8.4)', () => {
  it.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
    ['GZIP', gzipSync],
  ] as const)('a %s body is decompressed and runs as sent', async (coding, compress) => {
    const res = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-encoding': coding }, compress(say('café ☕')));
    expect(res.status, res.text).toBe(200);
    expect(said(res)).toBe('café ☕');
  });

  it('identity is no coding at all', async () => {
    const res = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-encoding': 'identity' }, say('plain'));
    expect(said(res)).toBe('plain');
  });

  it.each([
    ['zstd', 'zstd'],
    ['compress', 'compress'],
    ['two codings stacked', 'gzip, gzip'],
  ])('%s is refused with 415 and the codings that are accepted, before anything runs', async (_label, coding) => {
    const before = callsOf('echo_say');
    const res = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-encoding': coding }, say('x'));
    expect(res.status).toBe(415);
    expect(res.headers['accept-encoding']).toBe('gzip, deflate, br');
    expect(res.json.error.data.code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
    expect(res.json.error.message).toContain('gzip, deflate, br');
    expect(callsOf('echo_say')).toBe(before);
  });

  it('a body that does not match its coding is refused naming the coding, not as "not JSON"', async () => {
    const plain = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-encoding': 'gzip' }, say('x'));
    expect(plain.status).toBe(400);
    expect(plain.json.error.message).toMatch(/not valid gzip data.*Content-Encoding: gzip/);
    // Raw deflate (no zlib wrapper) is what some clients wrongly send as "deflate".
    const raw = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-encoding': 'deflate' }, deflateRawSync(say('x')));
    expect(raw.status).toBe(400);
    expect(raw.json.error.message).toContain('not valid deflate data');
  });

  it('the body cap counts decompressed bytes: a small gzip bomb is 413, and the server keeps serving', async () => {
    const bomb = gzipSync(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"${'a'.repeat(5_000_000)}"}}`);
    expect(bomb.length).toBeLessThan(65_536);
    const res = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-encoding': 'gzip' }, bomb);
    expect(res.status).toBe(413);
    expect(res.json.error.message).toContain('once decompressed');
    const after = await send(h.url, 'POST', JSON_HEADERS, say('still here'));
    expect(said(after)).toBe('still here');
  });
});

describe('the bytes of a JSON body are UTF-8 (RFC 8259 8.1)', () => {
  it('charset=utf-8 in any spelling is accepted', async () => {
    for (const ct of [
      'application/json; charset=utf-8',
      'Application/JSON; Charset="UTF-8"',
      'application/json;charset=utf8',
    ]) {
      const res = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-type': ct }, say('é'));
      expect(said(res), ct).toBe('é');
    }
  });

  it('a Latin-1 body is refused with 415 naming UTF-8, not run with "caf\\uFFFD"', async () => {
    const before = callsOf('echo_say');
    const res = await send(
      h.url,
      'POST',
      { ...JSON_HEADERS, 'content-type': 'application/json; charset=iso-8859-1' },
      Buffer.from(say('café'), 'latin1'),
    );
    expect(res.status).toBe(415);
    expect(res.json.error.message).toContain('UTF-8');
    expect(callsOf('echo_say')).toBe(before);
  });

  it('bytes that are not UTF-8 are refused, even without a charset, and nothing runs', async () => {
    const before = callsOf('echo_say');
    const res = await send(h.url, 'POST', JSON_HEADERS, Buffer.from(say('café'), 'latin1'));
    expect(res.status).toBe(400);
    expect(res.json.error.data.code).toBe('ERR_PARSE');
    expect(res.json.error.message).toContain('not valid UTF-8');
    expect(callsOf('echo_say')).toBe(before);
  });

  it('a UTF-16 body is refused by its charset', async () => {
    const res = await send(
      h.url,
      'POST',
      { ...JSON_HEADERS, 'content-type': 'application/json; charset=utf-16le' },
      Buffer.from(say('x'), 'utf16le'),
    );
    expect(res.status).toBe(415);
  });

  it('a leading byte order mark (a file saved by Notepad, sent by curl -d @file) is ignored', async () => {
    const res = await send(
      h.url,
      'POST',
      JSON_HEADERS,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(say('bom'))]),
    );
    expect(res.status, res.text).toBe(200);
    expect(said(res)).toBe('bom');
  });

  it.each(['application/jsonl', 'application/json-seq', 'application/json-patch+json', 'application/jsonx'])(
    'Content-Type %s is not application/json: 415',
    async (ct) => {
      const res = await send(h.url, 'POST', { ...JSON_HEADERS, 'content-type': ct }, say('x'));
      expect(res.status).toBe(415);
    },
  );
});

describe('methods on the plain GET resources (RFC 9110 9.1, 15.5.6)', () => {
  const metadata = '/.well-known/oauth-protected-resource/mcp';

  it.each(['/healthz', '/readyz', '/metrics', metadata])('HEAD %s answers like GET, without a body', async (path) => {
    const get = await send(`${h.base}${path}`, 'GET', {});
    const head = await send(`${h.base}${path}`, 'HEAD', {});
    expect(head.status).toBe(get.status);
    expect(head.status).toBe(200);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
    expect(head.text).toBe('');
  });

  it.each(['/healthz', metadata])('POST %s is 405 with Allow: GET, HEAD (not POST)', async (path) => {
    const res = await send(`${h.base}${path}`, 'POST', JSON_HEADERS, '{}');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('a path that does not exist is 404 for every method, naming the MCP endpoint', async () => {
    for (const method of ['GET', 'POST', 'PUT']) {
      const res = await send(`${h.base}/mcp/`, method, JSON_HEADERS, method === 'GET' ? undefined : say('x'));
      expect(res.status, method).toBe(404);
      expect(res.json).toEqual({ error: 'not found', mcpEndpoint: '/mcp' });
    }
  });

  it('the MCP endpoint itself still answers other methods 405 with Allow: POST', async () => {
    const res = await send(h.url, 'DELETE', { ...JSON_HEADERS, 'mcp-session-id': 'abc' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
  });
});
