/**
 * A Redis that froze (SIGSTOP) with commands in flight and then died (SIGKILL) and came back on the same
 * port: the callers of those commands were already answered (timed out, refused), so nothing they sent
 * may be replayed into the new Redis after the reconnect: no ghost confirmation token, approval request,
 * task or rate-limit count that nobody was told about. ioredis replays such commands by default
 * (`autoResendUnfulfilledCommands`).
 */
import { connectRedis } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import {
  answerText,
  callTimed,
  expectUnavailable,
  REDIS_PASSWORD,
  sleep,
  useFaultServer,
} from '../fixtures/redis-faults.js';

const tokens = { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } };
const POLICY = 'servers:\n  echo:\n    confirm: destructive\n';
const N = 10;

describe('commands in flight when Redis dies are not replayed into the restarted Redis', () => {
  const s = useFaultServer({ tokens, policy: POLICY, token: 'writer' });

  it('frozen with confirmation tokens being issued, killed, restarted: the new Redis holds none of them', async () => {
    s.h.redis.pause();
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) => callTimed(s.client, 'echo_delete', { item: `r-${i}` })),
    );
    for (const a of answers) expectUnavailable(a, s.h.redis.port, 500 + 1000 + 1000);
    await s.h.redis.kill();
    await s.h.redis.restart();
    // Wait until the server uses the restarted Redis again (a call that issues a token works)...
    let fresh = answers[0];
    for (let attempt = 0; attempt < 50; attempt++) {
      await sleep(100);
      fresh = await callTimed(s.client, 'echo_delete', { item: 'fresh' });
      if (!/ERR_BACKEND_UNAVAILABLE/.test(answerText(fresh as never))) break;
    }
    expect(answerText(fresh as never)).toMatch(/^ERR_CONFIRMATION_REQUIRED/);
    // ...then the only keys are the fresh call's token and rate-limit count, none from before the kill.
    const r = await connectRedis(s.h.redis.url);
    try {
      const keys = (await r.keys('*')).sort();
      expect(keys.filter((k) => k.startsWith('ravenhelm:cfm:'))).toHaveLength(1);
      // Calls before the reconnect were counted in memory (the limiter's fallback): only the fresh one here.
      expect(await r.get('ravenhelm:rl:echo:echo:writer'), 'rate-limit count in the restarted Redis').toBe('1');
    } finally {
      r.disconnect();
    }
    expect(s.h.logs()).not.toContain(REDIS_PASSWORD);
  }, 30_000);
});
