/**
 * Human approval end to end in the real demo (issue 16): an agent (the MCP SDK client with the demo
 * agent's mTLS certificate and token) asks to restart a compose project and gets a pending request;
 * an operator opens the Docker server's approvals console in Debian's chromium, signs in through the
 * dev issuer's login page (authorization code + PKCE), sees the request and approves it; the agent's
 * poll sees the approval, its repeated call runs the restart once, and the containers really restarted.
 *
 * How the browser reaches a console on an mTLS server: the demo servers request a client certificate
 * but do not require one at the TLS layer (only HIGH tools need a verified SPIFFE ID), so the browser
 * presents none and authenticates with the bearer token from its sign-in, as the console is designed.
 * The browser does not trust the dev CA: `ignoreHTTPSErrors` stands for the operator accepting the
 * warning (the demo prints the CA bundle to trust instead). RAVENHELM_UPDATE_SCREENSHOTS=1 rewrites
 * docs/approvals-console.png from this run.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchChromium } from '../fixtures/chromium.js';
import { demoBuilt, exportsOf, mtlsFetch, type RunningDemo, startDemo } from '../fixtures/demo.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const run = promisify(execFile);
const DOCS_SCREENSHOT = join(REPO_ROOT, 'docs', 'approvals-console.png');

interface DemoJson {
  servers: { name: string; url: string; token: string }[];
  agent: { spiffeId: string; certFile: string; keyFile: string; bundleFile: string };
  approvals: { users: string[]; project: string | null; consoles: { name: string; url: string; clientId: string }[] };
}

interface CallAnswer {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, { requestId?: string }>;
}

const docker = (args: string[]) => run('docker', args, { timeout: 30_000 }).then((r) => r.stdout.trim());

/** name -> State.StartedAt of the project's containers. */
async function startedAt(project: string): Promise<Record<string, string>> {
  const ids = (await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])).split('\n');
  const out = await docker(['inspect', '--format', '{{.Name}} {{.State.Running}} {{.State.StartedAt}}', ...ids]);
  return Object.fromEntries(
    out.split('\n').map((line) => {
      const [name, running, at] = line.split(' ');
      expect(running, `${name} runs`).toBe('true');
      return [name as string, at as string];
    }),
  );
}

