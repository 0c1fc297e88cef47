/**
 * Attack round 8 on the kit's transports, from outside: raw JSON-RPC over HTTP and stdio lines, the real
 * SDK clients, and raw sockets. Each case here failed before its fix.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createMemoryAuditSink, createRuntime, loadConfig, silentLogger, startHttp } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';
import { echoStdioParams } from '../fixtures/echo-stdio.js';
import { type EchoHarness, rpc, sdkHttpClient, startEcho, staticTokens } from '../fixtures/kit-harness.js';
import { makeCa, makeLeaf } from '../fixtures/pki.js';
import { StdioPeer } from '../fixtures/stdio-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-attack8-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tokens = { reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] } };
const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};
const MODERN_LIST_HEADERS = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };

/** A cursor this server never issued (it lists every tool in one page): MCP pagination says -32602. */
const FORGED_CURSORS = ['eyJvZmZzZXQiOjEwMH0', '', 'x'.repeat(300)];

describe('tools/list with a cursor the server never issued is refused -32602 (MCP 2025-11-25 pagination)', () => {
  let h: EchoHarness;
  const peers: StdioPeer[] = [];
  beforeAll(async () => {
    h = await startEcho({ tokens });
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    await h?.stop();
  });

  function expectCursorRefused(answer: { id?: unknown; error?: { code?: number; message?: string } }, id: unknown) {
    expect(answer).toMatchObject({ id, error: { code: -32602 } });
    expect(answer.error?.message).toMatch(/cursor/);
    expect(answer.error?.message).toMatch(/without a cursor/);
    expect(answer).toMatchObject({ error: { data: { code: 'ERR_INVALID_INPUT' } } });
  }

  it.each(FORGED_CURSORS)('HTTP 2025-11-25, raw JSON-RPC: cursor %#', async (cursor) => {
    const r = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 'c1', method: 'tools/list', params: { cursor } },
      { authorization: 'Bearer reader' },
    );
    expectCursorRefused(r.json, 'c1');
    expect(r.json.error.message).not.toContain('x'.repeat(100));
  });

  it.each(FORGED_CURSORS)('HTTP 2026-07-28, raw JSON-RPC: cursor %#', async (cursor) => {
    const r = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { cursor, _meta: MODERN_META } },
      { authorization: 'Bearer reader', ...MODERN_LIST_HEADERS },
    );
    expectCursorRefused(r.json, 7);
  });

  it('the SDK clients (v1 on 2025-11-25, v2 pinned to 2026-07-28) get an McpError -32602; without a cursor they list', async () => {
    const v1 = await sdkHttpClient(h.url, 'reader');
    await expect(v1.listTools({ cursor: 'page-2' })).rejects.toMatchObject({ code: -32602 });
    expect((await v1.listTools()).tools.length).toBeGreaterThan(0);
    await v1.close();
    const v2 = new V2Client({ name: 'attack8', version: '1.0.0' }, {
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    } as never);
    await v2.connect(new V2Transport(new URL(h.url), { requestInit: { headers: { authorization: 'Bearer reader' } } }));
    await expect(v2.listTools({ cursor: 'page-2' })).rejects.toMatchObject({ code: -32602 });
    expect((await v2.listTools()).tools.length).toBeGreaterThan(0);
    await v2.close();
  });

  it('stdio, both eras on one connection (raw lines), and the SDK stdio client', async () => {
    const peer = await StdioPeer.start({ RAVENHELM_AUDIT_FILE: join(dir, 'cursor-audit.jsonl') });
    peers.push(peer);
    for (const [i, cursor] of FORGED_CURSORS.entries()) {
      const legacy = await peer.send(
        JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list', params: { cursor } }),
      );
      expectCursorRefused(JSON.parse(legacy ?? 'null'), i);
      const modern = await peer.send(
        JSON.stringify({ jsonrpc: '2.0', id: `m${i}`, method: 'tools/list', params: { cursor, _meta: MODERN_META } }),
      );
      expectCursorRefused(JSON.parse(modern ?? 'null'), `m${i}`);
    }
    const client = new Client({ name: 'attack8', version: '1.0.0' });
    await client.connect(new StdioClientTransport(echoStdioParams(dir, {}, 'cursor-sdk-audit.jsonl')));
    try {
      await expect(client.listTools({ cursor: 'next' })).rejects.toMatchObject({ code: -32602 });
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  }, 60_000);
});

