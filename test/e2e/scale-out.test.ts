/**
 * Scale-out on real parts: three replicas of the Docker server (each its own audit file) behind Debian's
 * haproxy (round robin, /readyz health checks, retries only on connection failure), one redis-server for
 * the shared state, a real OAuth issuer (oidc-provider), a real Docker Engine, and agents using the SDK's
 * StreamableHTTPClientTransport through the balancer.
 *
 * Proven here: a MEDIUM tool's per-agent rate limit, confirmation tokens and the restart budget hold
 * across replicas; killing one replica with SIGKILL mid-load loses no acknowledged call (every success
 * the agents saw has its outcome record in some replica's hash-chained audit file), failed calls reach
 * the agent as errors, and the remaining replicas carry on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectRedis, repairAuditLog, verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from '../docker/fixture.js';
import { type RunningHaproxy, startHaproxy } from '../fixtures/haproxy.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';
import { freePort, startRedis } from '../fixtures/redis.js';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';

const REPLICAS = 3;
const RATE_POINTS = 12;
const RATE_WINDOW_SECONDS = 15;
const MAX_RESTARTS = 2;
const LOAD_AGENTS = 4;
const LOAD_CALLS_PER_AGENT = 30;

interface AuditLine {
  tool: string;
  phase: 'attempt' | 'outcome';
  outcome?: string;
  errorCode?: string;
  args?: Record<string, unknown>;
}

type ToolAnswer = {
  isError?: boolean;
  content?: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, Record<string, unknown>>;
};

describe.sequential('three Docker server replicas behind haproxy, sharing one redis-server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-scale-'));
  const fixture = new DockerFixture('scale');
  const replicas: { name: string; port: number; audit: string; bin?: HttpBin }[] = [];
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let lb: RunningHaproxy;
  let oidc: RunningOidcProvider;
  let token: string;
  let agent: Client;
  const clients: Client[] = [];

  async function connectAgent(name: string): Promise<Client> {
    const client = new Client({ name, version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${lb.base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  const call = async (client: Client, name: string, args: Record<string, unknown>) =>
    (await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as ToolAnswer;

  const text = (r: ToolAnswer) => r.content?.[0]?.text ?? '';

  /** Every record of every replica's audit file, with the replica that wrote it. */
  async function auditRecords(): Promise<(AuditLine & { replica: string })[]> {
    const all: (AuditLine & { replica: string })[] = [];
    for (const r of replicas) {
      const body = await readFile(r.audit, 'utf8').catch(() => '');
      for (const line of body.split('\n')) {
        if (!line.trim()) continue;
        try {
          all.push({ ...(JSON.parse(line) as AuditLine), replica: r.name });
        } catch {
          // a torn last line of the killed replica: never acknowledged, checked by the chain verifier below
        }
      }
    }
    return all;
  }

  beforeAll(async () => {
    redis = await startRedis();
    await ensureImage();
    for (let i = 0; i < REPLICAS; i++) {
      replicas.push({ name: `r${i}`, port: await freePort(), audit: join(dir, `audit-r${i}.jsonl`) });
    }
    lb = await startHaproxy(replicas.map((r) => ({ name: r.name, port: r.port })));
    const resource = `${lb.base}/mcp`;
    oidc = await startOidcProvider({ jwtResources: [resource] });
    writeFileSync(join(dir, 'policy.yaml'), 'servers:\n  docker:\n    confirm: destructive\n');
    writeFileSync(
      join(dir, 'config.yaml'),
      `backend:\n  restartBudget:\n    maxRestarts: ${MAX_RESTARTS}\n    windowSeconds: 600\n`,
    );
    await Promise.all(
      replicas.map(async (r) => {
        r.bin = await startHttpBin(
          'servers/docker/src/bin.ts',
          {
            PATH: process.env.PATH ?? '/usr/bin:/bin',
            RAVENHELM_CONFIG: join(dir, 'config.yaml'),
            RAVENHELM_POLICY_FILE: join(dir, 'policy.yaml'),
            RAVENHELM_AUDIT_FILE: r.audit,
            RAVENHELM_REDIS_URL: redis.url,
            RAVENHELM_PUBLIC_URL: resource,
            RAVENHELM_AUTH_ISSUER: oidc.issuer,
            RAVENHELM_RATE_LIMIT_POINTS: String(RATE_POINTS),
            RAVENHELM_RATE_LIMIT_WINDOW_SECONDS: String(RATE_WINDOW_SECONDS),
            // Dynamic toolsets: an agent starts with the default set and enables the rest, once for
            // every replica (the enablement lives in Redis).
            RAVENHELM_TOOLSETS: 'default',
          },
          { args: ['--http', '--port', String(r.port)], timeoutMs: 90_000 },
        );
      }),
    );
    await lb.waitFor(Object.fromEntries(replicas.map((r) => [r.name, 'UP'])), 60_000);
    token = await oidc.getToken({ scope: 'mcp:docker:read mcp:docker:write' });
    agent = await connectAgent('agent-main');
  }, 240_000);

  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const r of replicas) await r.bin?.stop();
    await lb?.stop();
    await oidc?.stop();
    await redis?.stop();
    await fixture.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("a MEDIUM tool's per-agent rate limit is one quota across the replicas, not one per replica", async () => {
    const web = await fixture.start({ name: 'rl', script: 'sleep 3600' });
    const started = Date.now();
    const calls = 3 * RATE_POINTS + REPLICAS;
    let allowed = 0;
    let limited = 0;
    for (let i = 0; i < calls; i++) {
      try {
        // Already running: containers_start changes nothing, but it is MEDIUM and takes a point.
        const r = await call(agent, 'containers_start', { container: web });
        expect(r.isError, text(r)).toBeFalsy();
        allowed++;
      } catch (err) {
        expect(String(err)).toMatch(/429|rate limit/i);
        limited++;
      }
    }
    expect(Date.now() - started).toBeLessThan(RATE_WINDOW_SECONDS * 1000); // all in one window
    expect({ allowed, limited }).toEqual({ allowed: RATE_POINTS, limited: calls - RATE_POINTS });
    const served = (await auditRecords()).filter(
      (a) => a.tool === 'containers_start' && a.phase === 'outcome' && a.outcome === 'success',
    );
    expect(served).toHaveLength(RATE_POINTS);
    expect(new Set(served.map((a) => a.replica)).size).toBe(REPLICAS); // round robin: every replica took part
    // The later tests need MEDIUM calls again: wait for the next window.
    await new Promise((r) => setTimeout(r, Math.max(0, started + RATE_WINDOW_SECONDS * 1000 + 1000 - Date.now())));
  }, 120_000);

  it('a confirmation token issued through one replica runs once on another and is refused on replay', async () => {
    const victim = await fixture.start({ name: 'cfm', script: 'sleep 3600' });
    const first = await call(agent, 'containers_stop', { container: victim });
    expect(text(first)).toMatch(/^ERR_CONFIRMATION_REQUIRED/);
    const confirmationToken = first._meta?.['ravenhelm/confirmation']?.token as string;
    expect(confirmationToken).toMatch(/^cfm_/);
    expect((await fixture.inspect(victim)).State.Running).toBe(true);

    const second = await call(agent, 'containers_stop', { container: victim, confirmationToken });
    expect(second.isError, text(second)).toBeFalsy();
    expect(second.structuredContent).toMatchObject({ action: 'stop', changed: true });
    expect((await fixture.inspect(victim)).State.Running).toBe(false);

    const replay = await call(agent, 'containers_stop', { container: victim, confirmationToken });
    expect(text(replay)).toMatch(/^ERR_CONFIRMATION_INVALID/);

    const stops = (await auditRecords()).filter(
      (a) => a.tool === 'containers_stop' && a.phase === 'outcome' && a.args?.container === victim,
    );
    const issuedOn = stops.find((a) => a.errorCode === 'ERR_CONFIRMATION_REQUIRED')?.replica;
    const ranOn = stops.filter((a) => a.outcome === 'success').map((a) => a.replica);
    const refusedOn = stops.find((a) => a.errorCode === 'ERR_CONFIRMATION_INVALID')?.replica;
    expect(ranOn).toHaveLength(1);
    expect(issuedOn).toBeDefined();
    expect(ranOn[0]).not.toBe(issuedOn);
    expect(refusedOn).not.toBe(ranOn[0]);
  }, 120_000);

  it('the restart budget (in Redis) holds across replicas, also for concurrent restarts', async () => {
    const rc = await connectRedis(redis.url);
    try {
      const one = await fixture.start({ name: 'rb1', script: 'sleep 3600' });
      const answers: ToolAnswer[] = [];
      for (let i = 0; i < MAX_RESTARTS + 1; i++)
        answers.push(await call(agent, 'containers_restart', { container: one }));
      expect(answers.slice(0, MAX_RESTARTS).map((a) => a.isError ?? false)).toEqual(Array(MAX_RESTARTS).fill(false));
      expect(answers[MAX_RESTARTS]?.structuredContent).toBeUndefined();
      expect(text(answers[MAX_RESTARTS] as ToolAnswer)).toMatch(/^ERR_RESTART_BUDGET: .*escalate to a human/);
      const restartsBy = (await auditRecords())
        .filter((a) => a.tool === 'containers_restart' && a.phase === 'outcome' && a.args?.container === one)
        .map((a) => a.replica);
      expect(new Set(restartsBy).size).toBe(REPLICAS); // three calls, three replicas, one budget
      expect(await rc.zcard(`ravenhelm:rb:{docker}:${one}`)).toBe(MAX_RESTARTS);

      // Six agents' calls at once for one container: exactly the budget runs, whatever replica gets each.
      const two = await fixture.start({ name: 'rb2', script: 'sleep 3600' });
      const before = (await fixture.inspect(two)).State.StartedAt;
      const racers = await Promise.all(Array.from({ length: 3 }, (_, i) => connectAgent(`racer-${i}`)));
      const raced = await Promise.all(
        Array.from({ length: 6 }, (_, i) => call(racers[i % 3] as Client, 'containers_restart', { container: two })),
      );
      const ok = raced.filter((r) => !r.isError);
      const refused = raced.filter((r) => /^ERR_RESTART_BUDGET/.test(text(r)));
      expect({ ok: ok.length, refused: refused.length }).toEqual({ ok: MAX_RESTARTS, refused: 6 - MAX_RESTARTS });
      expect(await rc.zcard(`ravenhelm:rb:{docker}:${two}`)).toBe(MAX_RESTARTS);
      expect((await fixture.inspect(two)).State.StartedAt).not.toBe(before);
    } finally {
      rc.disconnect();
    }
  }, 180_000);

  it('a toolset enabled through one replica is enabled on every replica (per-principal state in Redis)', async () => {
    const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name);
    const reader = await connectAgent('toolsets-agent');
    // Before: the default set (containers, logs, health) and the two kit tools; compose is not listed
    // on any replica, and a call into it says how to enable it.
    for (let i = 0; i < REPLICAS; i++) {
      const listed = await names(reader);
      expect(listed).toContain('containers_list');
      expect(listed).toContain('toolsets_enable');
      expect(listed).not.toContain('compose_list_projects');
    }
    const off = (await reader.callTool({ name: 'compose_list_projects', arguments: {} })) as ToolAnswer;
    expect(off.isError).toBe(true);
    expect(text(off)).toMatch(
      /^ERR_TOOLSET_NOT_ENABLED: .*toolset 'compose', which is not enabled for you; call toolsets_enable with \{"toolset": "compose"\}/,
    );

    const enabled = await reader.callTool({ name: 'toolsets_enable', arguments: { toolset: 'compose' } });
    expect(enabled.isError, JSON.stringify(enabled.content)).toBeFalsy();

    // After: every replica (round robin) lists and runs the compose tools for this principal.
    for (let i = 0; i < REPLICAS; i++) {
      expect(await names(reader)).toContain('compose_list_projects');
      const r = (await reader.callTool({ name: 'compose_list_projects', arguments: {} })) as ToolAnswer;
      expect(r.isError, text(r)).toBeFalsy();
    }
    const ran = (await auditRecords())
      .filter((a) => a.tool === 'compose_list_projects' && a.phase === 'outcome' && a.outcome === 'success')
      .map((a) => a.replica);
    expect(new Set(ran).size).toBe(REPLICAS);
  }, 120_000);

  it('killing one replica mid-load loses no acknowledged call; the others carry on', async () => {
    const victim = replicas[1] as (typeof replicas)[number];
    const agents = await Promise.all(Array.from({ length: LOAD_AGENTS }, (_, i) => connectAgent(`load-${i}`)));
    const acked: string[] = [];
    const failed: { marker: string; error: string }[] = [];
    let killedAfter = -1;
    const ackedAfterKill: string[] = [];
    const kill = () => {
      killedAfter = acked.length;
      victim.bin?.child.kill('SIGKILL');
    };
    await Promise.all(
      agents.map(async (client, a) => {
        for (let i = 0; i < LOAD_CALLS_PER_AGENT; i++) {
          // A unique, valid name filter per call: the audit record carries it, so each answer can be found.
          const marker = `load-${a}-${i}-${Math.random().toString(36).slice(2, 8)}`;
          if (killedAfter < 0 && acked.length >= (LOAD_AGENTS * LOAD_CALLS_PER_AGENT) / 3) kill();
          try {
            const r = await call(client, 'containers_list', { name: marker });
            if (r.isError) throw new Error(text(r));
            acked.push(marker);
            if (killedAfter >= 0) ackedAfterKill.push(marker);
          } catch (err) {
            failed.push({ marker, error: String(err).slice(0, 200) });
          }
        }
      }),
    );
    expect(killedAfter).toBeGreaterThan(0);
    await lb.waitFor({ [victim.name]: 'DOWN' }, 10_000);

    // A call made after the kill, once haproxy has noticed, succeeds.
    const after = await call(agent, 'containers_list', { name: 'after-kill' });
    expect(after.isError, text(after)).toBeFalsy();

    // Every audit chain is intact (the killed replica's file may end with a torn line: repaired as a restart would).
    const chains: Record<string, string> = {};
    for (const r of replicas) {
      let v = await verifyAuditChain(r.audit);
      if (!v.ok && r === victim) {
        await repairAuditLog(r.audit);
        v = await verifyAuditChain(r.audit);
        chains[r.name] = `repaired a torn tail, then ${v.ok ? 'intact' : 'broken'}`;
      } else chains[r.name] = v.ok ? `intact (${v.records} records)` : `broken: ${v.reason}`;
      expect(v.ok, `${r.name}: ${JSON.stringify(v)}`).toBe(true);
    }

    const audited = new Map<string, string>();
    for (const a of await auditRecords()) {
      if (a.tool === 'containers_list' && a.phase === 'outcome' && a.outcome === 'success') {
        audited.set(String(a.args?.name), a.replica);
      }
    }
    const unaudited = acked.filter((m) => !audited.has(m));
    const servedAfterKill = new Set(ackedAfterKill.map((m) => audited.get(m)));
    const figures = {
      replicas: REPLICAS,
      agents: LOAD_AGENTS,
      calls: LOAD_AGENTS * LOAD_CALLS_PER_AGENT,
      acknowledged: acked.length,
      failedAtKill: failed.length,
      replicasKilled: 1,
      acknowledgedButUnaudited: unaudited.length,
      // Ran and audited, but the answer died with the replica: the agent saw an error and may retry.
      failedButAudited: failed.filter((f) => audited.has(f.marker)).length,
      acknowledgedAfterKill: ackedAfterKill.length,
      perReplica: Object.fromEntries(
        replicas.map((r) => [r.name, acked.filter((m) => audited.get(m) === r.name).length]),
      ),
      chains,
    };
    console.log(`scale-out figures: ${JSON.stringify(figures)}`);
    if (failed.length > 0) console.log(`failed at kill: ${JSON.stringify(failed.slice(0, 5))}`);

    expect(unaudited).toEqual([]);
    expect(acked.length + failed.length).toBe(LOAD_AGENTS * LOAD_CALLS_PER_AGENT); // nothing vanished
    expect(failed.length).toBeLessThanOrEqual(LOAD_AGENTS); // at most the calls in flight at the kill
    expect(ackedAfterKill.length).toBeGreaterThan(0);
    // The others carried on: calls answered after the kill were served by the surviving replicas.
    expect([...servedAfterKill].filter((r) => r !== victim.name).length).toBeGreaterThan(0);
  }, 240_000);

  it('with Redis down, restarts are refused on the surviving replicas (fail closed) while reads go on', async () => {
    const web = await fixture.start({ name: 'down', script: 'sleep 3600' });
    const before = (await fixture.inspect(web)).State.StartedAt;
    await redis.stop();
    const refused: string[] = [];
    for (let i = 0; i < REPLICAS; i++) {
      const r = await call(agent, 'containers_restart', { container: web });
      refused.push(text(r));
    }
    for (const t of refused)
      expect(t).toMatch(/^ERR_BACKEND_UNAVAILABLE: the shared restart budget in Redis cannot be read/);
    expect(refused.join('\n')).not.toMatch(/redis:\/\//);
    expect((await fixture.inspect(web)).State.StartedAt).toBe(before); // never restarted
    const read = await call(agent, 'containers_list', { name: 'redis-down' });
    expect(read.isError, text(read)).toBeFalsy();
    const by = (await auditRecords())
      .filter((a) => a.tool === 'containers_restart' && a.phase === 'outcome' && a.args?.container === web)
      .map((a) => a.replica);
    expect(by).toHaveLength(REPLICAS);

    // A replica told to stop while Redis is down still exits (its Redis client stops reconnecting).
    const survivor = replicas[2] as (typeof replicas)[number];
    const stopped = Date.now();
    await Promise.race([
      survivor.bin?.stop(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('replica did not exit within 20 s of SIGTERM')), 20_000),
      ),
    ]);
    expect(Date.now() - stopped).toBeLessThan(20_000);
  }, 60_000);
});