// Skipped only on a developer machine without chromium (or before the servers are built); CI has both.
describe.skipIf(!demoBuilt() || chromiumMissing)('the demo: approval end to end', () => {
  let demo: RunningDemo;
  let state: DemoJson;
  let agent: Client;
  let browser: Browser;

  beforeAll(async () => {
    demo = await startDemo({ timeoutMs: 150_000 });
    state = JSON.parse(readFileSync(join(demo.stateDir, 'demo.json'), 'utf8')) as DemoJson;
    const server = state.servers.find((s) => s.name === 'docker');
    if (!server) throw new Error('the demo started no Docker server');
    agent = new Client({ name: 'demo-approval-agent', version: '1.0.0' });
    await agent.connect(
      new StreamableHTTPClientTransport(new URL(server.url), {
        requestInit: { headers: { authorization: `Bearer ${server.token}` } },
        fetch: mtlsFetch({
          ca: readFileSync(state.agent.bundleFile, 'utf8'),
          cert: readFileSync(state.agent.certFile, 'utf8'),
          key: readFileSync(state.agent.keyFile, 'utf8'),
        }),
      }),
    );
    browser = await launchChromium();
  }, 200_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.close();
    await demo?.stop();
  }, 60_000);

  it('prints how to try it: the console, the dev user, the agent command', () => {
    const console = state.approvals.consoles.find((c) => c.name === 'docker')?.url as string;
    expect(demo.printed).toContain(console);
    expect(demo.printed).toContain('as "ops-alice"');
    expect(demo.printed).toMatch(/two-person rule/);
    expect(demo.printed).toContain(
      `examples/curl/approved-call.sh compose_restart '{"project":"${state.approvals.project}"}' ${state.servers[0]?.url}`,
    );
  });

  it('an agent asks to restart a compose project, an operator approves it in the console, the restart runs once', async () => {
    const project = state.approvals.project as string;
    expect(project, 'the demo made a compose project').toBeTruthy();
    const before = await startedAt(project);
    expect(Object.keys(before)).toHaveLength(2);

    // The agent asks: nothing runs yet.
    const first = (await agent.callTool({ name: 'compose_restart', arguments: { project } })) as CallAnswer;
    expect(first.isError).toBe(true);
    expect(first.content[0]?.text).toMatch(/^ERR_APPROVAL_PENDING: nothing was run yet/);
    const id = first._meta?.['ravenhelm/approval']?.requestId as string;
    expect(id).toMatch(/^apr_/);
    expect(await startedAt(project)).toEqual(before);

    // The agent polls until a person decides.
    const poll = (async () => {
      for (let i = 0; i < 240; i++) {
        const s = (await agent.callTool({ name: 'approvals_get_status', arguments: { requestId: id } })) as CallAnswer;
        if (s.structuredContent?.state !== 'pending') return s.structuredContent;
        await new Promise((r) => setTimeout(r, 500));
      }
      throw new Error('nobody decided within two minutes');
    })();

    const consoleUrl = state.approvals.consoles.find((c) => c.name === 'docker')?.url as string;
    const context = await browser.newContext({ viewport: { width: 1100, height: 540 }, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const problems: string[] = [];
    // Console errors on our pages (a CSP violation is one): the console's and the dev issuer's login page.
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${m.text()} at ${m.location().url}`);
    });
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      await page.goto(consoleUrl);
      await page.getByRole('button', { name: 'Sign in' }).click();
      // The dev issuer's login page: a labelled field, no password.
      const user = page.getByLabel('Dev user name');
      await user.waitFor({ timeout: 10_000 });
      expect(page.url().startsWith('http://127.0.0.1:')).toBe(true);
      await user.fill('ops-alice');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(consoleUrl, { timeout: 10_000 });

      const item = page.locator(`li[data-id="${id}"]`);
      await item.waitFor({ timeout: 15_000 });
      const text = (await item.textContent()) ?? '';
      expect(text).toContain('compose_restart on docker');
      expect(text).toContain(project);
      // The agent's SPIFFE ID came from its client certificate over mTLS.
      expect(text).toContain(state.agent.spiffeId);
      expect(text).toContain('0 of 1');
      expect(await page.content()).not.toContain(state.servers[0]?.token as string);

      await page.getByLabel('Comment (optional)').fill('restart approved in the demo');
      if (process.env.RAVENHELM_UPDATE_SCREENSHOTS === '1')
        await page.screenshot({ path: DOCS_SCREENSHOT, fullPage: true });
      await item.getByRole('button', { name: 'Approve' }).click();
      await expect
        .poll(() => page.locator('#status').textContent(), { timeout: 10_000 })
        .toBe('Approved: compose_restart may now run once.');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }

    const decided = await poll;
    expect(decided).toMatchObject({
      state: 'approved',
      approvals: [{ subject: 'ops-alice', comment: 'restart approved in the demo' }],
    });
    expect(await startedAt(project), 'approving alone runs nothing').toEqual(before);

    // The agent repeats the call with the request id: it runs once.
    const ran = (await agent.callTool({
      name: 'compose_restart',
      arguments: { project, approvalRequestId: id },
    })) as CallAnswer;
    expect(ran.isError, JSON.stringify(ran.content).slice(0, 400)).toBeFalsy();
    expect(ran.structuredContent).toMatchObject({ project, action: 'restart', allReached: true });
    const after = await startedAt(project);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const [name, at] of Object.entries(after)) {
      expect(Date.parse(at), `${name} restarted`).toBeGreaterThan(Date.parse(before[name] as string));
    }

    // A replay runs nothing.
    const replay = (await agent.callTool({
      name: 'compose_restart',
      arguments: { project, approvalRequestId: id },
    })) as CallAnswer;
    expect(replay.content[0]?.text).toMatch(/^ERR_APPROVAL_INVALID/);
    expect(await startedAt(project)).toEqual(after);

    // The audit log links request, decision and run by the approval id.
    const audit = readFileSync(join(demo.stateDir, 'audit/docker.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes(id))
      .map((l) => JSON.parse(l) as { outcome?: string });
    expect(audit.map((r) => r.outcome)).toEqual(expect.arrayContaining(['pending', 'success']));
  }, 240_000);

  it('the printed agent command waits, the printed shell approval lets it run, it prints the restart', async () => {
    const project = state.approvals.project as string;
    const before = await startedAt(project);
    const lines = demo.printed.split('\n');
    const agentCommand = lines.find((l) =>
      /^RAVENHELM_TOKEN=\S+ examples\/curl\/approved-call\.sh compose_restart /.test(l),
    );
    const tokenCommand = lines.find((l) => l.startsWith('export RAVENHELM_APPROVALS_TOKEN=$('));
    const listCommand = lines.find((l) => l.includes('ravenhelm-approvals.js list --url '));
    expect([agentCommand, tokenCommand, listCommand].every(Boolean), 'the demo prints all three').toBe(true);
    const env = { ...process.env, ...exportsOf(demo.printed), POLL_SECONDS: '1' };

    const child = spawn('bash', ['-c', agentCommand as string], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await expect.poll(() => err, { timeout: 30_000 }).toMatch(/pending: approval request apr_/);
      const id = /pending: approval request (apr_[\w-]+);/.exec(err)?.[1] as string;
      expect(await startedAt(project), 'pending runs nothing').toEqual(before);

      const shell = async (command: string) =>
        (await run('bash', ['-c', `${tokenCommand}\n${command}`], { cwd: REPO_ROOT, env, timeout: 60_000 })).stdout;
      expect(await shell(listCommand as string)).toContain(`${id}  pending  docker/compose_restart`);
      const approveCommand = (listCommand as string).replace(' list --url ', ` approve ${id} --url `);
      expect(await shell(approveCommand)).toContain('approved: compose_restart may now run once');

      expect(await exited).toBe(0);
      const answer = JSON.parse(out.trim()) as { result: CallAnswer };
      expect(answer.result.isError, out.slice(0, 400)).toBeFalsy();
      expect(answer.result.structuredContent).toMatchObject({ project, action: 'restart', allReached: true });
      const after = await startedAt(project);
      for (const [name, at] of Object.entries(after)) {
        expect(Date.parse(at), `${name} restarted`).toBeGreaterThan(Date.parse(before[name] as string));
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
  }, 120_000);
});
