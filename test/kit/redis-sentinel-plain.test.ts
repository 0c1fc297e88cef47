/**
 * A failover behind a plain redis:// URL, no Sentinel client: the primary is demoted by hand
 * (`REPLICAOF NO ONE` on the replica, `REPLICAOF <new>` on the old primary), as an operator or an
 * operator-less chart does, with a Kubernetes-Service-like TCP forwarder in front that is then pointed at
 * the new primary. A write on the demoted primary fails at once and clearly (READONLY, never a hang);
 * the client drops the connection instead of staying on a read-only server, is not "ready" (redis_up 0)
 * while only a replica answers, and reaches the new primary through the same URL without a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisProcess, startRedis } from '../fixtures/redis.js';
import {
  answerText,
  callTimed,
  type FaultHarness,
  REDIS_PASSWORD,
  sleep,
  startFaultServer,
  type Timed,
  type ToolAnswer,
} from '../fixtures/redis-faults.js';
import { redisCli, redisUp, startServiceProxy } from '../fixtures/redis-sentinel.js';

/** A MEDIUM call: limiter store timeout (500 ms) + one Redis command timeout (1000 ms) + slack. */
const BOUND_MS = 500 + 1000 + 1500;

describe('a primary demoted behind a plain redis:// URL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rh-demote-'));
  const nodes: RedisProcess[] = [];
  const args = ['--masterauth', REDIS_PASSWORD, '--dir', dir];
  const demote = async (primary: RedisProcess, replica: RedisProcess) => {
    await rawCommand(replica, ['REPLICAOF', 'NO', 'ONE']);
    await rawCommand(primary, ['REPLICAOF', '127.0.0.1', String(replica.port)]);
  };
  beforeAll(async () => {
    const a = await startRedis({ password: REDIS_PASSWORD, args });
    const b = await startRedis({
      password: REDIS_PASSWORD,
      args: [...args, '--replicaof', '127.0.0.1', String(a.port)],
    });
    nodes.push(a, b);
    for (let i = 0; i < 100 && !/master_link_status:up/.test(await rawCommand(b, ['INFO', 'replication'])); i++) {
      await sleep(100);
    }
  }, 30_000);
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a connected client: the write fails at once with READONLY, then the client waits for a primary', async () => {
    const [a, b] = nodes as [RedisProcess, RedisProcess];
    const client = await connectRedis(a.url, { commandTimeoutMs: 1000 });
    try {
      expect(await client.set('k', '1')).toBe('OK');
      await demote(a, b);
      const started = Date.now();
      const err = (await client.set('k', '2').catch((e: Error) => e)) as Error;
      expect(Date.now() - started).toBeLessThan(200);
      expect(err.message).toMatch(/^READONLY You can't write against a read only replica/);
      // It dropped the read-only server and keeps retrying it, never "ready" while only a replica answers.
      await sleep(1500);
      expect(client.status).not.toBe('ready');
      const refused = Date.now();
      await expect(client.set('k', '3')).rejects.toThrow();
      expect(Date.now() - refused).toBeLessThan(200);
      // Promoted again: the same client is ready and writes, without a restart.
      await demote(b, a);
      for (let i = 0; i < 100 && client.status !== 'ready'; i++) await sleep(100);
      expect(client.status).toBe('ready');
      expect(await client.set('k', '4')).toBe('OK');
    } finally {
      client.disconnect();
    }
  }, 30_000);

  it('behind a Service: the server refuses clearly during the switch, then works on the new primary', async () => {
    // After the first test, a is the primary again and b its replica.
    const [a, b] = nodes as [RedisProcess, RedisProcess];
    for (let i = 0; i < 100 && !/master_link_status:up/.test(await rawCommand(b, ['INFO', 'replication'])); i++) {
      await sleep(100);
    }
    const service = await startServiceProxy(a.port);
    let h: FaultHarness | undefined;
    try {
      h = await startFaultServer({
        tokens: { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } },
        policy: 'servers:\n  echo:\n    confirm: destructive\n',
        redis: a, // owned by this suite
        env: { RAVENHELM_REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${service.port}` },
      });
      const harness = h;
      const client = await harness.client('writer');
      const del = (item: string, confirmationToken?: string) =>
        callTimed(client, 'echo_delete', { item, ...(confirmationToken ? { confirmationToken } : {}) });
      const tokenOf = (t: Timed<ToolAnswer>) => t.value?._meta?.['ravenhelm/confirmation']?.token as string;
      const up = () => redisUp(harness);
      const before = tokenOf(await del('before'));
      expect(before).toMatch(/^cfm_/);
      for (let i = 0; i < 50 && !(await rawCommand(b, ['KEYS', 'ravenhelm:cfm:*'])).includes('ravenhelm'); i++) {
        await sleep(100);
      }

      await demote(a, b);
      const during = await Promise.all(Array.from({ length: 20 }, (_, i) => del(`during-${i}`)));
      for (const d of during) {
        expect(answerText(d)).toMatch(
          /^ERR_BACKEND_UNAVAILABLE: the confirmation store \(Redis at redis:\/\/127\.0\.0\.1:\d+\)/,
        );
        expect(d.ms).toBeLessThan(BOUND_MS);
      }
      console.log(
        `plain demoted: 20 calls refused, slowest ${Math.round(Math.max(...during.map((d) => d.ms)))} ms; first: ${answerText(during[0] as Timed<ToolAnswer>).slice(0, 160)}`,
      );
      await expect.poll(up, { timeout: 5000 }).toBe(0);

      // The Service follows the promotion: same URL, no restart.
      service.point(b.port);
      const switched = Date.now();
      let after: Timed<ToolAnswer> | undefined;
      for (let i = 0; i < 60; i++) {
        after = await del('after');
        if (tokenOf(after)) break;
        await sleep(100);
      }
      expect(tokenOf(after as Timed<ToolAnswer>)).toMatch(/^cfm_/);
      console.log(`plain demoted: the new primary answered ${Date.now() - switched} ms after the Service moved`);
      expect(await up()).toBe(1);
      // The token issued before the switch was replicated: it runs once, and only once.
      const [one, two] = await Promise.all([del('before', before), del('before', before)]);
      expect([one, two].filter((x) => !x.value?.isError)).toHaveLength(1);
      expect(harness.services.calls.filter((c) => c.tool === 'echo_delete').map((c) => c.args)).toEqual([
        { item: 'before' },
      ]);
      expect(harness.logs()).not.toContain(REDIS_PASSWORD);
      for (const d of [...during, one, two]) expect(answerText(d)).not.toContain(REDIS_PASSWORD);
    } finally {
      await h?.stop();
      await service.close();
    }
  }, 60_000);
});

/** One command on a node whatever its role (a replica included), through redis-cli. */
const rawCommand = (node: RedisProcess, command: string[]) => redisCli(node.port, REDIS_PASSWORD, command);
