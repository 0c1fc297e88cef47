import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { loadSvidFiles, mtlsServerOptions, type SvidFiles, type SvidMaterial, watchSvidFiles } from './files.js';
import { peerFromRequest, recordHandshakeBundle, recordUnknownHandshake, type SpiffePeer } from './peer.js';

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
  // What the server's TLS context holds (what handshakes are verified against), and when it last changed.
  let context = material;
  let contextChangedAt = Number.NEGATIVE_INFINITY;
  const apply = (s: Server, m: SvidMaterial): boolean => {
    try {
      s.setSecureContext(mtlsServerOptions(m));
    } catch (err) {
      opts.onError(new Error(`applying the rotated SVID failed: ${(err as Error).message}`));
      return false;
    }
    // SVIDs rotate often (every half-life), bundles rarely: only a new bundle makes recent handshakes ambiguous.
    if (m.ca !== context.ca) contextChangedAt = Date.now();
    context = m;
    return true;
  };
  const watcher = watchSvidFiles({
    ...files,
    trustDomain: opts.trustDomain,
    ...(opts.debounceMs === undefined ? {} : { debounceMs: opts.debounceMs }),
    onChange: (m) => {
      // Without a server yet, the rotation waits for onServer (which applies it); peer() checks against it now.
      if (server && !apply(server, m)) return;
      material = m;
      opts.onRotate?.(m);
    },
    onError: opts.onError,
  });
  return {
    // The handshake timeout is Node's default, stated: it bounds how long after a rotation a handshake may
    // complete that began under the previous context (see 'secureConnection' below).
    options: { ...mtlsServerOptions(material), handshakeTimeout: HANDSHAKE_TIMEOUT_MS },
    peer: async (req) => {
      // A connection accepted before onServer has no record: its chain is checked against the bundle in force.
      recordUnknownHandshake(req.socket as TLSSocket);
      return peerFromRequest(req, {
        trustDomain: opts.trustDomain,
        trustedProxies: opts.trustedProxies,
        bundle: material.ca,
      });
    },
    onServer: (s) => {
      server = s;
      // A rotation that came before the server was known has not reached its TLS context yet.
      if (material !== context) apply(s, material);
      // The bundle each connection was verified against, so a rotation reaches connections opened before it.
      // The context is chosen when the connection is accepted, not when its handshake completes: a handshake
      // that may have begun before the last change is marked unknown (verified again at its first request).
      s.on('secureConnection', (socket) => {
        if (Date.now() - contextChangedAt <= HANDSHAKE_TIMEOUT_MS) recordUnknownHandshake(socket, true);
        else recordHandshakeBundle(socket, context.ca);
      });
    },
    close: () => watcher.close(),
  };
}

/** Node's default TLS handshake timeout. */
const HANDSHAKE_TIMEOUT_MS = 120_000;