/** A raw client socket and what became of it: every byte it got, and when (ms after `t0`) it closed. */
interface Watched {
  sock: Socket;
  got: string;
  closedAt?: number;
}

function watch(url: URL, t0: number): Promise<Watched> {
  const w: Watched = { sock: connect(Number(url.port), url.hostname), got: '' };
  w.sock.on('data', (d) => {
    w.got += d;
  });
  w.sock.on('error', () => {});
  w.sock.on('close', () => {
    w.closedAt = Date.now() - t0;
  });
  return new Promise((resolve) => w.sock.once('connect', () => resolve(w)));
}

/** Writes `text` one byte every `everyMs` while the socket is open (a slowloris client). */
function trickle(w: Watched, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (w.closedAt !== undefined || i >= text.length) clearInterval(timer);
    else w.sock.write(text[i++] as string);
  }, everyMs);
  timer.unref();
}

describe('slow and idle clients cannot hold the HTTP server (slowloris)', () => {
  let h: EchoHarness;
  const open: Watched[] = [];
  beforeAll(async () => {
    h = await startEcho({
      tokens,
      env: {
        RAVENHELM_HTTP_MAX_CONNECTIONS: '16',
        RAVENHELM_HTTP_HEADERS_TIMEOUT_MS: '1000',
        RAVENHELM_HTTP_REQUEST_TIMEOUT_MS: '1500',
      },
    });
  });
  afterAll(async () => {
    for (const w of open) w.sock.destroy();
    await h?.stop();
  });

  it('trickled headers and bodies are cut at their deadlines (408), sockets over the cap are dropped at once, then a normal client is served', async () => {
    const url = new URL(h.url);
    const t0 = Date.now();
    const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nAuthorization: Bearer reader\r\n`;
    const headerTricklers = await Promise.all(Array.from({ length: 12 }, () => watch(url, t0)));
    for (const w of headerTricklers) trickle(w, `${head}X-Slow: ${'a'.repeat(200)}\r\n\r\n`, 50);
    const bodyTricklers = await Promise.all(Array.from({ length: 4 }, () => watch(url, t0)));
    for (const w of bodyTricklers) {
      w.sock.write(`${head}Content-Length: 200\r\n\r\n`);
      trickle(w, ' '.repeat(200), 50);
    }
    open.push(...headerTricklers, ...bodyTricklers);
    // The server has accepted all 16 (each sent bytes): 8 more are over the cap.
    await new Promise((r) => setTimeout(r, 300));
    expect([...headerTricklers, ...bodyTricklers].filter((w) => w.closedAt !== undefined)).toEqual([]);
    const extra = await Promise.all(Array.from({ length: 8 }, () => watch(url, Date.now())));
    open.push(...extra);
    for (const w of extra) w.sock.write(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 3500));
    for (const w of extra) {
      expect(w.got, 'a connection over the cap is dropped unanswered').toBe('');
      expect(w.closedAt, 'a connection over the cap is dropped at once').toBeLessThan(500);
    }
    for (const w of headerTricklers) {
      expect(w.closedAt, 'headers trickled past http.headersTimeoutMs').toBeDefined();
      expect(w.closedAt).toBeLessThan(3000);
      expect(w.got).toMatch(/^HTTP\/1\.1 408 /);
    }
    for (const w of bodyTricklers) {
      expect(w.closedAt, 'a body trickled past http.requestTimeoutMs').toBeDefined();
      expect(w.closedAt).toBeGreaterThanOrEqual(1000);
      expect(w.closedAt).toBeLessThan(3500);
    }
    const pong = await rpc(h.url, { jsonrpc: '2.0', id: 1, method: 'ping' }, { authorization: 'Bearer reader' });
    expect(pong.json).toEqual({ jsonrpc: '2.0', id: 1, result: {} });
  }, 30_000);

  it('a slow answer is not cut by the request deadline (it bounds receiving the request, not the call)', async () => {
    const r = await rpc(
      h.url,
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo_slow', arguments: { ms: 2500 } } },
      { authorization: 'Bearer reader' },
    );
    expect(r.json.result.structuredContent).toMatchObject({ aborted: false });
  }, 30_000);
});

describe('a TLS handshake that never finishes is cut at the headers deadline', () => {
  it('sockets that open TCP and send nothing, or half a ClientHello, are closed; a real TLS client is served after', async () => {
    const ca = await makeCa({ name: 'attack8-ca' });
    const leaf = await makeLeaf({ ca, dns: ['localhost'], ips: ['127.0.0.1'], eku: ['serverAuth'] });
    const def = echoServer();
    const config = loadConfig({
      backendSchema: def.backendConfig,
      env: {
        RAVENHELM_HTTP_PORT: '0',
        RAVENHELM_HTTP_HEADERS_TIMEOUT_MS: '1000',
        RAVENHELM_HTTP_REQUEST_TIMEOUT_MS: '1500',
      },
    });
    const rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
    const http = await startHttp(rt, {
      authenticator: staticTokens(tokens),
      authorizationServers: ['http://127.0.0.1:1/issuer'],
      tls: { options: { cert: leaf.certPem, key: leaf.keyPem }, peer: async () => ({}) },
    });
    const url = new URL(http.url);
    const stalled: Watched[] = [];
    try {
      const t0 = Date.now();
      stalled.push(...(await Promise.all(Array.from({ length: 6 }, () => watch(url, t0)))));
      // A TLS record header announcing a ClientHello of 512 bytes, then nothing more.
      for (const w of stalled.slice(3)) w.sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      await new Promise((r) => setTimeout(r, 3500));
      for (const w of stalled) {
        expect(w.closedAt, 'a handshake stalled past http.headersTimeoutMs').toBeDefined();
        expect(w.closedAt).toBeLessThan(3000);
      }
      const served = await new Promise<string>((resolve, reject) => {
        const sock = tlsConnect({
          host: url.hostname,
          port: Number(url.port),
          ca: ca.certPem,
          servername: 'localhost',
        });
        let got = '';
        sock.on('secureConnect', () =>
          sock.write(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`),
        );
        sock.on('data', (d) => {
          got += d;
        });
        sock.on('end', () => resolve(got));
        sock.on('error', reject);
      });
      expect(served).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      for (const w of stalled) w.sock.destroy();
      await http.shutdown();
      await rt.close();
    }
  }, 30_000);
});

