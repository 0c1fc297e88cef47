/**
 * Backend metrics of the Docker server against the real Docker Engine, through a fault-injecting Unix
 * socket proxy in front of /var/run/docker.sock (the engine itself is never faulted), and against a socket
 * nobody serves: engine calls counted by outcome (ok, a 404 and a 500 answer, a timeout, engine down),
 * every label bounded whatever container names are asked for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DockerServices, dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { backendSeries, delta, expectBoundedLabels, outcomes, scrape, value } from './backend-metrics-harness.js';

const TIMEOUT_MS = 1500;
const dir = mkdtempSync(join(tmpdir(), 'rh-bm-docker-'));
let proxy: FaultProxy;
let server: ServedOverHttp<DockerServices>;

beforeAll(async () => {
  proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: join(dir, 'docker.sock') });
  server = await serveOverHttp<DockerServices>(
    dockerServer,
    { DOCKER_HOST: `unix://${proxy.socketPath}` },
    ['mcp:docker:read'],
    { 'backend.timeoutMs': TIMEOUT_MS, 'backend.maxConcurrentCalls': 4 },
  );
}, 60_000);

afterAll(async () => {
  await server?.close();
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

const list = () => server.call('containers_list', { limit: 1 });
const stats = (container: string) => server.call('containers_get_stats', { container });

it('counts engine calls by outcome: ok, a 404 and a 500 answer, a timeout', async () => {
  // dockerode loads on the first call
  expect((await list()).isError).toBe(false);
  const before = await scrape(server.http.url);
  for (let i = 0; i < 3; i++) expect((await list()).isError).toBe(false);
  // the engine answers 404 to the inspect of a container that does not exist
  for (let i = 0; i < 2; i++) expect((await stats('rh-bm-no-such-container')).text).toMatch(/^ERR_NOT_FOUND/);
  proxy.only = /^GET \/[^ ]*containers\/json/;
  proxy.mode = {
    kind: 'respond',
    status: 500,
    headers: { 'content-type': 'application/json' },
    body: '{"message":"engine trouble"}',
  };
  expect((await list()).text).toMatch(/^ERR_BACKEND_ERROR/);
  proxy.mode = { kind: 'hang' };
  expect((await list()).text).toMatch(/^ERR_BACKEND_TIMEOUT/);
  proxy.mode = { kind: 'pass' };
  proxy.only = undefined;
  const after = await scrape(server.http.url);
  expect(delta(outcomes(after, 'docker'), outcomes(before, 'docker'))).toEqual({
    ok: 3,
    http_4xx: 2,
    http_5xx: 1,
    timeout: 1,
  });
  const count = (s: typeof after, name: string) => value(s, name, { backend: 'docker' });
  expect(
    count(after, 'ravenhelm_backend_request_duration_seconds_count') -
      count(before, 'ravenhelm_backend_request_duration_seconds_count'),
  ).toBe(7);
  expect(
    count(after, 'ravenhelm_backend_slot_wait_seconds_count') -
      count(before, 'ravenhelm_backend_slot_wait_seconds_count'),
  ).toBe(7);
  expect(value(after, 'ravenhelm_backend_slots_limit', { server: 'docker' })).toBe(4);
  expectBoundedLabels(after, 'docker', ['docker']);
}, 60_000);

it('distinct container names add no series', async () => {
  const before = await scrape(server.http.url);
  const notFound = value(before, 'ravenhelm_backend_requests_total', { backend: 'docker', outcome: 'http_4xx' });
  for (let i = 0; i < 25; i++) await stats(`rh-bm-missing-${i}-${Date.now()}`);
  const after = await scrape(server.http.url);
  expect(value(after, 'ravenhelm_backend_requests_total', { backend: 'docker', outcome: 'http_4xx' }) - notFound).toBe(
    25,
  );
  expect(backendSeries(after)).toEqual(backendSeries(before));
  for (const s of after) expect(JSON.stringify(s.labels)).not.toMatch(/rh-bm-missing/);
}, 60_000);

it('an engine nobody serves is counted as unavailable', async () => {
  const down = await serveOverHttp<DockerServices>(
    dockerServer,
    { DOCKER_HOST: `unix://${join(dir, 'nobody.sock')}` },
    ['mcp:docker:read'],
    { 'backend.timeoutMs': TIMEOUT_MS },
  );
  try {
    for (let i = 0; i < 2; i++)
      expect((await down.call('containers_list', { limit: 1 })).text).toMatch(/^ERR_BACKEND_UNAVAILABLE/);
    expect(outcomes(await scrape(down.http.url), 'docker')).toEqual({ unavailable: 2 });
  } finally {
    await down.close();
  }
}, 60_000);
