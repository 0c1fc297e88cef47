/**
 * The approvals web console in a real browser (Debian's chromium driven by playwright-core): the operator
 * logs in through a real OIDC provider (authorization code + PKCE), sees the agent's pending request,
 * approves it with the keyboard, and the agent's retry runs it once. No inline script: a CSP violation
 * fails the test. (docs/approvals-console.png comes from the demo: test/e2e/demo-approval.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  oauthAuthenticatorFactory,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchChromium } from '../fixtures/chromium.js';
import { type EchoServices, echoServer } from '../fixtures/echo-server.js';
import { callBody, rpc } from '../fixtures/kit-harness.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';
import { freePort } from '../fixtures/redis.js';

// Skipped only on a developer machine without chromium; CI installs it (scripts/engines.sh), so there it must run.
describe.skipIf(chromiumMissing)('approvals console in chromium', () => {
  let oidc: RunningOidcProvider;
  let rt: SuiteRuntime;
  let http: HttpServerHandle;
  let browser: Browser;
  let base: string;
  let resource: string;
  const services: EchoServices = { calls: [], backendUp: true };
  const dir = mkdtempSync(join(tmpdir(), 'rh-console-'));

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    resource = `${base}/mcp`;
    oidc = await startOidcProvider({
      jwtResources: [resource],
      scopes: ['mcp:echo:read', 'mcp:echo:write', 'mcp:approvals:approve'],
      interactive: { clientId: 'approvals-console', redirectUris: [`${base}/approvals/console`] },
    });
    writeFileSync(
      join(dir, 'policy.yaml'),
      'servers:\n  echo:\n    tools:\n      echo_delete:\n        approve: { count: 1, ttl: 30m }\n',
    );
    const def = echoServer(services);
    const config = loadConfig({
      backendSchema: def.backendConfig,
      env: {
        RAVENHELM_HTTP_PORT: String(port),
        RAVENHELM_PUBLIC_URL: resource,
        RAVENHELM_AUTH_ISSUER: oidc.issuer,
        RAVENHELM_APPROVALS_CONSOLE_CLIENT_ID: 'approvals-console',
        RAVENHELM_POLICY_FILE: join(dir, 'policy.yaml'),
        RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
      },
    });
    rt = await createRuntime(def as never, config, silentLogger());
    http = await startHttp(rt, {
      authenticator: oauthAuthenticatorFactory(config),
      authorizationServers: [oidc.issuer],
    });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await http?.shutdown();
    await rt?.close();
    await oidc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves static files only, under a strict CSP, with no inline script', async () => {
    const page = await fetch(`${base}/approvals/console`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain(`connect-src 'self' ${oidc.issuer}`);
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/style=/i);
    expect((await fetch(`${base}/approvals/console`, { method: 'POST' })).status).toBe(405);
    const config = await fetch(`${base}/approvals/console/config.json`).then((r) => r.json());
    expect(config).toEqual({
      server: 'echo',
      issuer: oidc.issuer,
      clientId: 'approvals-console',
      scope: 'openid mcp:approvals:approve',
      resource,
    });
  });

  it('an operator logs in with OIDC + PKCE, sees the request and approves it with the keyboard; the agent runs it once', async () => {
    const agentToken = await oidc.getToken({ resource, scope: 'mcp:echo:write' });
    const agent = { authorization: `Bearer ${agentToken}` };
    const first = await rpc(resource, callBody('echo_delete', { item: 'from-console' }), agent);
    expect(first.json.result.content[0].text).toMatch(/^ERR_APPROVAL_PENDING/);
    const id = first.json.result._meta['ravenhelm/approval'].requestId as string;

    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    const page = await context.newPage();
    const problems: string[] = [];
    // Errors on the console's own pages (a CSP violation is one); the provider's dev login pages are not ours.
    page.on('console', (m) => {
      if (m.type() === 'error' && page.url().startsWith(`${base}/approvals/console`)) {
        problems.push(`${m.text()} at ${m.location().url}`);
      }
    });
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      await page.goto(`${base}/approvals/console`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      // The provider's development login and consent pages.
      await page.locator('input[name="login"]').fill('alice');
      await page.locator('input[name="password"]').fill('anything');
      await page.locator('button[type="submit"]').click();
      await page.locator('button[type="submit"]').click();
      await page.waitForURL(`${base}/approvals/console`);

      const item = page.locator(`li[data-id="${id}"]`);
      await item.waitFor({ timeout: 10_000 });
      await expect(item.locator('dd').first().textContent()).resolves.toBe("delete item 'from-console'");
      const text = (await item.textContent()) ?? '';
      expect(text).toContain('echo_delete on echo');
      expect(text).toContain('agent-oncall');
      expect(text).toMatch(/\d+ min \d+ s left/);
      expect(agentToken.length).toBeGreaterThan(20);
      expect(await page.content()).not.toContain(agentToken);

      const comment = page.getByLabel('Comment (optional)');
      await comment.fill('checked the plan');
      expect((await page.screenshot({ path: join(dir, 'console.png'), fullPage: true })).length).toBeGreaterThan(1000);
      // Keyboard only: from the comment, Tab reaches Approve; Enter presses it.
      await comment.focus();
      await page.keyboard.press('Tab');
      expect(await page.locator(':focus').textContent()).toBe('Approve');
      await page.keyboard.press('Enter');
      await expect
        .poll(() => page.locator('#status').textContent(), { timeout: 5000 })
        .toBe('Approved: echo_delete may now run once.');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }

    const status = await rpc(resource, callBody('approvals_get_status', { requestId: id }), agent);
    expect(status.json.result.structuredContent).toMatchObject({
      state: 'approved',
      approvals: [{ subject: 'alice', comment: 'checked the plan' }],
    });
    const ran = await rpc(resource, callBody('echo_delete', { item: 'from-console', approvalRequestId: id }), agent);
    expect(ran.json.result.structuredContent).toEqual({ deleted: 'from-console' });
    expect(services.calls.filter((c) => c.tool === 'echo_delete')).toHaveLength(1);
  }, 60_000);
});
