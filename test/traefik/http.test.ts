// The real bin over Streamable HTTP (auth.mode none on loopback), as agents call it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';
import { type Fixture, startFixture } from './harness.js';

let fx: Fixture;
let server: HttpBin;
let url: string;

beforeAll(async () => {
  fx = await startFixture();
  fx.sim.setProvider('docker', {
    http: {
      routers: { web: { rule: 'Host(`web.example.com`)', service: 'web' } },
      services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  server = await startHttpBin('servers/traefik/src/bin.ts', {
    ...fx.env,
    RAVENHELM_LOG_LEVEL: 'info',
    RAVENHELM_AUTH_MODE: 'none',
    RAVENHELM_LOCAL_SCOPES: 'mcp:traefik:read',
  });
  url = server.url;
}, 90_000);

afterAll(async () => {
  await server?.stop();
  await fx?.close();
});

describe('Traefik server over Streamable HTTP', () => {
  it('a read-only caller sees the LOW tools only and can diagnose a request', async () => {
    const client = new Client({ name: 'traefik-http', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('requests_diagnose');
      expect(names).not.toContain('routes_apply');
      expect(names).not.toContain('routes_remove');
      const d = await client.callTool({ name: 'requests_diagnose', arguments: { url: 'http://web.example.com/' } });
      expect(d.isError).toBeFalsy();
      expect(d.structuredContent).toMatchObject({ router: 'web@docker', service: { up: 1, total: 1 } });
      // Refused before the tool runs: HTTP 403 with the scope it needs (the SDK raises it).
      await expect(client.callTool({ name: 'routes_remove', arguments: { name: 'web' } })).rejects.toThrow(
        /ERR_INSUFFICIENT_SCOPE.*mcp:traefik:admin/,
      );
    } finally {
      await client.close();
    }
  }, 60_000);
});
