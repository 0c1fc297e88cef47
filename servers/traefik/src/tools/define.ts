import { createToolDefiner } from '@ravenhelm/kit';
import type { TraefikApi } from '../backend.js';
import type { RouteFiles } from '../route-files.js';
import type { TlsProber } from '../tls-probe.js';

/** What every Traefik tool handler receives besides the base context. */
export interface TraefikServices {
  api: TraefikApi;
  /** The file provider's directory, when configured (route changes need it). */
  files: RouteFiles | undefined;
  tls: TlsProber;
  /** Where Traefik's TLS entrypoint listens (host:port): certificate sweeps connect here with each SNI. */
  tlsAddress: { host: string; port: number };
  /**
   * Where else certificates_inspect may connect (tls.probeAllow): `host` (any port), `host:port`,
   * `*.domain` or `*.domain:port`. Besides these: the TLS address, and the names Traefik's routers serve.
   */
  probeAllow: readonly string[];
  /**
   * The hosts routes_apply may route (routeHostsAllow): `host` or `*.domain`, lower case; empty: any host
   * (the server warns at start).
   */
  routeHostsAllow: readonly string[];
  /** How long a route change waits for Traefik to load it. */
  loadTimeoutMs: number;
  /** A certificate sweep starts no new probe after this long (keep it under the call timeout). */
  sweepBudgetMs: number;
}

// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<TraefikServices>> = createToolDefiner<TraefikServices>();
