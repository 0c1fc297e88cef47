/**
 * The audit shipper against collectors that misbehave at the TCP/HTTP level, driven through a real server
 * process (side-effect-bin, file audit sink) and the SDK client: one that accepts the connection and never
 * answers, one that answers 503 forever, one that trickles its response headers, one that trickles its
 * body. What must hold: tool calls are never held up by shipping; the ship buffer stays within its bound,
 * what does not fit is counted (metrics) and logged, and the local log keeps every record (a valid chain);
 * sockets to the collector do not pile up; SIGTERM ends the process within the ship timeout + slack.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { sfxHighEnv } from '../fixtures/side-effect-env.js';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';

const SECRET = 'S3CR3T-ship-4b7f';
const SHIP_TIMEOUT_MS = 1500; // far above a call's time here: a call that waited for a push would show
const MAX_BUFFER = 20;
const CALLS = 30; // 2 records each: more than the buffer holds

const dir = mkdtempSync(join(tmpdir(), 'rh-auditfault-ship-'));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

type Behaviour = 'hang' | 'fail-503' | 'trickle-headers' | 'trickle-body';

interface BadCollector {
  url: string;
  accepted: number;
  open: number;
  maxOpen: number;
  /** Bytes of request bodies received (the pushes did reach it). */
  received: number;
}

/** A raw TCP "collector" whose HTTP answers misbehave as told. */
async function startBadCollector(behaviour: Behaviour): Promise<BadCollector> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const state: BadCollector = { url: '', accepted: 0, open: 0, maxOpen: 0, received: 0 };
  const server: Server = createServer((socket) => {
    state.accepted++;
    sockets.add(socket);
    state.open = sockets.size;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      state.open = sockets.size;
    });
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      state.received += chunk.length;
      if (answered || !chunk.includes('\r\n\r\n')) return; // answer once the request head is in
      answered = true;
      const trickle = (head: string, drip: string) => {
        socket.write(head);
        const t = setInterval(() => socket.writable && socket.write(drip), 100);
        timers.add(t);
        socket.on('close', () => clearInterval(t));
      };
      if (behaviour === 'fail-503') {
        socket.write('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 11\r\n\r\nunavailable');
        answered = false; // keep-alive: the next request on this socket is answered the same way
      } else if (behaviour === 'trickle-headers') trickle('HTTP/1.1 200 OK\r\n', 'x-slow: a\r\n');
      else if (behaviour === 'trickle-body') {
        trickle('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n', ' ');
      }
      // 'hang': read everything, answer nothing
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  state.url = `http://127.0.0.1:${port}/v1/logs`;
  cleanups.push(async () => {
    for (const t of timers) clearInterval(t);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return state;
}

async function startServer(collector: BadCollector): Promise<HttpBin> {
  const s = await startHttpBin(
    'test/fixtures/side-effect-bin.ts',
    {
      ...sfxHighEnv(dir),
      RAVENHELM_AUDIT_FILE: join(dir, `${collector.url.split(':')[2]?.split('/')[0]}.jsonl`),
      RAVENHELM_AUDIT_SHIP_OTLP_URL: collector.url,
      RAVENHELM_AUDIT_SHIP_TIMEOUT_MS: String(SHIP_TIMEOUT_MS),
      RAVENHELM_AUDIT_SHIP_MAX_BUFFER_RECORDS: String(MAX_BUFFER),
      RAVENHELM_AUDIT_SHIP_FLUSH_INTERVAL_MS: '5',
      RAVENHELM_AUDIT_SHIP_MAX_BACKOFF_MS: '200',
      SFX_LOG: join(dir, 'side-effects.log'),
    },
    { timeoutMs: 30_000 },
  );
  cleanups.push(() => s.stop());
  return s;
}

/** Sum of a metric's samples whose labels include `labels`, from the server's /metrics text. */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url), { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (!m) continue;
    const have = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[2]);
  }
  return sum;
}

