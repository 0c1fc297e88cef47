/**
 * Traefik's read API behind a fault-injecting proxy in front of the simulator: every fault ends by the
 * deadline in a tool error naming Traefik and saying what to do; an endless answer stops at the cap; no
 * socket is left open.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TraefikServices, traefikServer } from '@ravenhelm/mcp-traefik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import {
  endlessJson,
  expectCleanAfterFaultRounds,
  faulted,
  HTTP_FAULTS,
  type ServedOverHttp,
  serveOverHttp,
} from '../fixtures/fault-server.js';
import { TraefikSimulator } from '../simulators/traefik.js';

const TIMEOUT_MS = 1500;
const SLACK_MS = 1000;

const scratch = mkdtempSync(join(tmpdir(), 'rh-traefik-fault-'));
const dynamicDir = join(scratch, 'dynamic');
let sim: TraefikSimulator;
let proxy: FaultProxy;
let server: ServedOverHttp<TraefikServices>;

beforeAll(async () => {
  mkdirSync(dynamicDir);
  sim = await new TraefikSimulator({ directory: dynamicDir, watchIntervalMs: 25 }).start();
  sim.setProvider('docker', {
    http: {
      routers: { web: { rule: 'Host(`web.example.com`)', service: 'web' } },
      services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  const u = new URL(sim.url);
  proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
  server = await serveOverHttp<TraefikServices>(
    traefikServer,
    {
      TRAEFIK_API_URL: proxy.url as string,
      TRAEFIK_API_TIMEOUT_MS: String(TIMEOUT_MS),
      TRAEFIK_DYNAMIC_DIR: dynamicDir,
      RAVENHELM_TOOLSETS: 'all',
    },
    ['mcp:traefik:admin'],
  );
}, 60_000);

afterAll(async () => {
  await server?.close();
  await proxy?.close();
  await sim?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('Traefik behind a faulty connection', () => {
  it.each(Object.keys(HTTP_FAULTS))(
    '%s',
    async (name) => {
      const fault = HTTP_FAULTS[name] as (typeof HTTP_FAULTS)[string];
      const a = await faulted(proxy, fault.mode, () => server.call('routers_list', {}));
      console.log(`traefik ${name}: ${a.ms} ms: ${a.text.slice(0, 300)}`);
      expect(a.isError, a.text).toBe(true);
      expect(a.text).toMatch(/Traefik/);
      expect(a.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      if (fault.expect === 'timeout') expect(a.text).toMatch(/^ERR_BACKEND_TIMEOUT: Traefik .*within 1500 ms/);
      else
        expect(a.text).toMatch(
          /^ERR_BACKEND_UNAVAILABLE: the connection to Traefik API broke while its answer was read/,
        );
      expect(a.text).toMatch(/retry|check/);
      await proxy.drained(3000);
      const ok = await server.call('routers_list', {});
      expect(ok.isError, ok.text).toBe(false);
    },
    30_000,
  );

  it('an endless router list stops at the byte cap', async () => {
    const before = proxy.endlessBytes;
    const a = await faulted(proxy, endlessJson({ name: 'flood@docker', rule: 'Host(`x`)', service: 'x' }), () =>
      server.call('routers_list', {}),
    );
    const sent = proxy.endlessBytes - before;
    console.log(`traefik endless: ${a.ms} ms, ${sent} bytes sent: ${a.text.slice(0, 300)}`);
    expect(a.isError).toBe(true);
    expect(a.text).toMatch(/^ERR_OUTPUT_TOO_LARGE: Traefik API answered .* check backend\.api\.url/);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
    await proxy.drained(3000);
  }, 30_000);

  it('50 faulted calls leave no slot and no socket', async () => {
    await expectCleanAfterFaultRounds(
      'traefik',
      server,
      proxy,
      () => server.call('routers_list', {}),
      TIMEOUT_MS + SLACK_MS,
    );
  }, 60_000);
});

// Malformed answers (a wrong backend.api.url, a proxy, a compromised Traefik): before, "internal error" or
// garbage such as a server status string read letter by letter; a page far larger than Traefik's 100
// overflowed the stack.
/** Serialized JSON passes as it is (JSON.stringify itself overflows on very deep values). */
class RawJson {
  constructor(readonly text: string) {}
}

const answer = (body: unknown) => ({
  kind: 'respond' as const,
  status: 200,
  headers: { 'content-type': 'application/json' },
  body: body instanceof RawJson ? body.text : JSON.stringify(body),
});

/** `{"a":{"a":...1}}`, `levels` deep. */
const deepJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

const MALFORMED: [string, string, Record<string, unknown>, unknown, RegExp][] = [
  ['list items without a name', 'routers_list', {}, [{ rule: 'Host(`a`)' }, 5], /item 0, field name/],
  ['a middleware named by an object', 'middlewares_list', {}, [{ name: { a: 1 } }], /item 0, field name/],
  ['an overview that is null', 'overview_get', {}, null, /\/api\/overview/],
  ['overview counts as strings', 'overview_get', {}, { http: { routers: { total: 'many' } } }, /http\.routers\.total/],
  ['a router whose rule is a number', 'routers_get', { name: 'a@docker' }, { name: 'a@docker', rule: 5 }, /rule/],
  [
    'a service status that is a string',
    'services_list',
    {},
    [{ name: 's@x', serverStatus: 'UP', loadBalancer: { servers: [] } }],
    /item 0, field serverStatus/,
  ],
  [
    'TLS domains that are a string',
    'certificates_sweep',
    {},
    [{ name: 'a@x', tls: { domains: 'x' }, rule: 'Host(`a.example.com`)' }],
    /item 0, field tls\.domains/,
  ],
  [
    'router middlewares that are a number',
    'requests_diagnose',
    { url: 'http://a.example.com/' },
    [{ name: 'b@x', rule: 'Host(`a.example.com`)', middlewares: 7, service: 'b' }],
    /item 0, field middlewares/,
  ],
  // JSON.parse takes 100,000 levels; every recursive walk after it (redaction, the answer's JSON) overflows
  [
    'a middleware configuration 100,000 levels deep',
    'middlewares_list',
    {},
    new RawJson(`[{"name":"deep@x","type":"headers","headers":${deepJson(100_000)}}]`),
    /item 0: nested deeper than 32 levels/,
  ],
];

describe('malformed Traefik answers', () => {
  it.each(MALFORMED)('%s: a tool error saying what and what to check', async (_label, tool, args, body, field) => {
    const a = await faulted(proxy, answer(body), () => server.call(tool, args));
    expect(a.isError, a.text).toBe(true);
    expect(a.text).toMatch(/^ERR_BACKEND_ERROR: the answer for \/api\/.* is not what Traefik's API returns/);
    expect(a.text).toMatch(field);
    expect(a.text).toMatch(/check that backend\.api\.url points at Traefik's API/);
  });

  it('a page of 300,000 routers is cut at the 5,000-item cap and says so', async () => {
    const huge = Array.from({ length: 300_000 }, (_, i) => ({ name: `r${i}@x` }));
    const a = await faulted(proxy, answer(huge), () => server.call('routers_list', { limit: 1 }));
    expect(a.isError, a.text).toBe(false);
    expect(JSON.parse(a.text)).toMatchObject({ total: 5000, returned: 1, truncated: true, capped: true });
  });
});
