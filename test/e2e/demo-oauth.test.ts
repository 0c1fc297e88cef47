/**
 * The MCP authorization flow (MCP 2025-11-25 "Authorization") through the official SDK client against the
 * dev issuer, as Claude Code or Cursor would run it from the demo's URL-only HTTP entries: 401 ->
 * protected resource metadata (RFC 9728) -> the issuer's metadata (RFC 8414) -> dynamic client registration
 * (RFC 7591) -> the sign-in page in a "browser" (fetch, the form posted as a person would) -> the code on the
 * client's loopback redirect URI -> tokens with the resource indicator (RFC 8707) -> tools -> and, once the
 * access token expired, a refresh without another sign-in.
 * First against a kit server started here (Traefik, on its simulator), then against the running demo.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OAuthClientProvider, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { DevIssuer } from '@ravenhelm/auth';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gitlabSuite from '../contract/servers/gitlab.js';
import traefikSuite from '../contract/servers/traefik.js';
import type { ContractBackend, ContractSuite } from '../contract/types.js';
import { demoBuilt, mtlsFetch, type RunningDemo, startDemo } from '../fixtures/demo.js';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';

/** The demo servers' authenticator accepts tokens this long past `exp` (auth.clockToleranceSeconds default). */
const CLOCK_TOLERANCE_MS = 5_000;
const FETCH_TIMEOUT_MS = 15_000;

