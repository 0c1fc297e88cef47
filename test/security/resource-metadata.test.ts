/**
 * Protected resource metadata (RFC 9728) behind a path-prefix proxy, as examples/traefik-dynamic.yaml
 * deploys the suite: one host, `/docker/mcp` routed to the docker server's `/mcp` with the prefix
 * stripped. The MCP SDK client's own discovery, a real authorization server (oidc-provider) and real
 * tokens: a client that starts from the 401 challenge, or from the RFC 9728 well-known URI, must find
 * this server's metadata and sign in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  discoverOAuthProtectedResourceMetadata,
  discoverOAuthServerInfo,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  oauthAuthenticatorFactory,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/**
 * A reverse proxy with Traefik's routers of the example: `/docker/...` to the server with the prefix
 * stripped (stripPrefix), `routes` extra prefixes forwarded unchanged; anything else 404 (no router).
 */
function startProxy(): Promise<{ server: Server; port: number; target: { port: number; extra: string[] } }> {
  const target = { port: 0, extra: [] as string[] };
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    let upstream: string | undefined;
    if (path.startsWith('/docker/')) upstream = path.slice('/docker'.length);
    else if (target.extra.some((p) => path.startsWith(p))) upstream = path;
    if (upstream === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    const out = request(
      { host: '127.0.0.1', port: target.port, method: req.method, path: upstream, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, target })),
  );
}

describe('protected resource metadata behind a path-prefix proxy (RFC 9728)', () => {
  let oidc: RunningOidcProvider;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let rt: SuiteRuntime;
  let http: HttpServerHandle;
  let publicUrl: string;
  const dir = mkdtempSync(join(tmpdir(), 'rh-prm-'));

  beforeAll(async () => {
    proxy = await startProxy();
    publicUrl = `http://127.0.0.1:${proxy.port}/docker/mcp`;
    oidc = await startOidcProvider({ jwtResources: [publicUrl], scopes: ['mcp:echo:read', 'mcp:echo:write'] });
    const def = echoServer();
    const config = loadConfig({
      backendSchema: def.backendConfig,
      env: {
        RAVENHELM_HTTP_PORT: '0',
        RAVENHELM_PUBLIC_URL: publicUrl,
        RAVENHELM_AUTH_ISSUER: oidc.issuer,
        RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
      },
    });
    rt = await createRuntime(def as never, config, silentLogger());
    http = await startHttp(rt, {
      authenticator: oauthAuthenticatorFactory(config),
      authorizationServers: [oidc.issuer],
    });
    proxy.target.port = Number(new URL(http.url).port);
  }, 60_000);

  afterAll(async () => {
    await http?.shutdown();
    await rt?.close();
    await oidc?.stop();
    await new Promise((r) => proxy?.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("the 401 challenge names metadata the client reaches through the server's own route, and the client signs in", async () => {
    const res = await fetch(publicUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    const { resourceMetadataUrl } = extractWWWAuthenticateParams(res);
    expect(resourceMetadataUrl?.toString()).toBe(`http://127.0.0.1:${proxy.port}/docker${WELL_KNOWN}/mcp`);
    // What the SDK's auth() does with the challenge: the metadata, then the authorization server it names.
    const info = await discoverOAuthServerInfo(publicUrl, { resourceMetadataUrl });
    expect(info.resourceMetadata?.resource).toBe(publicUrl);
    expect(info.authorizationServerUrl).toBe(oidc.issuer);
    expect(info.authorizationServerMetadata?.token_endpoint).toBeTruthy();
    const token = await oidc.getToken({ resource: info.resourceMetadata?.resource, scope: 'mcp:echo:read' });
    const client = new Client({ name: 'prm-test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(publicUrl), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo_say');
    } finally {
      await client.close();
    }
  });

  it('the RFC 9728 well-known URI of the public resource is answered when the proxy routes it unchanged', async () => {
    proxy.target.extra = [`${WELL_KNOWN}/docker/`];
    try {
      // No challenge: the SDK tries `/.well-known/oauth-protected-resource/docker/mcp` on the host.
      const metadata = await discoverOAuthProtectedResourceMetadata(publicUrl);
      expect(metadata.resource).toBe(publicUrl);
      expect(metadata.authorization_servers).toEqual([oidc.issuer]);
    } finally {
      proxy.target.extra = [];
    }
  });
});
