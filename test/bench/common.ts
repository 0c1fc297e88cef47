/** Shared by the benchmarks: settings, the no-op call, the echo server under test, and the entry point. */
import type { Authenticator } from '@ravenhelm/auth';
import {
  type AuditEvent,
  createMemoryAuditSink,
  createRuntime,
  loadConfig,
  localAuthenticator,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { echoServer } from '../fixtures/echo-server.js';

/** The audit record the audit benches write: a MEDIUM outcome of a typical size, `i` in its request id. */
export const auditBenchEvent = (i: number): AuditEvent => ({
  server: 'bench',
  tool: 'bench_write',
  tier: 'MEDIUM',
  principal: { subject: 'agent', clientId: 'bench' },
  requestId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  phase: 'outcome',
  args: { container: `web-${i}`, timeoutSeconds: 10 },
  outcome: 'success',
  durationMs: 1,
});

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
export const NOOP_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo_noop', arguments: {} },
});

/** NOOP_CALL as a 2026-07-28 client (SDK v2) sends it, with the per-request `_meta` envelope. */
export const MODERN_NOOP_CALL = JSON.stringify({
  ...JSON.parse(NOOP_CALL),
  params: {
    ...JSON.parse(NOOP_CALL).params,
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '0' },
    },
  },
});
/** The headers a 2026-07-28 client sends with MODERN_NOOP_CALL (version and routing headers are required). */
export const MODERN_NOOP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2026-07-28',
  'mcp-method': 'tools/call',
  'mcp-name': 'echo_noop',
};

/** The kit's echo server over HTTP on a free port; the local principal unless an authenticator is given. */
export async function startKit(
  authenticator?: () => Authenticator,
): Promise<{ url: string; close: () => Promise<void> }> {
  const def = echoServer();
  const config = loadConfig({
    backendSchema: def.backendConfig,
    env: {
      RAVENHELM_HTTP_PORT: '0',
      RAVENHELM_LOCAL_SCOPES: 'mcp:echo:read',
      // One principal drives every connection: BENCH_CONCURRENCY above 32 is measured, not refused.
      RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '100000',
      RAVENHELM_MAX_CALLS_IN_FLIGHT: '100000',
    },
  });
  const rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
  const handle = await startHttp(rt, {
    authenticator: authenticator ?? localAuthenticator(rt.localPrincipal),
    authorizationServers: [],
  });
  return {
    url: handle.url,
    close: async () => {
      await handle.shutdown();
      await rt.close();
    },
  };
}

/** Runs `main` when the file is executed directly, exiting non-zero on failure. */
export function runIfMain(meta: ImportMeta, main: () => Promise<unknown>): void {
  if (meta.url !== `file://${process.argv[1]}`) return;
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
