/**
 * Every command a new user is told to run, run against the real demo: the README's marked snippets,
 * each command `npm run demo` prints, and the client entries it writes (stdio entries started exactly
 * as Claude Desktop / Cursor would start them; HTTP entries answered the way a client that signs in needs).
 * The demo runs on a free base port in a private state directory; the README's fixed demo ports are
 * rewritten to those (the only change made to a snippet).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBuilt, exportsOf, type RunningDemo, DEMO_SERVERS as SERVERS, startDemo } from '../fixtures/demo.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const execFileP = promisify(execFile);
/** One meaningful read per server, against its real engine or its labelled simulator. */
const ONE_CALL: Record<string, [string, Record<string, unknown>]> = {
  docker: ['health_get_report', {}],
  observability: ['alerts_list', {}],
  gitlab: ['projects_list', {}],
  zitadel: ['projects_list', {}],
  traefik: ['overview_get', {}],
  secrets: ['secrets_list', {}],
};
const built = demoBuilt();
let demo: RunningDemo;
let printed = '';
let base = 0;
let state = '';

interface DemoState {
  servers: { name: string; url: string; token: string }[];
  agent: { bundleFile: string };
  clients: { claudeDesktop: string; cursor: string; claudeCodeProject: string };
}

async function sh(command: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await execFileP('bash', ['-c', command], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    timeout: 90_000,
    maxBuffer: 8 * 1024 * 1024,
  });
  return stdout;
}

/** A JSON-RPC answer (curl) or inspector-cli output: parsed, with no error. */
function expectAnswer(stdout: string, what: string): Record<string, unknown> {
  const start = stdout.indexOf('{');
  expect(start, `${what} printed no JSON: ${stdout.slice(0, 300)}`).toBeGreaterThanOrEqual(0);
  const body = JSON.parse(stdout.slice(start)) as Record<string, unknown>;
  expect(body.error, `${what}: ${JSON.stringify(body.error)}`).toBeUndefined();
  const result = (body.result ?? body) as { isError?: boolean; tools?: unknown[] };
  expect(result.isError, `${what}: ${stdout.slice(0, 500)}`).toBeFalsy();
  return result as Record<string, unknown>;
}

beforeAll(async () => {
  if (!built) return;
  demo = await startDemo();
  ({ printed, base, stateDir: state } = demo);
}, 120_000);

afterAll(async () => {
  await demo?.stop();
});

