import { createServer } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { backendFor, call, callError, simulatorFor, start } from './harness.js';

const fx = simulatorFor({ maxRetries: 2, maxRetryWaitMs: 2000 });
beforeEach(() => {
  fx.sim.control.throttle = undefined;
  fx.sim.control.fail = undefined;
  fx.sim.control.delayMs = 0;
});

const countSince = (from: number, method?: string) =>
  fx.sim.control.requests.slice(from).filter((r) => !method || r.method === method).length;

describe('rate limiting (429 + Retry-After)', () => {
  it('a read waits Retry-After and retries, within the retry bound', async () => {
    fx.sim.control.throttle = { count: 2, retryAfterSeconds: 1 };
    const from = fx.sim.control.requests.length;
    const started = Date.now();
    const res = await call('projects_get', { project: 'platform/api' }, fx.services);
    expect(res.path).toBe('platform/api');
    expect(countSince(from)).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });

  it('a read gives up after maxRetries and says when to retry', async () => {
    fx.sim.control.throttle = { count: 10, retryAfterSeconds: 1 };
    const from = fx.sim.control.requests.length;
    const err = await callError('projects_get', { project: 'platform/api' }, fx.services);
    expect(countSince(from)).toBe(3);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/rate-limiting this server \(429\).*retry after 1 s.*tried 3 times/);
    expect(err.details).toMatchObject({ status: 429, retryAfterSeconds: 1 });
  });

  it('a Retry-After longer than the wait cap fails at once instead of blocking', async () => {
    fx.sim.control.throttle = { count: 1, retryAfterSeconds: 120 };
    const from = fx.sim.control.requests.length;
    const started = Date.now();
    const err = await callError('pipelines_list', { project: 'platform/api' }, fx.services);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(countSince(from)).toBe(1);
    expect(err.message).toMatch(/retry after 120 s/);
  });

  it('a write is never retried', async () => {
    fx.sim.control.throttle = { count: 1, retryAfterSeconds: 1 };
    const from = fx.sim.control.requests.length;
    const err = await callError('issues_comment', { project: 'platform/api', iid: 1, body: 'once' }, fx.services);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(countSince(from, 'POST')).toBe(1);
    const issue = fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.issues[0];
    expect(issue?.notes.some((n) => n.body === 'once')).toBe(false);
  });
});

describe('GitLab failing', () => {
  it('5xx on a read is retried (bounded) and then reported as unavailable with GitLab message', async () => {
    fx.sim.control.fail = { status: 502, body: '{"message":"502 Bad Gateway"}', contentType: 'application/json' };
    const from = fx.sim.control.requests.length;
    const err = await callError('issues_list', { project: 'platform/api' }, fx.services);
    expect(countSince(from)).toBe(3);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/HTTP 502.*502 Bad Gateway.*after 3 attempts/);
  });

  it('a 5xx on a write is not retried', async () => {
    fx.sim.control.fail = {
      status: 500,
      body: '{"message":"500 Internal Server Error"}',
      contentType: 'application/json',
    };
    const from = fx.sim.control.requests.length;
    const err = await callError('issues_create', { project: 'platform/api', title: 'x' }, fx.services);
    expect(countSince(from)).toBe(1);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
  });

  it("a 502 error page in HTML (GitLab's public/502.html via Workhorse, or nginx) is reported by its title, not its markup", async () => {
    // gitlab-org/gitlab public/502.html, abridged: the title comes after ~150 bytes of head, then CSS
    const page = `<!DOCTYPE html>
<html>
<head>
  <meta content="width=device-width, initial-scale=1, maximum-scale=1" name="viewport">
  <title>GitLab is not responding (502)</title>
  <style>
    body {
      color: #666;
      text-align: center;
      font-family: "Helvetica Neue", Helvetica, Arial, sans-serif;
    }
  </style>
</head>
<body>
  <h1>
    502
  </h1>
  <div class="container">
    <h3>Whoops, GitLab is taking too much time to respond.</h3>
  </div>
</body>
</html>
`;
    fx.sim.control.fail = { status: 502, body: page, contentType: 'text/html; charset=utf-8' };
    const err = await callError('issues_create', { project: 'platform/api', title: 'x' }, fx.services);
    // a 502 to a change: GitLab may have made it before the gateway gave up (see adversary.test.ts)
    expect(err.code).toBe('ERR_OUTCOME_UNKNOWN');
    // before the fix: "(GitLab said: <!DOCTYPE html> <html> <head> <meta content=... <style> body { color: #666; ..."
    expect(err.message).toMatch(/HTTP 502 for it \(GitLab said: GitLab is not responding \(502\) \(an HTML page/);
    expect(err.message).not.toMatch(/[<{]|color:/);
    fx.sim.control.fail = {
      status: 502,
      body: '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n',
      contentType: 'text/html',
    };
    const nginx = await callError('issues_create', { project: 'platform/api', title: 'x' }, fx.services);
    expect(nginx.message).toMatch(/GitLab said: 502 Bad Gateway \(an HTML page/);
  });

  it('a slow GitLab ends in ERR_BACKEND_TIMEOUT within the configured time', async () => {
    const slow = await start({ timeoutMs: 400 });
    try {
      slow.sim.control.delayMs = 5000;
      const started = Date.now();
      const err = await callError('projects_get', { project: 'platform/api' }, slow.services);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/within 400 ms.*GITLAB_TIMEOUT_MS/);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await slow.close();
    }
  });

  it('GitLab down: a clear error naming the URL, in bounded time', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    const started = Date.now();
    const err = await callError('pipelines_diagnose', { project: 'platform/api' }, { gitlab: backendFor(url) });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toContain(`GitLab is unreachable at ${url} (ECONNREFUSED)`);
    expect(err.message).toMatch(/check GITLAB_URL/);
  });

  it("a revoked token is reported as the server's credential problem, without the token", async () => {
    const bad = { gitlab: backendFor(fx.sim.url, { token: 'glpat-revoked-000' }) };
    const err = await callError('projects_get', { project: 'platform/api' }, bad);
    expect(err.code).toBe('ERR_BACKEND_ERROR');
    expect(err.message).toMatch(/refused this server's token \(401\).*GITLAB_TOKEN_FILE/);
    expect(err.message).not.toContain('glpat-revoked');
    expect(fx.sim.control.requests.at(-1)?.token).toBe('glpat-revoked-000');
  });

  it('reads the token from a file, so a rotated token is picked up', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { GitLabBackend } = await import('@ravenhelm/mcp-gitlab');
    const { BOT_TOKEN } = await import('../simulators/gitlab.js');
    const file = join(mkdtempSync(join(tmpdir(), 'gl-token-')), 'token');
    writeFileSync(file, `${BOT_TOKEN}\n`);
    const gitlab = new GitLabBackend({
      url: fx.sim.url,
      tokenFile: file,
      timeoutMs: 2000,
      maxRetries: 0,
      maxRetryWaitMs: 0,
      allowlist: ['**'],
      maxLogBytes: 65536,
    });
    const res = await call('projects_get', { project: 'platform/api' }, { gitlab });
    expect(res.path).toBe('platform/api');
    expect(fx.sim.control.requests.at(-1)?.token).toBe(BOT_TOKEN);
  });
});
