/**
 * The Zitadel server attacked from outside (attackgz), through its real bin over stdio with the SDK
 * Client against the stateful simulator: what a HIGH agent may do to the server's own identity.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseKeyFile, ZitadelBackend } from '@ravenhelm/mcp-zitadel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../simulators/http.js';
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

describe('a Zitadel (or a proxy in front of it) that echoes the request in its errors', () => {
  const ACCESS_TOKEN = 'zitadel-access-token-attackgz-4m2q8x';
  it("the server's access token never reaches the error the caller reads", async () => {
    const echo = await listen((req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(req.url === '/oauth/v2/token' ? 200 : 400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          req.url === '/oauth/v2/token'
            ? { access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600 }
            : { code: 3, message: `malformed request: authorization=${String(req.headers.authorization)}` },
        ),
      );
    });
    try {
      const b = new ZitadelBackend({
        url: echo.url,
        keyFile: parseKeyFile(fx.sim.addServiceAccount({ username: 'echo-probe' }).keyFile, 'probe key'),
        timeoutMs: 2000,
        maxResponseBytes: 1024 * 1024,
        scope: 'openid',
      });
      const err = await b.getUser('123456789').then(
        () => undefined,
        (e: Error) => e,
      );
      // before the fix: "Zitadel refused user 123456789 as invalid: malformed request: authorization=Bearer zitadel-..."
      expect(err?.message).toMatch(/^Zitadel refused user 123456789 as invalid: .*\[redacted\]/);
      expect(err?.message).not.toContain(ACCESS_TOKEN);
    } finally {
      await echo.close();
    }
  });
});