describe('stdio: a request id still running is not taken again (MCP: ids are unique within a session)', () => {
  it('the second call under a running id is refused -32600 and never runs; the first answers, and cancels only itself', async () => {
    const file = join(dir, 'dup-audit.jsonl');
    const peer = await StdioPeer.start({ RAVENHELM_AUDIT_FILE: file });
    try {
      const call = (id: unknown, ms: number) =>
        JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo_slow', arguments: { ms } } });
      peer.child.stdin.write(`${call('dup', 600)}\n${call('dup', 50)}\n`);
      const refused = JSON.parse((await peer.next(5000)) ?? 'null');
      expect(refused).toMatchObject({ id: 'dup', error: { code: -32600, data: { code: 'ERR_BAD_REQUEST' } } });
      expect(refused.error.message).toMatch(/already used by a request still running.*new id/);
      const first = JSON.parse((await peer.next(5000)) ?? 'null');
      expect(first).toMatchObject({ id: 'dup', result: { structuredContent: { aborted: false } } });
      expect(first.result.structuredContent.waited).toBeGreaterThanOrEqual(550);
      // Before, both ran and a cancellation of 'dup' stopped the second only: the first ran on unasked.
      peer.child.stdin.write(`${call(5, 5000)}\n${call(5, 5000)}\n`);
      expect(JSON.parse((await peer.next(5000)) ?? 'null')).toMatchObject({ id: 5, error: { code: -32600 } });
      peer.child.stdin.write(
        `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5 } })}\n`,
      );
      expect(await peer.next(1000)).toBeUndefined(); // a cancelled request is not answered
      await peer.stop();
      const outcomes = readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((r) => r.phase === 'outcome' && r.tool === 'echo_slow');
      expect(outcomes.map((r) => r.requestId)).toEqual(['dup', '5']);
    } finally {
      await peer.stop();
    }
  }, 60_000);
});
