/**
 * Backend metrics of the simulator-backed servers, through their real client libraries: GitLab
 * (gitbeaker over our request handler; the simulator records every request it got) and Secrets Manager
 * (the AWS SDK v3, behind the fault proxy); Traefik (the kit's BackendHttp with a limiter of its own). One backend call is one request as the client library sees
 * it: its retries (ours for GitLab, the SDK's for AWS) are inside it, not counted again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GitLabServices, gitlabServer } from '@ravenhelm/mcp-gitlab';
import { type SecretsServices, secretsServer } from '@ravenhelm/mcp-secrets';
import { type TraefikServices, traefikServer } from '@ravenhelm/mcp-traefik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { BOT_TOKEN, type GitLabSim, startGitLabSim } from '../simulators/gitlab.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { TraefikSimulator } from '../simulators/traefik.js';
import { backendSeries, delta, expectBoundedLabels, outcomes, scrape, value } from './backend-metrics-harness.js';

describe('GitLab (simulator, gitbeaker)', () => {
  let sim: GitLabSim;
  let server: ServedOverHttp<GitLabServices>;

  beforeAll(async () => {
    sim = await startGitLabSim();
    server = await serveOverHttp<GitLabServices>(
      gitlabServer,
      {
        GITLAB_URL: sim.url,
        GITLAB_TOKEN: BOT_TOKEN,
        GITLAB_MAX_RETRIES: '2',
        GITLAB_ALLOWLIST: 'platform/**',
      },
      ['mcp:gitlab:read'],
    );
    // gitbeaker loads on the first call
    expect((await server.call('projects_get', { project: 'platform/api' })).isError).toBe(false);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await sim?.close();
  });

  it('counts requests by outcome; a retried 503 is one request, a path outside the allowlist none', async () => {
    const before = await scrape(server.http.url);
    const sent = sim.control.requests.length;
    for (let i = 0; i < 3; i++)
      expect((await server.call('projects_get', { project: 'platform/api' })).isError).toBe(false);
    const okSent = sim.control.requests.length - sent;
    for (let i = 0; i < 2; i++)
      expect((await server.call('projects_get', { project: 'platform/no-such' })).text).toMatch(/^ERR_NOT_FOUND/);
    // refused by the allowlist before GitLab is asked
    expect((await server.call('projects_get', { project: 'elsewhere/app' })).isError).toBe(true);
    sim.control.fail = { status: 503, body: '{"message":"503 Service Unavailable"}', contentType: 'application/json' };
    const failedFrom = sim.control.requests.length;
    try {
      expect((await server.call('projects_get', { project: 'platform/api' })).isError).toBe(true);
    } finally {
      sim.control.fail = undefined;
    }
    // GET is retried twice: GitLab saw three requests
    expect(sim.control.requests.length - failedFrom).toBe(3);
    const after = await scrape(server.http.url);
    expect(delta(outcomes(after, 'gitlab'), outcomes(before, 'gitlab'))).toEqual({
      ok: okSent,
      http_4xx: 2,
      http_5xx: 1,
    });
    expect(okSent).toBe(3);
    expectBoundedLabels(after, 'gitlab', ['gitlab']);
  }, 60_000);

  it('distinct project paths add no series', async () => {
    const before = await scrape(server.http.url);
    for (let i = 0; i < 20; i++) await server.call('projects_get', { project: `platform/missing-${i}` });
    const after = await scrape(server.http.url);
    expect(delta(outcomes(after, 'gitlab'), outcomes(before, 'gitlab'))).toEqual({ http_4xx: 20 });
    expect(backendSeries(after)).toEqual(backendSeries(before));
  }, 60_000);
});

describe('Secrets Manager (simulator, AWS SDK)', () => {
  const sim = new SecretsManagerSimulator();
  const dir = mkdtempSync(join(tmpdir(), 'rh-bm-secrets-'));
  let proxy: FaultProxy;
  let server: ServedOverHttp<SecretsServices>;

  beforeAll(async () => {
    await sim.start();
    const u = new URL(sim.url);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
    // the SDK's credential chain reads the process environment; nothing else may leak in
    Object.assign(process.env, sim.sdkEnv(dir));
    server = await serveOverHttp<SecretsServices>(
      secretsServer,
      {
        AWS_ENDPOINT_URL: proxy.url as string,
        AWS_REGION: sim.region,
        SECRETS_TIMEOUT_MS: '1500',
        SECRETS_MAX_ATTEMPTS: '2',
      },
      ['mcp:secrets:read'],
    );
    // the SDK loads on the first call
    expect((await server.call('secrets_list', {})).isError).toBe(false);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts calls by outcome: ok, a 4xx answer, a 5xx answer retried by the SDK, a timeout', async () => {
    const before = await scrape(server.http.url);
    for (let i = 0; i < 2; i++) expect((await server.call('secrets_list', {})).isError).toBe(false);
    expect((await server.call('secrets_describe', { name: 'rh-bm/no-such' })).isError).toBe(true);
    proxy.mode = {
      kind: 'respond',
      status: 500,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'InternalServiceError' },
      body: '{"__type":"InternalServiceError","message":"trouble"}',
    };
    expect((await server.call('secrets_list', {})).isError).toBe(true);
    proxy.mode = { kind: 'hang' };
    expect((await server.call('secrets_list', {})).text).toMatch(/^ERR_BACKEND_TIMEOUT/);
    proxy.mode = { kind: 'pass' };
    const after = await scrape(server.http.url);
    expect(delta(outcomes(after, 'secretsmanager'), outcomes(before, 'secretsmanager'))).toEqual({
      ok: 2,
      http_4xx: 1,
      http_5xx: 1,
      timeout: 1,
    });
    expectBoundedLabels(after, 'secrets', ['secretsmanager']);
  }, 60_000);
});

describe('Traefik (simulator, BackendHttp)', () => {
  let sim: TraefikSimulator;
  let proxy: FaultProxy;
  let server: ServedOverHttp<TraefikServices>;

  beforeAll(async () => {
    sim = await new TraefikSimulator().start();
    const u = new URL(sim.url);
    proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
    server = await serveOverHttp<TraefikServices>(traefikServer, { TRAEFIK_API_URL: proxy.url as string }, [
      'mcp:traefik:read',
    ]);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await sim?.close();
  });

  it('counts API calls by outcome and reports its own slots', async () => {
    const before = await scrape(server.http.url);
    for (let i = 0; i < 2; i++) expect((await server.call('overview_get', {})).isError).toBe(false);
    proxy.mode = { kind: 'respond', status: 502, headers: { 'content-type': 'text/plain' }, body: 'bad gateway' };
    expect((await server.call('overview_get', {})).isError).toBe(true);
    proxy.mode = { kind: 'pass' };
    const after = await scrape(server.http.url);
    expect(delta(outcomes(after, 'traefik'), outcomes(before, 'traefik'))).toEqual({ ok: 2, http_5xx: 1 });
    // BackendHttp's own limiter (DEFAULT_MAX_CONCURRENT_CALLS), idle again
    expect(value(after, 'ravenhelm_backend_slots_limit', { server: 'traefik' })).toBe(8);
    expect(value(after, 'ravenhelm_backend_slots_in_use', { server: 'traefik' })).toBe(0);
    expectBoundedLabels(after, 'traefik', ['traefik']);
  }, 60_000);
});
