/**
 * Attack round 7 on the kit's transports: traffic a fuzzer, a careless script or a real client sends
 * that the earlier rounds did not (see http-hardening, http-body, stdio, fuzz). Each case here broke
 * before its fix: the process died, an answer was lost, or bytes nobody sent were acted on.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoStdioParams } from '../fixtures/echo-stdio.js';
import { type EchoHarness, sdkHttpClient, startEcho } from '../fixtures/kit-harness.js';
import { StdioPeer } from '../fixtures/stdio-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-attack7-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let auditSeq = 0;
const peers: StdioPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

type AuditRecord = { tool: string; phase: string; requestId: string };
type Answer = { id?: unknown; result?: unknown; error?: { code?: number; message?: string; data?: { code?: string } } };

/**
 * The echo bin over stdio with its own audit file; returns the peer and readers of its audit records.
 * It is stopped after the test, unless `untilStopped` (the caller stops it).
 */
async function startPeer(
  untilStopped = false,
): Promise<{ peer: StdioPeer; audit: () => AuditRecord[]; outcomes: () => AuditRecord[] }> {
  const file = join(dir, `audit-${++auditSeq}.jsonl`);
  const peer = await StdioPeer.start({ RAVENHELM_AUDIT_FILE: file });
  if (!untilStopped) peers.push(peer);
  const audit = (): AuditRecord[] =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  return { peer, audit, outcomes: () => audit().filter((r) => r.phase === 'outcome') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const callLine = (id: number, name: string, args: Record<string, unknown>) =>
  JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

/** Writes one line and parses the answer; fails the test (with the server's stderr) when none comes. */
async function ask(peer: StdioPeer, line: string): Promise<Answer> {
  const answer = await peer.send(line, 5000);
  expect(answer, peer.stderr).toBeDefined();
  return JSON.parse(answer as string);
}

/** The peer still serves: a ping is answered under its id. */
async function expectServing(peer: StdioPeer, id: number): Promise<void> {
  expect(await ask(peer, `{"jsonrpc":"2.0","id":${id},"method":"ping"}`)).toEqual({ jsonrpc: '2.0', id, result: {} });
  expect(peer.alive).toBe(true);
}

/** Resolves when the peer's process has exited, or after `ms`. */
function exited(peer: StdioPeer, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!peer.alive) return resolve();
    const t = setTimeout(resolve, ms);
    peer.child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Every line the peer writes until it exits (or `ms` pass), parsed. */
async function linesUntilExit(peer: StdioPeer, ms: number): Promise<Answer[]> {
  await exited(peer, ms);
  const lines = [];
  for (let line = await peer.next(50); line !== undefined; line = await peer.next(50)) lines.push(JSON.parse(line));
  return lines;
}

/**
 * The cases that must leave the process serving share one peer (each ends by proving it still serves);
 * the cases about the end of a session below each end their own.
 */
describe('stdio: lines that must be answered or ignored, never end the process', () => {
  let peer: StdioPeer;
  let audit: () => AuditRecord[];
  beforeAll(async () => {
    ({ peer, audit } = await startPeer(true));
  }, 60_000);
  afterAll(async () => {
    await peer?.stop();
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    'a request whose method is "%s" (an Object.prototype member) is answered under its id; the server lives on',
    async (method) => {
      const answer = await ask(peer, JSON.stringify({ jsonrpc: '2.0', id: 41, method }));
      expect(answer.id).toBe(41);
      expect(answer.error?.code).toBeLessThan(0);
      // The same method as a notification is not answered, and the process still serves the next line.
      peer.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`);
      await expectServing(peer, 42);
    },
    30_000,
  );

  it('every answer is one line: a refusal quoting U+2028/U+2029 from the input escapes them (a client splitting on them reads one message)', async () => {
    const answer = await peer.send('{"jsonrpc":"2.0","id":51,"method":"ping","a\u2028b\u2029c":1}', 5000);
    expect(answer).toBeDefined();
    expect(answer).not.toMatch(/[\u2028\u2029]/);
    const parsed = JSON.parse(answer as string);
    expect(parsed).toMatchObject({ id: 51, error: { code: -32600 } });
    expect(parsed.error.message).toContain('a\u2028b\u2029c');
    await expectServing(peer, 52);
  }, 30_000);

  it('bytes that are not UTF-8 (RFC 8259 8.1), as HTTP refuses them: a tools/call with a Latin-1 byte is refused under its id and does not run with "caf\\uFFFD"', async () => {
    const line = Buffer.concat([
      Buffer.from(
        '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo_say","arguments":{"message":"caf',
      ),
      Buffer.from([0xe9]),
      Buffer.from('"}}}\n'),
    ]);
    peer.child.stdin.write(line);
    const answer = JSON.parse((await peer.next(5000)) as string);
    expect(answer).toMatchObject({ id: 7, error: { code: -32700, data: { code: 'ERR_PARSE' } } });
    expect(answer.error.message).toMatch(/not valid UTF-8/);
    // A notification with a bad byte is not answered; the next request is.
    peer.child.stdin.write(Buffer.from([...Buffer.from('{"jsonrpc":"2.0","method":"notifications/x\xff"}'), 10]));
    peer.child.stdin.write(
      Buffer.concat([
        Buffer.from('{"jsonrpc":"2.0","method":"x","params":{"a":"'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}}\n'),
      ]),
    );
    await expectServing(peer, 8);
    expect(audit().filter((r) => r.tool === 'echo_say')).toEqual([]);
  }, 30_000);

  it('a leading byte order mark (PowerShell, Notepad) is ignored, as over HTTP', async () => {
    expect(await ask(peer, '\ufeff{"jsonrpc":"2.0","id":"bom","method":"ping"}')).toEqual({
      jsonrpc: '2.0',
      id: 'bom',
      result: {},
    });
  }, 30_000);
});

describe('stdio: the end of the session loses nothing', () => {
  it('a last message without its newline, then end of input, is answered before the process exits', async () => {
    const { peer } = await startPeer();
    peer.child.stdin.end(callLine(8, 'echo_say', { message: 'last' }));
    const lines = await linesUntilExit(peer, 10_000);
    expect(lines).toEqual([
      expect.objectContaining({ id: 8, result: expect.objectContaining({ structuredContent: { message: 'last' } }) }),
    ]);
    expect(peer.child.exitCode).toBe(0);
  }, 30_000);

  it('end of input while a call runs: its answer is written before the process exits (it was audited as a success)', async () => {
    const { peer, outcomes } = await startPeer();
    peer.child.stdin.end(`${callLine(9, 'echo_slow', { ms: 700 })}\n`);
    const lines = await linesUntilExit(peer, 10_000);
    expect(lines.map((l) => l.id)).toEqual([9]);
    expect(lines[0]?.result).toMatchObject({ structuredContent: { aborted: false } });
    expect(peer.child.exitCode).toBe(0);
    expect(outcomes().map((r) => r.requestId)).toEqual(['9']);
  }, 30_000);

  it('SIGTERM while calls run: each is answered once; requests after it are refused with ERR_SHUTTING_DOWN, not run', async () => {
    const { peer, outcomes } = await startPeer();
    peer.child.stdin.write(`${callLine(10, 'echo_slow', { ms: 700 })}\n`);
    peer.child.stdin.write(`${callLine(11, 'echo_slow', { ms: 300 })}\n`);
    await sleep(150);
    peer.child.kill('SIGTERM');
    await sleep(100);
    peer.child.stdin.write('{"jsonrpc":"2.0","id":12,"method":"ping"}\n');
    peer.child.stdin.write(`${callLine(13, 'echo_say', { message: 'too late' })}\n`);
    const lines = await linesUntilExit(peer, 10_000);
    const byId = new Map(lines.map((l) => [l.id, l]));
    expect(lines.map((l) => l.id).sort()).toEqual([10, 11, 12, 13]);
    expect(byId.get(10)?.result).toMatchObject({ structuredContent: { aborted: false } });
    expect(byId.get(11)?.result).toMatchObject({ structuredContent: { aborted: false } });
    expect(byId.get(12)?.error?.data?.code).toBe('ERR_SHUTTING_DOWN');
    expect(byId.get(13)?.error?.data?.code).toBe('ERR_SHUTTING_DOWN');
    expect(peer.child.exitCode).toBe(0);
    expect(
      outcomes()
        .map((r) => r.tool)
        .sort(),
    ).toEqual(['echo_slow', 'echo_slow']);
  }, 30_000);

  it('the client stops reading for good (stdout EPIPE) mid-call: no crash, every running call audited, a clean exit', async () => {
    const { peer, outcomes } = await startPeer();
    peer.child.stdin.write(`${callLine(31, 'echo_slow', { ms: 500 })}\n`);
    peer.child.stdin.write(`${callLine(32, 'echo_slow', { ms: 1200 })}\n`);
    await sleep(200);
    peer.child.stdout.destroy();
    await exited(peer, 10_000);
    expect(peer.stderr).not.toMatch(/Emitted 'error' event|Unhandled/);
    expect(peer.stderr).toMatch(/stdout closed \(the client is gone\)/);
    expect(peer.child.exitCode).toBe(0);
    expect(
      outcomes()
        .map((r) => r.requestId)
        .sort(),
    ).toEqual(['31', '32']);
  }, 30_000);

  it('an SDK client whose server gets SIGTERM mid-call receives the result', async () => {
    const transport = new StdioClientTransport(echoStdioParams(dir, {}, `audit-sdk-${++auditSeq}.jsonl`));
    const client = new Client({ name: 'attack7', version: '1.0.0' });
    await client.connect(transport);
    try {
      const call = client.callTool({ name: 'echo_slow', arguments: { ms: 700 } });
      await sleep(200);
      process.kill(transport.pid as number, 'SIGTERM');
      const result = await call;
      expect(result.structuredContent).toMatchObject({ aborted: false });
    } finally {
      await client.close();
    }
  }, 30_000);
});

describe('HTTP: refusals before the body is read', () => {
  const tokens = { reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] } };
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens });
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** Sends the head, then body filler as fast as the server takes it, for up to `ms`. */
  async function pushBody(
    headers: string,
    ms: number,
    chunked = false,
  ): Promise<{ status: string; closed: boolean; sent: number }> {
    const url = new URL(h.url);
    const sock = connect(Number(url.port), url.hostname);
    let got = '';
    let closed = false;
    sock.on('data', (d) => {
      got += d;
    });
    sock.on('close', () => {
      closed = true;
    });
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n${headers}\r\n`);
    const filler = Buffer.alloc(64 * 1024, 32);
    // Chunked: a body without a declared end, one 64 KiB chunk after another.
    const chunk = chunked ? Buffer.concat([Buffer.from('10000\r\n'), filler, Buffer.from('\r\n')]) : filler;
    let sent = 0;
    const started = Date.now();
    while (!closed && Date.now() - started < ms) {
      if (sock.write(chunk)) sent += chunk.length;
      else await new Promise((r) => setTimeout(r, 5));
      if (sent % (1 << 22) === 0) await new Promise((r) => setImmediate(r));
    }
    sock.destroy();
    return { status: got.split('\r\n')[0] ?? '', closed, sent };
  }

  it('a declared gigabyte is refused 413 and the connection closed, not read to its end after the answer', async () => {
    const r = await pushBody(
      'Content-Type: application/json\r\nAuthorization: Bearer reader\r\nContent-Length: 1000000000\r\n',
      3000,
    );
    expect(r.status).toBe('HTTP/1.1 413 Payload Too Large');
    expect(r.closed).toBe(true);
    expect(r.sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('so is a chunked body without end refused on its headers (wrong Content-Type)', async () => {
    const r = await pushBody(
      'Content-Type: text/plain\r\nAuthorization: Bearer reader\r\nTransfer-Encoding: chunked\r\n',
      3000,
      true,
    );
    expect(r.status).toBe('HTTP/1.1 415 Unsupported Media Type');
    expect(r.closed).toBe(true);
    expect(r.sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('a chunked body that passes the cap while streaming gets its 413 (not a reset), then the connection closes', async () => {
    const r = await pushBody(
      'Content-Type: application/json\r\nAuthorization: Bearer reader\r\nTransfer-Encoding: chunked\r\n',
      3000,
      true,
    );
    expect(r.status).toBe('HTTP/1.1 413 Payload Too Large');
    expect(r.closed).toBe(true);
    expect(r.sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('a streaming client (node:http, chunked) sending 3 MB reads the 413 and why', async () => {
    const url = new URL(h.url);
    const answer = await new Promise<string>((resolve) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer reader' },
        },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        },
      );
      req.on('error', (e) => resolve(`error ${e.message}`));
      const text = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_say","arguments":{"message":"${'a'.repeat(3_000_000)}"}}}`;
      for (let i = 0; i < text.length; i += 64 * 1024) req.write(text.slice(i, i + 64 * 1024));
      req.end();
    });
    expect(answer).toMatch(/^413 /);
    expect(JSON.parse(answer.slice(4)).error.data.code).toBe('ERR_BODY_TOO_LARGE');
  });

  it('a request that was read whole keeps its connection (keep-alive is not given up for nothing)', async () => {
    const res = await fetch(h.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer nobody' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    await res.text();
    expect(res.status).toBe(401);
    expect(res.headers.get('connection')).not.toBe('close');
  });
});

describe('HTTP: Accept is read as RFC 9110 12.5.1 says', () => {
  const tokens = { reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] } };
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens });
  });
  afterAll(async () => {
    await h?.stop();
  });
  const ping = (accept: string) =>
    fetch(h.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept, authorization: 'Bearer reader' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    }).then(async (res) => ({ status: res.status, body: await res.text() }));

  it.each([
    'application/json;q=0, text/event-stream',
    'text/event-stream, application/json; q=0.000',
    'application/jsonl',
    'application/json-seq, text/event-stream',
    'application/*;q=0, text/event-stream',
    'application/json;q=0, */*',
  ])('%s: 406, naming application/json', async (accept) => {
    const r = await ping(accept);
    expect(r.status).toBe(406);
    expect(JSON.parse(r.body).error.data.code).toBe('ERR_NOT_ACCEPTABLE');
  });

  it.each([
    'application/json, text/event-stream',
    'Application/JSON; q=0.5',
    'text/event-stream;q=1, application/json;q=0.001',
    '*/*',
    'application/*',
    '*/*;q=0, application/json',
    'application/json;charset=utf-8',
  ])('%s: answered', async (accept) => {
    const r = await ping(accept);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
  });

  it('the SDK client (application/json, text/event-stream) is served', async () => {
    const client = await sdkHttpClient(h.url, 'reader');
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await client.close();
  });
});
