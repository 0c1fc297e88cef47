/** Shared by the benchmarks: settings, the no-op call, the echo server under test, and the entry point. */
import type { Authenticator } from '@ravenhelm/auth';
import {
  createMemoryAuditSink,
  createRuntime,
  loadConfig,
  localAuthenticator,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { echoServer } from '../fixtures/echo-server.js';

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
export const NOOP_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo_noop', arguments: {} },
});

/** The kit's echo server over HTTP on a free port; the local principal unless an authenticator is given. */
export async function startKit(
  authenticator?: () => Authenticator,
): Promise<{ url: string; close: () => Promise<void> }> {
  const def = echoServer();
  const config = loadConfig({
    backendSchema: def.backendConfig,
    env: { RAVENHELM_HTTP_PORT: '0', RAVENHELM_LOCAL_SCOPES: 'mcp:echo:read' },
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
