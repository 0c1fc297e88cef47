import { constants, createPrivateKey, createPublicKey, type X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { TlsOptions } from 'node:tls';
import { validateSvid } from './svid.js';
import { parsePemCertificates, verifyChain } from './x509.js';

/** Where spiffe-helper (or the dev CA) writes an X.509-SVID. */
export interface SvidFiles {
  /** PEM: the leaf SVID first, then any intermediates (spiffe-helper's svid.pem). */
  certFile: string;
  /** PEM private key for the leaf (svid_key.pem). */
  keyFile: string;
  /** PEM trust bundle: the CA certificates peers must chain to (svid_bundle.pem). */
  bundleFile: string;
}

/** PEM strings ready for node:tls: cert chain, private key, trust bundle. */
export interface SvidMaterial {
  cert: string;
  key: string;
  ca: string;
}

export interface SvidCheckOptions {
  /** When set, the own SVID must also be a valid X.509-SVID in this trust domain. */
  trustDomain?: string | undefined;
  /** Clock for the validity check; defaults to now. */
  now?: Date | undefined;
}

/** A problem with the local SVID files. Never carries key material. */
export class SvidFilesError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SvidFilesError';
  }
}

function spki(key: import('node:crypto').KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/**
 * Checks that a cert/key/bundle set belongs together: the key is the private half of the leaf,
 * the leaf chains to a bundle CA (through intermediates in the cert PEM) and is currently valid,
 * and (with `trustDomain`) the leaf is a valid X.509-SVID. Returns the parsed leaf.
 * @throws SvidFilesError with the reason (never the key)
 */
export function checkSvidMaterial(m: SvidMaterial, opts: SvidCheckOptions = {}): X509Certificate {
  try {
    const chain = parsePemCertificates(m.cert, 'certificate file');
    const roots = parsePemCertificates(m.ca, 'bundle file');
    const leaf = chain[0] as X509Certificate;
    let privateKey: import('node:crypto').KeyObject;
    try {
      privateKey = createPrivateKey(m.key);
    } catch {
      // OpenSSL's message is not echoed: keep anything derived from the key out of errors.
      throw new Error('key file: not a readable PEM private key (truncated, encrypted or wrong format)');
    }
    if (!spki(createPublicKey(privateKey)).equals(spki(leaf.publicKey))) {
      throw new Error('key file does not match the certificate');
    }
    // Our own chain is verified again by every peer's TLS stack (OpenSSL): name-constraint forms we do not
    // evaluate are left to it, rather than refusing to start over constraints OpenSSL may well accept.
    verifyChain(leaf, chain.slice(1), roots, opts.now ?? new Date(), { otherNameForms: 'leave' });
    if (opts.trustDomain !== undefined) validateSvid(leaf, { trustDomain: opts.trustDomain });
    return leaf;
  } catch (err) {
    throw new SvidFilesError(`SVID files rejected: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads the three SVID files and checks them with checkSvidMaterial.
 * @throws SvidFilesError (unreadable file, key mismatch, broken chain, expired, ...)
 */
export async function loadSvidFiles(files: SvidFiles, opts: SvidCheckOptions = {}): Promise<SvidMaterial> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new SvidFilesError(
        `SVID files rejected: cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        {
          cause: err,
        },
      );
    }
  };
  const [cert, key, ca] = await Promise.all([
    read(files.certFile, 'certificate file'),
    read(files.keyFile, 'key file'),
    read(files.bundleFile, 'bundle file'),
  ]);
  const material = { cert, key, ca };
  checkSvidMaterial(material, opts);
  return material;
}

/**
 * TLS server options for direct mTLS with an X.509-SVID: present our SVID, ask every client
 * for a certificate and verify it against the SPIFFE bundle only (not the system roots).
 *
 * `rejectUnauthorized` is false on purpose: a client whose certificate fails verification
 * still completes the handshake, so the HTTP layer can answer 401 with a clear reason instead
 * of an opaque TLS alert. That makes peerFromSocket (which throws for such sockets) mandatory
 * on every request; never use these options without it.
 */
export function mtlsServerOptions(material: SvidMaterial, overrides: TlsOptions = {}): TlsOptions {
  return {
    minVersion: 'TLSv1.2',
    ...overrides,
    // TLS 1.2 renegotiation: the caller's identity is read once per connection, so a renegotiated handshake
    // (another client certificate, and a full handshake's CPU each time) is refused; TLS 1.3 has none.
    secureOptions: (overrides.secureOptions ?? 0) | constants.SSL_OP_NO_RENEGOTIATION,
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    requestCert: true,
    rejectUnauthorized: false,
  };
}

export interface WatchSvidOptions extends SvidFiles, SvidCheckOptions {
  /** Quiet time after the last file event before re-reading (spiffe-helper writes 3 files). */
  debounceMs?: number;
  /** A new, fully valid set: typically `server.setSecureContext(opts)`. */
  onChange: (material: SvidMaterial) => void;
  /** A set that failed to load; the previous one stays in use. */
  onError: (err: Error) => void;
}

/**
 * Watches the SVID files (and their directories, since a writer may replace files by rename)
 * and calls onChange with the re-read set once it is complete and valid: key matches, chains to
 * the bundle, currently valid. A half-written or invalid set calls onError and changes nothing;
 * the next file event tries again. Unchanged content does not call onChange.
 */
export function watchSvidFiles(opts: WatchSvidOptions): { close(): void } {
  const debounceMs = opts.debounceMs ?? 200;
  const paths = [opts.certFile, opts.keyFile, opts.bundleFile].map((p) => resolve(p));
  const names = new Set(paths.map((p) => basename(p)));
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let loading = false;
  let again = false;
  let last: string | undefined;

  const reload = async () => {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      const material = await loadSvidFiles(opts, opts);
      const fingerprint = JSON.stringify([material.cert, material.key, material.ca]);
      if (!closed && fingerprint !== last) {
        last = fingerprint;
        opts.onChange(material);
      }
    } catch (err) {
      if (!closed) opts.onError(err as Error);
    } finally {
      loading = false;
      if (again && !closed) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void reload();
    }, debounceMs);
  };
  const onError = (err: Error) => {
    if (!closed) opts.onError(new SvidFilesError(`watching SVID files failed: ${err.message}`, { cause: err }));
  };

  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    const w = watch(dir, { persistent: false }, (_event, filename) => {
      if (filename === null || names.has(filename.toString())) schedule();
    });
    w.on('error', onError);
    watchers.push(w);
  }
  for (const p of paths) {
    try {
      const w = watch(p, { persistent: false }, () => schedule());
      // A replaced file ends this watcher; the directory watcher still sees its successor.
      w.on('error', () => w.close());
      watchers.push(w);
    } catch {
      // The file may not exist yet; the directory watcher covers its creation.
    }
  }
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
