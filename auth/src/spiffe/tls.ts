import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { TlsOptions } from 'node:tls';
import { loadSvidFiles, mtlsServerOptions, type SvidFiles, type SvidMaterial, watchSvidFiles } from './files.js';
import { peerFromRequest, recordHandshakeBundle, type SpiffePeer } from './peer.js';

export interface SpiffeTlsOptions extends SvidFiles {
  trustDomain: string;
  /** Proxies whose X-Forwarded-Tls-Client-Cert header is believed (checked against the same bundle). */
  trustedProxies?: readonly string[] | undefined;
  debounceMs?: number | undefined;
  /** A rejected rotation (the previous SVID stays in use). Never receives key material. */
  onError: (err: Error) => void;
  /** A rotation that was applied. */
  onRotate?: ((material: SvidMaterial) => void) | undefined;
}

/** Everything an HTTPS server needs for SPIFFE mTLS; structurally the kit's TlsWiring. */
export interface SpiffeTls {
  options: TlsOptions;
  peer: (req: IncomingMessage) => Promise<SpiffePeer>;
  /** Give it the server once created: rotations then go to server.setSecureContext. */
  onServer: (server: Server) => void;
  close: () => void;
}

/**
 * Loads and checks the SVID files, returns the mTLS server options and a per-request peer
 * resolver (direct client certificate, or a trusted proxy's forwarded certificate), and keeps
 * the server's certificate and trust bundle current as the files rotate.
 * @throws SvidFilesError when the initial files are missing or invalid
 */
export async function createSpiffeTls(opts: SpiffeTlsOptions): Promise<SpiffeTls> {
  const files = { certFile: opts.certFile, keyFile: opts.keyFile, bundleFile: opts.bundleFile };
  let material = await loadSvidFiles(files, { trustDomain: opts.trustDomain });
  let server: Server | undefined;
  const watcher = watchSvidFiles({
    ...files,
    trustDomain: opts.trustDomain,
    ...(opts.debounceMs === undefined ? {} : { debounceMs: opts.debounceMs }),
    onChange: (m) => {
      try {
        server?.setSecureContext(mtlsServerOptions(m));
      } catch (err) {
        opts.onError(new Error(`applying the rotated SVID failed: ${(err as Error).message}`));
        return;
      }
      material = m;
      opts.onRotate?.(m);
    },
    onError: opts.onError,
  });
  return {
    options: mtlsServerOptions(material),
    peer: async (req) =>
      peerFromRequest(req, {
        trustDomain: opts.trustDomain,
        trustedProxies: opts.trustedProxies,
        bundle: material.ca,
      }),
    onServer: (s) => {
      server = s;
      // The bundle each connection was verified against, so a rotation reaches connections opened before it.
      s.on('secureConnection', (socket) => recordHandshakeBundle(socket, material.ca));
    },
    close: () => watcher.close(),
  };
}
