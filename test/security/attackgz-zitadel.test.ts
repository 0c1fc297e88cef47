/**
 * The Zitadel server attacked from outside (attackgz), through its real bin over stdio with the SDK
 * Client against the stateful simulator: what a HIGH agent may do to the server's own identity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectStdio,
  readAudit,
  type StdioSession,
  startZitadelFixture,
  type ZitadelFixture,
} from '../zitadel/harness.js';

let fx: ZitadelFixture;
let s: StdioSession;

beforeAll(async () => {
  fx = await startZitadelFixture();
  s = await connectStdio(fx.env);
}, 60_000);

afterAll(async () => {
  await s?.close();
  await fx?.stop();
});

async function call(name: string, args: Record<string, unknown>) {
  const r = await s.client.callTool({ name, arguments: args });
  return { isError: r.isError === true, text: (r.content as { text: string }[])[0]?.text ?? '' };
}

describe("the server's own service account", () => {
  it.each([
    ['its id', () => fx.serviceAccountId],
    ['its username', () => 'ravenhelm-mcp'],
  ])('keys_add refuses to mint a key for it (by %s): that key would be the server itself', async (_how, ref) => {
    const before = fx.sim.keys.filter((k) => k.userId === fx.serviceAccountId).length;
    const r = await call('keys_add', { user: ref() });
    // before the fix: a fresh private key of the server's own account, returned to the caller
    expect(r.isError, r.text).toBe(true);
    expect(r.text).toMatch(/^ERR_NOT_ALLOWED: .*the server's own service account/);
    expect(r.text).not.toMatch(/PRIVATE KEY/);
    expect(fx.sim.keys.filter((k) => k.userId === fx.serviceAccountId).length).toBe(before);
    expect(readAudit(fx.auditFile)).not.toMatch(/PRIVATE KEY/);
  });
});