describe.runIf(built)('what the demo prints, run as printed', () => {
  it('prints the exports, and every command it prints works', async () => {
    const env = exportsOf(printed);
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(['RAVENHELM_CA_FILE', ...SERVERS.map((n) => `RAVENHELM_TOKEN_${n.toUpperCase()}`)]),
    );
    const tryIt = printed.slice(printed.indexOf('Try it'), printed.indexOf('Claude Code'));
    const commands = tryIt.split('\n').filter((l) => /^(curl |RAVENHELM_TOKEN=)/.test(l));
    expect(commands.length).toBe(4);
    for (const command of commands) {
      const stdout = await sh(command, env);
      // npm prints the script line it runs: the token must not be on it (it travels in the environment).
      expect(stdout.includes(env.RAVENHELM_TOKEN_DOCKER as string), `${command} printed the token`).toBe(false);
      const result = expectAnswer(stdout, command.slice(0, 80));
      if (command.includes('tools/list')) expect((result.tools as unknown[]).length).toBeGreaterThan(5);
    }
  }, 180_000);

  it("runs the README's demo snippets", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const snippets = [...readme.matchAll(/<!-- snippet: demo -->\n```sh\n([\s\S]*?)```/g)].map((m) =>
      (m[1] as string)
        .replace(/localhost:8701/g, `localhost:${base + 1}`)
        .replace(/localhost:8702/g, `localhost:${base + 2}`),
    );
    expect(snippets.length).toBeGreaterThanOrEqual(2);
    for (const snippet of snippets) expectAnswer(await sh(snippet, exportsOf(printed)), snippet.slice(0, 80));
  }, 180_000);

  it('writes stdio client entries that start and answer, exactly as a client runs them', async () => {
    const demoState = JSON.parse(readFileSync(join(state, 'demo.json'), 'utf8')) as DemoState;
    const desktop = JSON.parse(readFileSync(demoState.clients.claudeDesktop, 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
    };
    expect(Object.keys(desktop.mcpServers).sort()).toEqual(SERVERS.map((n) => `ravenhelm-${n}`).sort());
    for (const [name, e] of Object.entries(desktop.mcpServers)) {
      expect(e.args[0], 'absolute path').toMatch(/^\//);
      const client = new Client({ name: `demo-${name}`, version: '1.0.0' });
      // Like a GUI client: started from / with only the entry's environment (and PATH).
      await client.connect(
        new StdioClientTransport({
          command: e.command,
          args: e.args,
          env: { PATH: process.env.PATH ?? '', ...e.env },
          cwd: '/',
          stderr: 'pipe',
        }),
      );
      try {
        const { tools } = await client.listTools();
        expect(tools.length, name).toBeGreaterThan(2);
        const [tool, args] = ONE_CALL[name.replace('ravenhelm-', '')] ?? [];
        expect(tool, `a call for ${name}`).toBeDefined();
        const call = await client.callTool({ name: tool as string, arguments: args });
        expect(call.isError, `${name}: ${JSON.stringify(call.content).slice(0, 300)}`).toBeFalsy();
      } finally {
        await client.close();
      }
    }
  }, 120_000);

  it('writes URL-only HTTP client entries that lead a client to sign in at the dev issuer (dev CA trusted)', async () => {
    const demoState = JSON.parse(readFileSync(join(state, 'demo.json'), 'utf8')) as DemoState;
    const cursor = JSON.parse(readFileSync(demoState.clients.cursor, 'utf8')) as {
      mcpServers: Record<string, { type?: string; url?: string; headers?: Record<string, string> }>;
    };
    const http = Object.entries(cursor.mcpServers).filter(([, e]) => e.url);
    expect(http.map(([n]) => n).sort()).toEqual(SERVERS.map((n) => `ravenhelm-${n}-http`).sort());
    // No token that expires in the file: the client signs in itself (the whole sign-in, through the SDK
    // client, is test/e2e/demo-oauth.test.ts). Here: each entry's first request is answered the way an
    // OAuth client needs, in a separate Node process so NODE_EXTRA_CA_CERTS applies as it does for clients.
    for (const [, e] of http) expect(Object.keys(e).sort()).toEqual(['type', 'url']);
    const script = `
      const e = JSON.parse(process.env.ENTRY);
      const res = await fetch(e.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'demo-http', version: '1' } } }),
      });
      const challenge = res.headers.get('www-authenticate') ?? '';
      const prmUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
      const prm = prmUrl ? await (await fetch(prmUrl)).json() : {};
      const as = prm.authorization_servers?.[0];
      const meta = as ? await (await fetch(new URL('/.well-known/oauth-authorization-server', as))).json() : {};
      console.log(JSON.stringify({ status: res.status, resource: prm.resource, as, registration: meta.registration_endpoint }));`;
    for (const [name, e] of http) {
      const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', script], {
        cwd: join(REPO_ROOT, 'test'),
        env: { ...process.env, ENTRY: JSON.stringify(e), NODE_EXTRA_CA_CERTS: demoState.agent.bundleFile },
        timeout: 60_000,
      });
      const got = JSON.parse(stdout.trim()) as Record<string, string | number>;
      expect(got.status, name).toBe(401);
      expect(got.resource, name).toBe(e.url);
      expect(String(got.as), name).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):\d+/);
      expect(String(got.registration), name).toContain('/register');
    }
  }, 120_000);
});
