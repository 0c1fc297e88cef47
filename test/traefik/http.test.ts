// The real bin over Streamable HTTP (auth.mode none on loopback), as agents call it.
import { type ChildProcess, spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { type Fixture, startFixture } from './harness.js';

let fx: Fixture;
let child: ChildProcess;
let url: string;

beforeAll(async () => {
  fx = await startFixture();
  fx.sim.setProvider('docker', {
    http: {
      routers: { web: { rule: 'Host(`web.example.com`)', service: 'web' } },
      services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  const entry = tsEntry('servers/traefik/src/bin.ts', ['--http', '--port', '0']);
  child = spawn(entry.command, entry.args, {
    cwd: REPO_ROOT,
    env: {
      ...fx.env,
      RAVENHELM_LOG_LEVEL: 'info',
      RAVENHELM_AUTH_MODE: 'none',
      RAVENHELM_LOCAL_SCOPES: 'mcp:traefik:read',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${buffered}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const m = /"url":"([^"]+)"/.exec(buffered);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${buffered}`)));
  });
}, 90_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
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
