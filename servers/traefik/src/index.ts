import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  type AnyTool,
  type BackendRecorder,
  commaSeparated,
  defineServer,
  type Logger,
  RavenhelmError,
  specsOf,
} from '@ravenhelm/kit';
import { z } from 'zod';
import { TraefikApi } from './backend.js';
import { RouteFiles } from './route-files.js';
import { TlsProber } from './tls-probe.js';
import { certificateTools, PROBE_TARGET } from './tools/certificates.js';
import type { TraefikServices } from './tools/define.js';
import { requestsDiagnose } from './tools/diagnose.js';
import { labelsGenerate } from './tools/labels.js';
import { readTools } from './tools/read.js';
import { ROUTE_HOST } from './tools/route-guard.js';
import { routeTools } from './tools/routes.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Every tool of the Traefik server, in the order tools/list shows them. */
export const tools: readonly AnyTool<TraefikServices>[] = [
  ...readTools,
  requestsDiagnose,
  ...certificateTools,
  ...routeTools,
  labelsGenerate,
];

const ms = (def: number, max: number) => z.coerce.number().int().min(100).max(max).default(def);

export const TraefikBackendConfig = z.object({
  api: z
    .object({
      url: z
        .string()
        .url()
        .default('http://127.0.0.1:8080')
        .describe("Traefik's API (api.insecure or a router to api@internal)"),
      timeoutMs: ms(10_000, 120_000).describe('Per-call timeout for the Traefik API'),
      basicAuthFile: z
        .string()
        .min(1)
        .optional()
        .describe('File holding "user:password" for an API behind basicAuth (read at start, never logged)'),
    })
    .prefault({}),
  dynamicDir: z.string().min(1).optional().describe("The file provider's directory; route changes are off without it"),
  routeHostsAllow: commaSeparated(z.array(z.string().regex(ROUTE_HOST, 'must be host or *.domain')).max(200))
    .default([])
    .describe('The hosts routes_apply may route: host or *.domain (comma-separated); empty: any host'),
  loadTimeoutMs: ms(15_000, 120_000).describe('How long a route change waits for Traefik to load it'),
  tls: z
    .object({
      address: z
        .string()
        .optional()
        .describe("host:port of Traefik's TLS entrypoint for sweeps (default: API host:443)"),
      caFile: z.string().optional().describe('PEM file of extra trusted CAs (a private CA)'),
      timeoutMs: ms(5_000, 60_000).describe('TLS handshake timeout'),
      sweepBudgetMs: ms(20_000, 600_000).describe('A sweep starts no new probe after this long'),
      probeAllow: commaSeparated(
        z.array(z.string().regex(PROBE_TARGET, 'must be host, host:port, *.domain or *.domain:port')).max(200),
      )
        .default([])
        .describe(
          "Where else certificates_inspect may connect, besides the TLS address and the routers' host names on 443 (comma-separated)",
        ),
    })
    .prefault({}),
});

export type TraefikBackendConfig = z.output<typeof TraefikBackendConfig>;

function readFileOrFail(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new RavenhelmError('ERR_BAD_REQUEST', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code}`);
  }
}

export function parseHostPort(text: string, defaultPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$|^([^:]+)(?::(\d+))?$/.exec(text.trim());
  if (!m) throw new RavenhelmError('ERR_BAD_REQUEST', `${text} is not host:port`);
  const port = Number(m[2] ?? m[4] ?? defaultPort);
  if (!(port > 0 && port < 65536)) throw new RavenhelmError('ERR_BAD_REQUEST', `${text} has an invalid port`);
  return { host: (m[1] ?? m[3]) as string, port };
}

export function createTraefikServices(
  config: TraefikBackendConfig,
  metrics?: BackendRecorder,
  logger?: Logger,
): TraefikServices {
  if (config.dynamicDir && config.routeHostsAllow.length === 0) {
    logger?.warn(
      { dynamicDir: config.dynamicDir },
      'routes_apply may route any host name (no TRAEFIK_ROUTE_HOSTS_ALLOW): set it to the hosts this server may claim, as host or *.domain, comma-separated',
    );
  }
  let basic: { username: string; password: string } | undefined;
  if (config.api.basicAuthFile) {
    const line = readFileOrFail(config.api.basicAuthFile, 'the basic-auth file').trim();
    const i = line.indexOf(':');
    if (i < 1) throw new RavenhelmError('ERR_BAD_REQUEST', 'the basic-auth file must hold "user:password"');
    basic = { username: line.slice(0, i), password: line.slice(i + 1) };
  }
  const apiHost = new URL(config.api.url).hostname.replace(/^\[|\]$/g, '');
  return {
    api: new TraefikApi({ url: config.api.url, timeoutMs: config.api.timeoutMs, basic, metrics }),
    files: config.dynamicDir ? new RouteFiles(config.dynamicDir) : undefined,
    tls: new TlsProber(
      config.tls.timeoutMs,
      config.tls.caFile ? readFileOrFail(config.tls.caFile, 'the CA file') : undefined,
    ),
    tlsAddress: config.tls.address ? parseHostPort(config.tls.address, 443) : { host: apiHost, port: 443 },
    loadTimeoutMs: config.loadTimeoutMs,
    sweepBudgetMs: config.tls.sweepBudgetMs,
    probeAllow: config.tls.probeAllow.map((t) => t.toLowerCase()),
    routeHostsAllow: config.routeHostsAllow.map((h) => h.toLowerCase()),
  };
}

export const traefikServer = defineServer({
  name: 'traefik',
  version,
  defaultPort: 8705,
  description: 'Traefik: routers, services, middlewares, request diagnosis, certificates, file-provider routes',
  tools,
  /** What on-call asks first; the rest is one toolsets_enable away (RAVENHELM_TOOLSETS=default). */
  defaultToolsets: ['overview', 'routers', 'services', 'middlewares', 'entrypoints', 'certificates', 'requests'],
  backendConfig: TraefikBackendConfig,
  backendEnv: {
    TRAEFIK_API_URL: 'api.url',
    TRAEFIK_API_TIMEOUT_MS: 'api.timeoutMs',
    TRAEFIK_API_BASIC_AUTH_FILE: 'api.basicAuthFile',
    TRAEFIK_DYNAMIC_DIR: 'dynamicDir',
    TRAEFIK_LOAD_TIMEOUT_MS: 'loadTimeoutMs',
    TRAEFIK_ROUTE_HOSTS_ALLOW: 'routeHostsAllow',
    TRAEFIK_TLS_ADDRESS: 'tls.address',
    TRAEFIK_TLS_CA_FILE: 'tls.caFile',
    TRAEFIK_TLS_TIMEOUT_MS: 'tls.timeoutMs',
    TRAEFIK_TLS_SWEEP_BUDGET_MS: 'tls.sweepBudgetMs',
    TRAEFIK_TLS_PROBE_ALLOW: 'tls.probeAllow',
  },
  createServices: (config, { metrics, logger }) => createTraefikServices(config, metrics, logger),
  ready: async ({ api }, signal) => {
    await api.get('api/overview', {}, signal);
  },
});

/** The registry's view of this server's tools: read by the registry CLI, docs and snapshots. */
export const toolSpecs = specsOf(traefikServer);

export { TraefikApi } from './backend.js';
export { OWNER_MARKER, RouteFiles } from './route-files.js';
export { matchRule, requestOf } from './rules/matcher.js';
export { hostsOf, parseRule, RuleError } from './rules/parser.js';
export { TlsProber } from './tls-probe.js';
export type { TraefikServices } from './tools/define.js';
