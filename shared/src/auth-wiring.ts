import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { TlsOptions } from 'node:tls';
import { type Authenticator, createOAuthAuthenticator, createSpiffeTls, peerFromRequest } from '@ravenhelm/auth';
import type { z } from 'zod';
import type { FullConfig } from './config.js';
import { RavenhelmError } from './errors.js';
import type { PeerIdentity } from './http/handler.js';
import type { Logger } from './logging.js';

/** Builds the OAuth authenticator once the resource URL (this server's public MCP URL) is known. */
export function oauthAuthenticatorFactory(
  config: FullConfig<z.ZodObject>,
): (resourceUrl: string) => Promise<Authenticator> {
  return async (resourceUrl) => {
    const { auth } = config;
    if (!auth.issuer) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        'auth.issuer is required in oauth mode (RAVENHELM_AUTH_ISSUER); for a loopback-only demo set RAVENHELM_AUTH_MODE=none',
      );
    }
    return createOAuthAuthenticator({
      issuer: auth.issuer,
      resource: resourceUrl,
      audiences: auth.audiences,
      ...(auth.jwksUri ? { jwksUri: auth.jwksUri } : {}),
      ...(auth.introspection ? { introspection: auth.introspection } : {}),
      ...(auth.projectId ? { projectId: auth.projectId } : {}),
      roleScopes: auth.roleScopes,
      ...(auth.allowedOrgIds ? { allowedOrgIds: auth.allowedOrgIds } : {}),
      spiffeBindings: auth.spiffeBindings,
    });
  };
}

/** Peer identity for the request pipeline: direct mTLS, a trusted proxy's forwarded certificate, or none. */
export interface PeerWiring {
  tls?: { options: TlsOptions; peer: (req: IncomingMessage) => Promise<PeerIdentity> };
  peer?: (req: IncomingMessage) => Promise<PeerIdentity>;
  /** Hands the HTTPS server to the SVID watcher so rotations reach new connections. */
  onServer?: (server: HttpsServer) => void;
  close?: () => void;
}

export async function peerWiring(config: FullConfig<z.ZodObject>, logger: Logger): Promise<PeerWiring> {
  const { http } = config;
  if (http.tls) {
    const spiffe = await createSpiffeTls({
      ...http.tls,
      trustDomain: http.trustDomain,
      trustedProxies: http.trustedProxies,
      onError: (err) => logger.warn({ err: err.message }, 'SVID rotation rejected; keeping the previous certificate'),
      onRotate: () => logger.info('SVID rotated'),
    });
    return { tls: { options: spiffe.options, peer: spiffe.peer }, onServer: spiffe.onServer, close: spiffe.close };
  }
  if (http.trustedProxies.length > 0) {
    if (!http.forwardedBundleFile) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        'http.trustedProxies needs http.forwardedBundleFile (RAVENHELM_FORWARDED_BUNDLE_FILE): the SPIFFE bundle forwarded certificates must chain to',
      );
    }
    const bundle = readFileSync(http.forwardedBundleFile, 'utf8');
    return {
      peer: async (req) =>
        peerFromRequest(req, { trustDomain: http.trustDomain, trustedProxies: http.trustedProxies, bundle }),
    };
  }
  return {};
}
