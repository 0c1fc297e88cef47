/**
 * Connections dropped over RAVENHELM_HTTP_MAX_CONNECTIONS are counted in ravenhelm_http_connections_dropped_total
 * (the warning alone is logged at most every 10 s, so a flood showed as one line). Real sockets over loopback,
 * the count read back from /metrics.
 */
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoHarness, startEcho } from '../fixtures/kit-harness.js';

let h: EchoHarness;
beforeAll(async () => {
  h = await startEcho({ tokens: {}, env: { RAVENHELM_HTTP_MAX_CONNECTIONS: '2' } });
});
afterAll(async () => {
  await h?.stop();
});

const connections = () => new Promise<number>((r, j) => h.http.server.getConnections((e, n) => (e ? j(e) : r(n))));

/** Polls (bounded) until the server holds `n` connections. */
async function holding(n: number): Promise<void> {
  for (let i = 0; i < 200 && (await connections()) !== n; i++) await new Promise((r) => setTimeout(r, 20));
  expect(await connections()).toBe(n);
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(h.http.port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** The counter's value from /metrics, read over a connection of its own that closes after the answer. */
async function dropped(): Promise<number | undefined> {
  const text = await new Promise<string>((resolve, reject) => {
    get(`${h.base}/metrics`, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const line = text.split('\n').find((l) => l.startsWith('ravenhelm_http_connections_dropped_total{'));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('ravenhelm_http_connections_dropped_total', () => {
  it('counts each connection dropped on accept over the cap, and none under it', async () => {
    expect(await dropped()).toBe(0);
    await holding(0);
    const held = [await open(), await open()];
    await holding(2);
    // three more over the cap of 2: each is accepted by the kernel, then dropped by Node at once
    const extra = await Promise.all([open(), open(), open()]);
    await Promise.all(
      extra.map(
        (s) =>
          new Promise<void>((r) => {
            s.on('error', () => {}); // a reset, as the server drops it
            if (s.destroyed) r();
            else s.once('close', () => r());
          }),
      ),
    );
    for (const s of held) s.destroy();
    await holding(0);
    expect(await dropped()).toBe(3);
  });
});