async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('audit shipping against a misbehaving collector', () => {
  for (const behaviour of ['hang', 'fail-503', 'trickle-headers', 'trickle-body'] as const) {
    it(`${behaviour}: calls are not held up, the buffer stays bounded, drops are counted and logged, the local log has everything, SIGTERM exits in time`, async () => {
      const collector = await startBadCollector(behaviour);
      const server = await startServer(collector);
      const client = new Client({ name: 'auditfault-ship', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
      let slowest = 0;
      for (let i = 0; i < CALLS; i++) {
        const started = Date.now();
        const res = await client.callTool(
          i % 5 === 0
            ? { name: 'sfx_grant', arguments: { value: `g${i}`, secret: SECRET, ms: 0 } }
            : { name: 'sfx_write', arguments: { value: `w${i}`, ms: 0 } },
        );
        slowest = Math.max(slowest, Date.now() - started);
        expect(res.isError).toBeFalsy();
      }
      await client.close();
      // Shipping never sits on the call path: no call waited for the collector.
      expect(slowest).toBeLessThan(SHIP_TIMEOUT_MS);

      const labels = { sink: 'otlp' };
      let droppedCount: { all: number; high: number } | undefined;
      if (behaviour !== 'trickle-body') {
        // Pushes fail (timeout or 503) and are retried...
        await until(
          'two failed pushes',
          async () => (await metric(server.url, 'ravenhelm_audit_ship_push_failures_total', labels)) >= 2,
        );
        // ...while the buffer holds at most its bound (HIGH records may use a tenth more), the rest counted.
        const buffered = await metric(server.url, 'ravenhelm_audit_ship_buffer_records', labels);
        expect(buffered).toBeLessThanOrEqual(Math.ceil(MAX_BUFFER * 1.1));
        const dropped = await metric(server.url, 'ravenhelm_audit_ship_dropped_total', labels);
        expect(dropped).toBe(2 * CALLS - buffered);
        droppedCount = {
          all: dropped,
          high: await metric(server.url, 'ravenhelm_audit_ship_dropped_total', { ...labels, tier: 'HIGH' }),
        };
        expect(droppedCount.high).toBeGreaterThan(0);
        expect(server.stderr()).toMatch(/audit records not shipped to otlp \(buffer_full\)/);
        expect(server.stderr()).toMatch(/audit shipping to otlp failed/);
      } else {
        // The answer's head came (200): the records count as shipped; the trickled body is not waited for.
        // (On a busy machine calls can outrun the pushes: what overflowed the buffer is counted as dropped.)
        const settled = async () =>
          (await metric(server.url, 'ravenhelm_audit_ship_records_total', { ...labels, outcome: 'shipped' })) +
          (await metric(server.url, 'ravenhelm_audit_ship_dropped_total', labels));
        await until('every record shipped or counted', async () => (await settled()) === 2 * CALLS);
        expect(
          await metric(server.url, 'ravenhelm_audit_ship_records_total', { ...labels, outcome: 'shipped' }),
        ).toBeGreaterThan(0);
      }
      // Sockets to the collector do not pile up: each ended push's socket is closed, so what the collector
      // has open falls back to at most the one push in flight while the server still runs (a socket left
      // open would stay). The collector sees a close a little after the server made it (later on a busy
      // host: 3 seen at once in a loaded run), so the overlap bound is loose; what is open settling is not.
      await until('the ended pushes closed, as the collector sees them', () => collector.open <= 1);
      expect(collector.maxOpen).toBeLessThanOrEqual(4);
      expect(collector.received).toBeGreaterThan(0);
      expect(server.stderr()).not.toContain(SECRET);

      // SIGTERM: the process ends within the ship timeout (its shutdown grace for the buffer) + slack.
      const stopping = Date.now();
      await server.stop();
      const stopMs = Date.now() - stopping;
      expect(server.child.exitCode, server.stderr().slice(-1200)).toBe(0);
      expect(stopMs).toBeLessThan(SHIP_TIMEOUT_MS + 3000);
      if (behaviour !== 'trickle-body') {
        expect(server.stderr()).toMatch(/shutting down with audit records not shipped to otlp/);
      }
      if (droppedCount) {
        // Drops are logged bounded (HIGH ones too: not a line each), and every one is in the lines' counts.
        const lines = server
          .stderr()
          .split('\n')
          .filter((l) => l.includes('"msg":"audit records not shipped to otlp'))
          .map((l) => JSON.parse(l) as { dropped: number; droppedHigh: number });
        expect(lines.length).toBeLessThanOrEqual(3);
        expect(lines.reduce((n, l) => n + l.dropped, 0)).toBe(droppedCount.all);
        expect(lines.reduce((n, l) => n + l.droppedHigh, 0)).toBe(droppedCount.high);
      }
      await until('the collector sees its sockets closed', () => collector.open === 0, 5000);

      // The local log is authoritative: every record is there, chained, without the secret.
      const auditFile = join(dir, `${collector.url.split(':')[2]?.split('/')[0]}.jsonl`);
      expect(await verifyAuditChain(auditFile)).toEqual({ ok: true, records: 2 * CALLS });
      expect(readFileSync(auditFile, 'utf8')).not.toContain(SECRET);
      console.info(
        `${behaviour}: slowest call ${slowest} ms, SIGTERM to exit ${stopMs} ms, connections ${collector.accepted}, max open ${collector.maxOpen}`,
      );
    }, 60_000);
  }
});
