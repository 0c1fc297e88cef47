import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { oauthAuthenticatorFactory, peerWiring } from './auth-wiring.js';
import { defaultAuditFile, loadConfig, redactConfig } from './config.js';
import { RavenhelmError } from './errors.js';
import { createLogger, type Logger } from './logging.js';
import { createRuntime, defaultScopes, localAuthenticator, startHttp } from './runtime.js';
import type { ServerDefinition } from './server-definition.js';
import { startStdio } from './stdio.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Per-server defaults that --help and --print-config show as they are, not as "unset". */
function serverDefaults(def: ServerDefinition<object, z.ZodObject>): Record<string, unknown> {
  return {
    'http.port': def.defaultPort ?? 8700,
    'audit.file': defaultAuditFile(def.name),
    'local.scopes': defaultScopes(def.name),
  };
}

function usage(def: ServerDefinition<object, z.ZodObject>): string {
  const d = serverDefaults(def);
  return `ravenhelm-mcp-${def.name} ${def.version}: ${def.description}

Usage: ravenhelm-mcp-${def.name} [--stdio | --http] [options]
  --stdio              serve MCP over stdin/stdout (for mcp.json in Claude or Cursor)
  --http               serve MCP over Streamable HTTP (default; RAVENHELM_TRANSPORT)
  --host HOST          listen address (default 127.0.0.1; RAVENHELM_HTTP_HOST)
  --port PORT          listen port (default ${d['http.port']}; RAVENHELM_HTTP_PORT)
  --config FILE        YAML config file (default none; RAVENHELM_CONFIG)
  --policy FILE        policy file: toolsets, read-only, tiers, confirmation (default none; RAVENHELM_POLICY_FILE)
  --print-config       print the effective configuration with secrets redacted, then exit
  --help, --version

Defaults worth knowing:
  audit log            ${d['audit.file']} (RAVENHELM_AUDIT_FILE)
  auth over HTTP       oauth: RAVENHELM_AUTH_ISSUER is required (RAVENHELM_AUTH_MODE=none for loopback trials)
  stdio caller         the local operator with scopes ${(d['local.scopes'] as string[]).join(' ')} (RAVENHELM_LOCAL_SCOPES);
                       HIGH tools off unless RAVENHELM_LOCAL_ALLOW_HIGH=true and the policy allowlists RAVENHELM_LOCAL_SPIFFE_ID
`;
}

/** Startup failed: one plain line a person can act on, the structured log, and a non-zero exit with nothing left listening. */
function failStart(logger: Logger | undefined, name: string, err: unknown): never {
  const message = err instanceof RavenhelmError ? err.message : ((err as Error)?.message ?? String(err));
  logger?.fatal({ err: err instanceof RavenhelmError ? err.message : err }, 'failed to start');
  logger?.flush();
  process.stderr.write(`ravenhelm-mcp-${name}: failed to start: ${message}\n`);
  process.exit(1);
}

/** The entry point every server's bin calls. Returns only when the server has shut down. */
export async function runMain<S extends object, C extends z.ZodObject>(
  def: ServerDefinition<S, C>,
  argv: string[] = process.argv.slice(2),
): Promise<void> {
  const anyDef = def as unknown as ServerDefinition<object, z.ZodObject>;
  let flags: ReturnType<typeof parse>;
  try {
    flags = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage(anyDef)}`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    process.stdout.write(usage(anyDef));
    return;
  }
  if (flags.version) {
    process.stdout.write(`${def.version}\n`);
    return;
  }
  const overrides: Record<string, unknown> = {};
  if (flags.stdio) overrides.transport = 'stdio';
  if (flags.http) overrides.transport = 'http';
  if (flags.port) overrides['http.port'] = flags.port;
  if (flags.host) overrides['http.host'] = flags.host;
  if (flags.policy) overrides.policyFile = flags.policy;
  let config: ReturnType<typeof loadConfig<z.ZodObject>>;
  try {
    config = loadConfig({
      backendSchema: def.backendConfig,
      backendEnv: def.backendEnv ?? {},
      file: flags.config,
      overrides,
      defaults: serverDefaults(anyDef),
    });
  } catch (err) {
    process.stderr.write(`ravenhelm-mcp-${def.name}: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (flags['print-config']) {
    process.stdout.write(`${JSON.stringify(redactConfig(config, def.secretPaths ?? []), null, 2)}\n`);
    return;
  }
  const logger = createLogger({ name: def.name, level: config.logLevel });
  // Listen for signals before starting: a SIGTERM that lands during start-up (or right after the
  // 'listening' line) must still stop the server gracefully, not kill it with the default action.
  const signalled = waitForSignal(logger, config.transport === 'stdio');
  try {
    const rt = await createRuntime(anyDef, config, logger);
    let stop: () => Promise<void>;
    if (config.transport === 'stdio') {
      const handle = await startStdio(rt);
      stop = () => handle.close();
    } else {
      if (config.auth.mode === 'none' && !LOOPBACK.has(config.http.host)) {
        throw new RavenhelmError(
          'ERR_BAD_REQUEST',
          `auth.mode none is only allowed on a loopback address, not ${config.http.host}`,
        );
      }
      const peer = await peerWiring(config, logger);
      const handle = await startHttp(rt, {
        authenticator:
          config.auth.mode === 'none'
            ? localAuthenticator(rt.localPrincipal)
            : oauthAuthenticatorFactory(config, logger),
        authorizationServers: config.auth.issuer ? [config.auth.issuer] : [],
        ...(peer.tls ? { tls: peer.tls } : {}),
        ...(peer.peer ? { peer: peer.peer } : {}),
        // before the listener accepts a connection, not after startHttp returned
        ...(peer.onServer ? { onServer: (s) => peer.onServer?.(s as import('node:https').Server) } : {}),
      });
      stop = async () => {
        await handle.shutdown();
        peer.close?.();
      };
    }
    await signalled;
    await stop();
    await rt.close();
    logger.info('stopped');
    logger.flush();
  } catch (err) {
    // Whatever was already listening (an HTTP port, stdin) must not keep the process alive half-started.
    failStart(logger, def.name, err);
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      stdio: { type: 'boolean' },
      http: { type: 'boolean' },
      host: { type: 'string' },
      port: { type: 'string' },
      config: { type: 'string' },
      policy: { type: 'string' },
      'print-config': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
    strict: true,
  }).values;
}

function waitForSignal(logger: Logger, stdio: boolean): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down: finishing in-flight calls');
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // stdio: the client closing stdin ends the session.
    if (stdio) process.stdin.once('end', () => onSignal('SIGHUP' as NodeJS.Signals));
  });
}