/** The client's loopback redirect endpoint (RFC 8252 7.3): hands over the code it receives. */
class Callback {
  #server: Server | undefined;
  #waiting: ((q: URLSearchParams) => void) | undefined;
  received: URLSearchParams[] = [];

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      const q = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams;
      this.received.push(q);
      this.#waiting?.(q);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Signed in: you can close this window.');
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/callback`;
  }

  next(): Promise<URLSearchParams> {
    return new Promise((resolve) => {
      this.#waiting = resolve;
    });
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

/**
 * A person at a browser: opens the sign-in page, types a dev user name, leaves the requested scopes ticked
 * and ticks `tick` too, submits, follows the redirect back.
 */
async function signInAsPerson(authorizationUrl: URL, user: string, tick: readonly string[] = []): Promise<void> {
  const page = await fetch(authorizationUrl, { redirect: 'manual', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const html = await page.text();
  expect(page.status, html.slice(0, 500)).toBe(200);
  const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
  expect(form, 'the sign-in page has a form').not.toBeNull();
  const fields = new URLSearchParams();
  for (const m of (form?.[2] ?? '').matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.set(m[1] as string, m[2] as string);
  }
  expect(html).toMatch(/<label for="user">Dev user name<\/label>/);
  const boxes = [
    ...(form?.[2] ?? '').matchAll(/<input type="checkbox" name="scope" value="([^"]+)"[^>]*?( checked)?>/g),
  ];
  expect(boxes.length, 'the sign-in page offers scopes').toBeGreaterThan(0);
  for (const s of tick) expect(boxes.map((m) => m[1])).toContain(s);
  for (const m of boxes) if (m[2] || tick.includes(m[1] as string)) fields.append('scope', m[1] as string);
  fields.set('user', user);
  fields.set('action', 'allow'); // the "Sign in" button
  const posted = await fetch(new URL(form?.[1] as string, authorizationUrl), {
    method: 'POST',
    redirect: 'manual',
    body: fields,
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  expect(posted.status).toBe(303);
  const back = await fetch(posted.headers.get('location') as string, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  expect(back.status).toBe(200);
}

/**
 * What an MCP client keeps: its registration, tokens and PKCE verifier, in memory. Its redirect URI is
 * registered without a port (RFC 8252 7.3) and used with the port its callback listens on.
 */
class MemoryProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens[] = [];
  authorizations: URL[] = [];
  signedIn: Promise<void> = Promise.resolve();
  #verifier = '';
  #state = '';

  constructor(
    readonly redirectUrl: string,
    private readonly user: string,
    /** Scopes the person ticks besides the requested ones. */
    private readonly tick: readonly string[] = [],
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    const portless = new URL(this.redirectUrl);
    portless.port = '';
    return {
      client_name: 'Ravenhelm e2e (SDK client)',
      redirect_uris: [portless.href],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state(): string {
    this.#state = randomBytes(16).toString('base64url');
    return this.#state;
  }
  get expectedState(): string {
    return this.#state;
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.saved.at(-1);
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved.push(tokens);
  }
  redirectToAuthorization(url: URL) {
    this.authorizations.push(url);
    this.signedIn = signInAsPerson(url, this.user, this.tick);
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    return this.#verifier;
  }
}

type CallResult = Awaited<ReturnType<Client['callTool']>>;
const textOf = (r: CallResult) =>
  ((r.content ?? []) as { type: string; text?: string }[]).map((c) => c.text ?? '').join('\n');

/**
 * The whole flow against `url` with the SDK client: sign in once, list and call a tool, wait until the
 * access token expired, call again (the client refreshes), and return what the client saw.
 */
async function signInListCallRefresh(o: {
  url: string;
  issuer: string;
  tool: string;
  args?: Record<string, unknown>;
  fetch?: typeof fetch;
  user?: string;
}): Promise<{ provider: MemoryProvider; tools: string[]; refreshedCall: CallResult }> {
  const callback = new Callback();
  const provider = new MemoryProvider(await callback.start(), o.user ?? 'ops-alice');
  const transportOpts = { authProvider: provider, ...(o.fetch ? { fetch: o.fetch } : {}) };
  try {
    // 1. No token yet: 401, discovery, registration, then the browser is sent to the dev issuer.
    const codeArrives = callback.next();
    const first = new StreamableHTTPClientTransport(new URL(o.url), transportOpts);
    await expect(new Client({ name: 'e2e', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(provider.authorizations).toHaveLength(1);
    const authorization = provider.authorizations[0] as URL;
    expect(authorization.origin).toBe(o.issuer);
    expect(authorization.pathname).toBe('/authorize');
    expect(authorization.searchParams.get('resource')).toBe(o.url);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('redirect_uri')).toBe(provider.redirectUrl);
    expect(provider.client?.client_id).toMatch(/^dyn-/);
    // 2. The person signs in; the code lands on the client's loopback redirect URI.
    await provider.signedIn;
    const back = await codeArrives;
    expect(back.get('state')).toBe(provider.expectedState);
    await first.finishAuth(back.get('code') as string);
    await first.close();
    const tokens = provider.tokens() as OAuthTokens;
    expect(tokens.refresh_token).toBeTruthy();
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({
      iss: o.issuer,
      sub: o.user ?? 'ops-alice',
      client_id: provider.client?.client_id,
      aud: o.url,
    });

    // 3. Connected with that token: tools are listed and one is called.
    const client = new Client({ name: 'e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(o.url), transportOpts));
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      const call = await client.callTool({ name: o.tool, arguments: o.args ?? {} });
      expect(call.isError, textOf(call).slice(0, 500)).toBeFalsy();

      // 4. Past the access token's expiry (and the servers' clock tolerance) the next call gets 401 and
      // the client refreshes by itself: no second sign-in, a new access token and a rotated refresh token.
      const wait = (claims.exp as number) * 1000 + CLOCK_TOLERANCE_MS + 1_000 - Date.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait)));
      const before = provider.saved.length;
      const refreshedCall = await client.callTool({ name: o.tool, arguments: o.args ?? {} });
      expect(provider.authorizations).toHaveLength(1);
      expect(callback.received).toHaveLength(1);
      expect(provider.saved.length).toBe(before + 1);
      const refreshed = provider.tokens() as OAuthTokens;
      expect(refreshed.access_token).not.toBe(tokens.access_token);
      expect(refreshed.refresh_token).toBeTruthy();
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
      expect(decodeJwt(refreshed.access_token)).toMatchObject({ sub: claims.sub, aud: o.url });
      return { provider, tools, refreshedCall };
    } finally {
      await client.close();
    }
  } finally {
    await callback.stop();
  }
}

/** A kit server on its contract backend, in OAuth mode against a dev issuer that lets clients register. */
interface KitServer {
  issuer: DevIssuer;
  issuerUrl: string;
  backend: ContractBackend;
  server: HttpBin;
  url: string;
  stop(): Promise<void>;
}

async function startKitServer(suite: ContractSuite, accessTokenTtlSeconds: number): Promise<KitServer> {
  const dir = await mkdtemp(join(tmpdir(), 'rh-demo-oauth-'));
  const backend = await suite.setup();
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const url = `http://127.0.0.1:${port}/mcp`;
  const issuer = await DevIssuer.open({ stateDir: join(dir, 'issuer') });
  const { issuer: issuerUrl } = await issuer.listen({
    port: 0,
    dynamicClients: {
      resources: [url],
      scopes: ['read', 'write', 'admin'].map((l) => `mcp:${suite.server}:${l}`),
      accessTokenTtlSeconds,
    },
  });
  const suiteEnv = Object.fromEntries(Object.entries(backend.env).filter(([k]) => !k.startsWith('RAVENHELM_LOCAL_')));
  const server = await startHttpBin(
    suite.bin,
    {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? dir,
      ...suiteEnv,
      RAVENHELM_LOG_LEVEL: 'info',
      RAVENHELM_HTTP_HOST: '127.0.0.1',
      RAVENHELM_HTTP_PORT: String(port),
      RAVENHELM_PUBLIC_URL: url,
      RAVENHELM_AUTH_MODE: 'oauth',
      RAVENHELM_AUTH_ISSUER: issuerUrl,
    },
    { args: ['--http'] },
  );
  return {
    issuer,
    issuerUrl,
    backend,
    server,
    url,
    async stop() {
      await server.stop();
      await issuer.close();
      await backend.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('a kit server configured against the dev issuer', () => {
  let kit: KitServer;
  let issuerUrl: string;
  let server: HttpBin;
  let url: string;

  beforeAll(async () => {
    // A short access-token lifetime, so the client has to refresh within the test.
    kit = await startKitServer(traefikSuite, 2);
    ({ issuerUrl, server, url } = kit);
  }, 120_000);

  afterAll(async () => {
    await kit?.stop();
  });

  it("answers 401 pointing, through its protected resource metadata, at the dev issuer's registration", async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    expect(res.status).toBe(401);
    const prmUrl = /resource_metadata="([^"]+)"/.exec(res.headers.get('www-authenticate') ?? '')?.[1] as string;
    const prm = (await (await fetch(prmUrl, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })).json()) as {
      resource: string;
      authorization_servers: string[];
    };
    expect(prm).toMatchObject({ resource: url, authorization_servers: [issuerUrl] });
    const meta = (await (await fetch(`${issuerUrl}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      unknown
    >;
    expect(meta.registration_endpoint).toBe(`${issuerUrl}/register`);
  });

  it('the SDK client registers, has a person sign in, calls tools and refreshes without a second sign-in', async () => {
    const { tools, refreshedCall, provider } = await signInListCallRefresh({
      url,
      issuer: issuerUrl,
      tool: 'overview_get',
    });
    expect(tools).toContain('overview_get');
    expect(refreshedCall.isError, textOf(refreshedCall).slice(0, 500)).toBeFalsy();
    expect(refreshedCall.structuredContent).toBeTypeOf('object');
    // The server never logs a token.
    expect(server.stderr()).not.toContain(provider.tokens()?.access_token as string);
  }, 90_000);
});

/**
 * The SDK client signs a person in (who ticks `tick` besides the requested scopes), lists the tools and
 * calls `call`; returns what it saw. The person signs in once: no step-up follows.
 */
async function signInAndList(o: {
  url: string;
  issuer: string;
  tick?: readonly string[];
  call?: { name: string; arguments: Record<string, unknown> };
}): Promise<{ provider: MemoryProvider; tools: string[]; call: CallResult | undefined }> {
  const callback = new Callback();
  const provider = new MemoryProvider(await callback.start(), 'ops-alice', o.tick);
  const opts = { authProvider: provider };
  try {
    const codeArrives = callback.next();
    const first = new StreamableHTTPClientTransport(new URL(o.url), opts);
    await expect(new Client({ name: 'e2e', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(provider.authorizations[0]?.origin).toBe(o.issuer);
    await provider.signedIn;
    await first.finishAuth((await codeArrives).get('code') as string);
    await first.close();
    const client = new Client({ name: 'e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(o.url), opts));
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      const call = o.call ? await client.callTool(o.call) : undefined;
      expect(provider.authorizations, 'one sign-in, no step-up').toHaveLength(1);
      return { provider, tools, call };
    } finally {
      await client.close();
    }
  } finally {
    await callback.stop();
  }
}

describe('a person who ticks more than the client asked for (GitLab kit server)', () => {
  let kit: KitServer;

  beforeAll(async () => {
    kit = await startKitServer(gitlabSuite, 3600);
  }, 120_000);

  afterAll(async () => {
    await kit?.stop();
  });

  it('the client asks for read; with write ticked too its tools/list gains the write tools, which it can call', async () => {
    const readOnly = await signInAndList({ url: kit.url, issuer: kit.issuerUrl });
    // The 401 names the read scope, so that is what the SDK client asks for.
    expect(readOnly.provider.authorizations[0]?.searchParams.get('scope')).toBe('mcp:gitlab:read');
    expect(readOnly.provider.tokens()?.scope).toBe('mcp:gitlab:read');

    const withWrite = await signInAndList({
      url: kit.url,
      issuer: kit.issuerUrl,
      tick: ['mcp:gitlab:write'],
      call: { name: 'issues_create', arguments: { project: 'platform/api', title: 'Filed after a wider sign-in' } },
    });
    expect(withWrite.provider.authorizations[0]?.searchParams.get('scope')).toBe('mcp:gitlab:read');
    const tokens = withWrite.provider.tokens() as OAuthTokens;
    expect(tokens.scope).toBe('mcp:gitlab:read mcp:gitlab:write');
    expect(decodeJwt(tokens.access_token).scope).toBe('mcp:gitlab:read mcp:gitlab:write');

    const added = withWrite.tools.filter((t) => !readOnly.tools.includes(t));
    expect(added).toEqual(expect.arrayContaining(['issues_create', 'pipelines_retry', 'jobs_retry']));
    expect(readOnly.tools.every((t) => withWrite.tools.includes(t))).toBe(true);
    // The write tool runs with the token the person chose: no 403, no step-up sign-in.
    expect(withWrite.call?.isError, textOf(withWrite.call as CallResult).slice(0, 500)).toBeFalsy();
    expect(withWrite.call?.structuredContent).toMatchObject({ title: 'Filed after a wider sign-in' });
  }, 90_000);
});

describe.runIf(demoBuilt())('the demo: URL-only HTTP client entries', () => {
  let demo: RunningDemo;
  let state: {
    issuer: string;
    agent: { bundleFile: string; certFile: string; keyFile: string };
    clients: { cursor: string; claudeCodeProject: string; claudeDesktop: string };
  };

  beforeAll(async () => {
    demo = await startDemo();
    state = JSON.parse(readFileSync(join(demo.stateDir, 'demo.json'), 'utf8'));
  }, 120_000);

  afterAll(async () => {
    await demo?.stop();
  });

  it('writes HTTP entries without a token, and the demo prints no Authorization header for clients', () => {
    for (const file of [state.clients.cursor, state.clients.claudeCodeProject]) {
      const { mcpServers } = JSON.parse(readFileSync(file, 'utf8')) as {
        mcpServers: Record<string, { type?: string; url?: string; headers?: unknown }>;
      };
      const http = Object.values(mcpServers).filter((e) => e.url);
      expect(http.length).toBeGreaterThan(0);
      for (const e of http)
        expect(e).toEqual({ type: 'http', url: expect.stringMatching(/^https:\/\/localhost:\d+\/mcp$/) });
    }
    const script = readFileSync(join(demo.stateDir, 'clients', 'claude-code.sh'), 'utf8');
    expect(script).toMatch(/claude mcp add --transport http ravenhelm-docker-http https:\/\/localhost:\d+\/mcp\n/);
    expect(script).not.toMatch(/Authorization|Bearer/);
  });

  it("starts the Secrets server without the AWS SDK's NodeVersionSupportWarning", async () => {
    // The warning comes with the first AWS call, on stderr (the HTTP child's goes to the demo's stderr the same way).
    const { mcpServers } = JSON.parse(readFileSync(state.clients.claudeDesktop, 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
    };
    const e = mcpServers['ravenhelm-secrets'];
    expect(e).toBeDefined();
    const transport = new StdioClientTransport({
      command: e?.command as string,
      args: e?.args ?? [],
      env: { PATH: process.env.PATH ?? '', ...e?.env },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const client = new Client({ name: 'e2e', version: '1.0.0' });
    await client.connect(transport);
    try {
      const call = await client.callTool({ name: 'secrets_list', arguments: {} });
      expect(call.isError, textOf(call).slice(0, 500)).toBeFalsy();
    } finally {
      await client.close();
    }
    expect(stderr).toContain('serving MCP over stdio');
    expect(stderr).not.toContain('NodeVersionSupportWarning');
  }, 60_000);

  it('an entry works as a client uses it: sign in at the dev issuer, call a tool, refresh', async () => {
    const { mcpServers } = JSON.parse(readFileSync(state.clients.cursor, 'utf8')) as {
      mcpServers: Record<string, { url?: string }>;
    };
    const entry = mcpServers['ravenhelm-traefik-http'];
    expect(entry?.url).toBeDefined();
    // As NODE_EXTRA_CA_CERTS does for a Node-based client: the dev CA is trusted for the HTTPS servers.
    const tls = mtlsFetch({
      ca: readFileSync(state.agent.bundleFile, 'utf8'),
      cert: readFileSync(state.agent.certFile, 'utf8'),
      key: readFileSync(state.agent.keyFile, 'utf8'),
    });
    const both = ((input: string | URL | Request, init?: RequestInit) =>
      new URL(input instanceof Request ? input.url : String(input)).protocol === 'https:'
        ? tls(input, init)
        : fetch(input, init)) as typeof fetch;
    // The demo's access tokens live an hour: the refresh is forced by dropping the client's access token.
    const { tools } = await signInListCallRefreshDemo(entry?.url as string, state.issuer, both);
    expect(tools).toContain('overview_get');
  }, 90_000);
});

/** The demo variant: same flow, but the access token is made stale by the client, not by waiting an hour. */
async function signInListCallRefreshDemo(url: string, issuer: string, fetchFn: typeof fetch) {
  const callback = new Callback();
  const provider = new MemoryProvider(await callback.start(), 'sec-bob');
  const opts = { authProvider: provider, fetch: fetchFn };
  try {
    const codeArrives = callback.next();
    const first = new StreamableHTTPClientTransport(new URL(url), opts);
    await expect(new Client({ name: 'e2e', version: '1.0.0' }).connect(first)).rejects.toBeInstanceOf(
      UnauthorizedError,
    );
    expect(provider.authorizations[0]?.origin).toBe(issuer);
    expect(provider.authorizations[0]?.searchParams.get('resource')).toBe(url);
    await provider.signedIn;
    await first.finishAuth((await codeArrives).get('code') as string);
    await first.close();
    const client = new Client({ name: 'e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), opts));
    try {
      const tools = (await client.listTools()).tools.map((t) => t.name);
      const call = await client.callTool({ name: 'overview_get', arguments: {} });
      expect(call.isError, textOf(call).slice(0, 500)).toBeFalsy();
      // A stale access token (as after its hour): the server answers 401 and the client refreshes.
      const current = provider.tokens() as OAuthTokens;
      provider.saveTokens({ ...current, access_token: `${current.access_token.slice(0, -4)}AAAA` });
      const again = await client.callTool({ name: 'overview_get', arguments: {} });
      expect(again.isError, textOf(again).slice(0, 500)).toBeFalsy();
      expect(provider.authorizations).toHaveLength(1);
      expect(provider.tokens()?.refresh_token).not.toBe(current.refresh_token);
      return { tools };
    } finally {
      await client.close();
    }
  } finally {
    await callback.stop();
  }
}
