import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { TlsOptions } from 'node:tls';
import {
  type Authenticator,
  createOAuthAuthenticator,
  createSpiffeTls,
  type IssuerProblemEvent,
  parsePemCertificates,
  peerFromRequest,
} from '@ravenhelm/auth';
import type { z } from 'zod';
import type { FullConfig } from './config.js';
import { RavenhelmError } from './errors.js';
import type { PeerIdentity } from './http/handler.js';
import type { Logger } from './logging.js';

/** The environment variable an operator sets for each setting the authenticator names. */
const SETTING_ENV: Record<Extract<IssuerProblemEvent, { state: 'failing' }>['setting'], string> = {
  issuer: 'RAVENHELM_AUTH_ISSUER',
  jwksUri: 'RAVENHELM_AUTH_JWKS_URI',
  'introspection.endpoint': 'RAVENHELM_AUTH_ISSUER',
  'introspection.credentials':
    'RAVENHELM_INTROSPECTION_CLIENT_ID / RAVENHELM_INTROSPECTION_CLIENT_SECRET (or RAVENHELM_INTROSPECTION_KEY_FILE)',
};

/**
 * Logs why tokens cannot be checked (the authenticator throttles: once per reason, again every minute while
 * it lasts with the count of refusals in between, once on recovery). A wrong setting is an error, an issuer
 * outage a warning. The detail holds public URLs and statuses only; tokens and secrets never reach it.
 */
export function logIssuerProblem(logger: Logger, issuer: string, event: IssuerProblemEvent): void {
  if (event.state === 'recovered') {
    logger.info({ issuer, reason: event.reason }, 'token issuer checks work again');
    return;
  }
  const fields = {
    issuer,
    reason: event.reason,
    retryable: event.kind === 'unreachable',
    setting: SETTING_ENV[event.setting],
    refusedSinceLastReport: event.suppressed,
  };
  const say = `${event.detail}; ${event.action}`;
  if (event.kind === 'misconfigured') {
    logger.error(fields, `tokens cannot be checked: the issuer configuration is wrong (${fields.setting}): ${say}`);
  } else {
    logger.warn(fields, `tokens cannot be checked: the token issuer cannot be reached: ${say}`);
  }
}

/** Builds the OAuth authenticator once the resource URL (this server's public MCP URL) is known. */
export function oauthAuthenticatorFactory(
  config: FullConfig<z.ZodObject>,
  logger?: Logger,
): (resourceUrl: string) => Promise<Authenticator> {
  return async (resourceUrl) => {
    const { auth } = config;
    const issuer = auth.issuer;
    if (!issuer) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        'auth.issuer is required in oauth mode (RAVENHELM_AUTH_ISSUER); for a loopback-only demo set RAVENHELM_AUTH_MODE=none',
      );
    }
    return createOAuthAuthenticator(
      {
        issuer,
        resource: resourceUrl,
        audiences: auth.audiences,
        ...(auth.jwksUri ? { jwksUri: auth.jwksUri } : {}),
        ...(auth.jwksCacheMaxAgeSeconds ? { jwksCacheMaxAgeSeconds: auth.jwksCacheMaxAgeSeconds } : {}),
        ...(auth.introspection ? { introspection: auth.introspection } : {}),
        ...(auth.projectId ? { projectId: auth.projectId } : {}),
        roleScopes: auth.roleScopes,
        ...(auth.allowedOrgIds ? { allowedOrgIds: auth.allowedOrgIds } : {}),
        spiffeBindings: auth.spiffeBindings,
      },
      logger ? { onIssuerProblem: (event) => logIssuerProblem(logger, issuer, event) } : {},
    );
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
    const bundle = watchTrustBundle(http.forwardedBundleFile, logger);
    return {
      peer: async (req) =>
        peerFromRequest(req, {
          trustDomain: http.trustDomain,
          trustedProxies: http.trustedProxies,
          bundle: bundle.current(),
        }),
      close: bundle.close,
    };
  }
  return {};
}

/**
 * The trust bundle forwarded certificates must chain to, read again when its file changes: SPIRE rotates its CA
 * (every day by default) and spiffe-helper rewrites the bundle file, so a bundle read once at start would refuse
 * every forwarded certificate after the first rotation until a restart. The file is polled (`fs.watchFile`, which
 * also sees a file replaced by a rename); a change that does not read as a complete PEM bundle is logged and the
 * previous bundle kept. At start, an unreadable or invalid file stops the server, naming the setting.
 */
export function watchTrustBundle(
  file: string,
  logger: Logger,
  intervalMs = 5_000,
): { current(): string; close(): void } {
  const read = () => {
    const pem = readFileSync(file, 'utf8');
    parsePemCertificates(pem, `http.forwardedBundleFile (RAVENHELM_FORWARDED_BUNDLE_FILE) ${file}`);
    return pem;
  };
  let bundle: string;
  try {
    bundle = read();
  } catch (err) {
    throw new RavenhelmError(
      'ERR_BAD_REQUEST',
      `cannot use the forwarded-certificate trust bundle: ${(err as Error).message}; point RAVENHELM_FORWARDED_BUNDLE_FILE at the PEM bundle of the trust domain`,
    );
  }
  const changed = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    try {
      const next = read();
      if (next === bundle) return;
      bundle = next;
      logger.info({ file }, 'forwarded-certificate trust bundle reloaded');
    } catch (err) {
      logger.warn(
        { file, err: (err as Error).message },
        'forwarded-certificate trust bundle changed but does not read as a bundle; keeping the previous one',
      );
    }
  };
  watchFile(file, { persistent: false, interval: intervalMs }, changed);
  return { current: () => bundle, close: () => unwatchFile(file, changed) };
}
