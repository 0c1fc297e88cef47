import type { IncomingMessage } from 'node:http';
import type { TlsOptions } from 'node:tls';
import type { Authenticator } from '@ravenhelm/auth';
import type { z } from 'zod';
import type { FullConfig } from './config.js';
import { RavenhelmError } from './errors.js';
import type { PeerIdentity } from './http/handler.js';
import type { Logger } from './logging.js';

/** Builds the OAuth authenticator from config once the resource URL is known. */
export function oauthAuthenticatorFactory(
  config: FullConfig<z.ZodObject>,
  _logger: Logger,
): (resourceUrl: string) => Promise<Authenticator> {
  return async () => {
    if (!config.auth.issuer) {
      throw new RavenhelmError('ERR_BAD_REQUEST', 'auth.issuer is required in oauth mode (RAVENHELM_AUTH_ISSUER)');
    }
    throw new RavenhelmError('ERR_INTERNAL', 'oauth mode is not wired yet');
  };
}

export interface TlsWiring {
  options: TlsOptions;
  peer: (req: IncomingMessage) => Promise<PeerIdentity>;
  onServer?: (server: import('node:https').Server) => void;
  close?: () => void;
}

export async function tlsWiring(_config: FullConfig<z.ZodObject>, _logger: Logger): Promise<TlsWiring | undefined> {
  return undefined;
}
