/**
 * Attack round 5 on the Zitadel server, from outside: gRPC-gateway error bodies with codes the mapping did
 * not name. ABORTED (10) comes with HTTP 409 like ALREADY_EXISTS and was read as "already exists: pick
 * another name", even for a read; RESOURCE_EXHAUSTED (8, HTTP 429: the instance's request quota used up)
 * said "try again", which only adds to the exhausted quota; UNAVAILABLE (14) read as "gRPC code 14".
 * Through the real bin over stdio with the SDK Client against the simulator.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { callTool, useZitadelSession } from '../zitadel/harness.js';

const session = useZitadelSession();

afterEach(() => {
  session.fx.sim.control.fail = undefined;
});

/** users_get once Zitadel answers every request with `status` and `body` (the server's token is cached first). */
async function usersGetWhenZitadelSays(status: number, body: Record<string, unknown>) {
  const ok = await callTool(session.s, 'users_get', { user: 'alice' });
  expect(ok.isError, ok.text).toBe(false);
  session.fx.sim.control.fail = { status, json: body };
  return callTool(session.s, 'users_get', { user: 'alice' });
}

describe('Zitadel error codes the mapping did not name', () => {
  it('ABORTED (409) is a conflict to repeat, not "already exists"', async () => {
    const r = await usersGetWhenZitadelSays(409, { code: 10, message: 'the transaction was aborted', details: [] });
    expect(r.isError).toBe(true);
    // before the fix: "ERR_CONFLICT: users already exists in Zitadel …; pick another name or use the existing one"
    expect(r.text).not.toMatch(/already exists|pick another name/);
    expect(r.text).toMatch(/^ERR_CONFLICT: Zitadel aborted the call on .*repeat the call$/);
  });

  it('RESOURCE_EXHAUSTED (429) says the quota is used up and that retrying at once does not help', async () => {
    const r = await usersGetWhenZitadelSays(429, {
      code: 8,
      message: 'Quota.Access.Exhausted (QUOTA-vjAy8)',
      details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id: 'QUOTA-vjAy8' }],
    });
    expect(r.isError).toBe(true);
    // before the fix: "… (gRPC code 8): Quota.Access.Exhausted (QUOTA-vjAy8); try again or check Zitadel"
    expect(r.text).toMatch(/resource exhausted .*quota.*retrying at once does not help/);
    expect(r.text).not.toMatch(/try again or check/);
  });

  it('UNAVAILABLE (503) is named', async () => {
    const r = await usersGetWhenZitadelSays(503, { code: 14, message: 'upstream connect error', details: [] });
    expect(r.isError).toBe(true);
    // before the fix: "(gRPC code 14)"
    expect(r.text).toMatch(
      /^ERR_BACKEND_UNAVAILABLE: Zitadel is not able to answer .* right now \(UNAVAILABLE\): upstream connect error; try again shortly/,
    );
  });
});
