/**
 * Dynamic toolsets while their Redis freezes (SIGSTOP), stops taking writes during an enable
 * (`CLIENT PAUSE WRITE`), or dies (SIGKILL). tools/list degrades to the initial toolsets; calls into a
 * toolset enabled earlier are refused (never run blind) with ERR_BACKEND_UNAVAILABLE naming Redis
 * host:port, never its password; an enable that cannot be written says so; all within the Redis command
 * timeout + slack; and everything works again once Redis is back.
 */
import { connectRedis } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import {
  answerText,
  callTimed,
  expectUnavailable,
  outcomesSince,
  REDIS_PASSWORD,
  sleep,
  timed,
  useFaultServer,
} from '../fixtures/redis-faults.js';

const tokens = {
  agent: { subject: 'agent-a', clientId: 'c', scopes: ['mcp:echo:read', 'mcp:echo:write'], roles: [] },
};
/** MEDIUM: the rate limiter's store timeout (500 ms) + one Redis command timeout (1000 ms) + slack. */
const BOUND_MS = 500 + 1000 + 1000;
const N = 20;

describe('dynamic toolsets: Redis frozen, cut mid-enable, or killed', () => {
  const s = useFaultServer({ tokens, token: 'agent', env: { RAVENHELM_TOOLSETS: 'echo' } });
  const enable = (toolset = 'writes') => callTimed(s.client, 'toolsets_enable', { toolset });
  const write = (value: string) => callTimed(s.client, 'echo_write', { value });
  const names = async () => (await s.client.listTools()).tools.map((t) => t.name);

  it('calls into an enabled toolset while Redis is frozen: refused at once with the reason, never run', async () => {
    expect(answerText(await enable())).not.toMatch(/^ERR_/);
    const from = s.h.audit.records.length;
    s.h.redis.pause();
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => write(`frozen-${i}`)));
    const listed = await timed(names);
    const said = await callTimed(s.client, 'echo_say', { message: 'initial toolset' });
    s.h.redis.resume();
    for (const a of answers) expectUnavailable(a, s.h.redis.port, BOUND_MS);
    console.log(`toolset check, frozen: ${N} calls, slowest ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`);
    expect(s.h.services.calls.filter((c) => c.tool === 'echo_write')).toEqual([]);
    // Not refused for who the caller is: the store failed while deciding. Each call has its own error
    // outcome (not one aggregated denial), so the audit log shows every call the outage turned away.
    const failed = outcomesSince(s.h, from, 'echo_write');
    expect(failed).toHaveLength(N);
    expect(failed.every((r) => r.outcome === 'error' && r.errorCode === 'ERR_BACKEND_UNAVAILABLE')).toBe(true);
    expect(await s.h.inFlight()).toBe(0);
    // tools/list degrades to the initial toolsets, in bounded time; the initial toolset still works.
    expect(listed.value).toContain('echo_say');
    expect(listed.value).not.toContain('echo_write');
    expect(listed.ms).toBeLessThan(1000 + 1000);
    expect(answerText(said)).not.toMatch(/^ERR_/);
    // Recovery.
    expect(await names()).toContain('echo_write');
    expect(answerText(await write('after'))).not.toMatch(/^ERR_/);
  }, 30_000);

  it('an enable while Redis is frozen or cut mid-write: refused clearly; retrying enables it', async () => {
    s.h.redis.pause();
    const frozen = await enable('admin');
    s.h.redis.resume();
    // 'admin' has no tool this caller may call: refused before the store. 'writes' again, store-bound:
    expect(answerText(frozen)).toMatch(/ERR_INVALID_INPUT/);
    const r = await connectRedis(s.h.redis.url);
    try {
      await r.del(...(await r.keys('ravenhelm:tls:*')));
      // The read answers, the write (SADD + EXPIRE) waits past the command timeout, then lands.
      await r.call('CLIENT', 'PAUSE', '2500', 'WRITE');
    } finally {
      r.disconnect();
    }
    const cut = await enable();
    expectUnavailable(cut, s.h.redis.port, 1000 + 1000);
    expect(answerText(cut)).toMatch(/may or may not have been enabled: call toolsets_enable again/);
    await sleep(2000);
    const again = await enable();
    expect(answerText(again)).not.toMatch(/^ERR_/);
    expect(await names()).toContain('echo_write');
  }, 30_000);

  it('killed and restarted: enabled toolsets are gone (no persistence), refused with how to enable', async () => {
    expect(answerText(await enable())).not.toMatch(/^ERR_/);
    await s.h.redis.kill();
    const during = await write('killed');
    expectUnavailable(during, s.h.redis.port, BOUND_MS);
    await s.h.redis.restart();
    let after = during;
    for (let attempt = 0; attempt < 50 && /ERR_BACKEND_UNAVAILABLE/.test(answerText(after)); attempt++) {
      await sleep(100);
      after = await write('restarted');
    }
    expect(answerText(after)).toMatch(/^ERR_TOOLSET_NOT_ENABLED: .*toolsets_enable/);
    expect(answerText(await enable())).not.toMatch(/^ERR_/);
    expect(answerText(await write('re-enabled'))).not.toMatch(/^ERR_/);
  }, 30_000);

  it('the Redis password appears in no log line or audit record', () => {
    expect(s.h.logs()).not.toContain(REDIS_PASSWORD);
    expect(JSON.stringify(s.h.audit.records)).not.toContain(REDIS_PASSWORD);
  });
});
