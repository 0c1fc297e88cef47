/**
 * Redis over TLS with a private CA and a client certificate: the files, read and checked, and the words
 * an operator acts on when a TLS connect fails. The files are read again before every connect, so a
 * certificate rotated by cert-manager or spiffe-helper is used from the next reconnect on.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { RavenhelmError } from '../errors.js';

/** Where the TLS material for Redis lives (config `redis.tls.*`). */
export interface RedisTlsFiles {
  /** PEM bundle of the CA(s) that sign the Redis server certificate; default: the system CA store. */
  caFile?: string | undefined;
  /** PEM client certificate (with its chain) for servers with `tls-auth-clients yes`; needs keyFile. */
  certFile?: string | undefined;
  /** PEM private key of certFile. Its content is a secret: never logged, never in a message. */
  keyFile?: string | undefined;
  /** The name to send (SNI) and to verify the server certificate against, when the URL names an IP. */
  serverName?: string | undefined;
}

export const REDIS_TLS_ENV = {
  caFile: 'RAVENHELM_REDIS_TLS_CA_FILE',
  certFile: 'RAVENHELM_REDIS_TLS_CERT_FILE',
  keyFile: 'RAVENHELM_REDIS_TLS_KEY_FILE',
  serverName: 'RAVENHELM_REDIS_TLS_SERVER_NAME',
} as const;

export function hasRedisTls(files: RedisTlsFiles | undefined): files is RedisTlsFiles {
  return Boolean(files && (files.caFile || files.certFile || files.keyFile || files.serverName));
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function bad(setting: keyof typeof REDIS_TLS_ENV, file: string, what: string): RavenhelmError {
  return new RavenhelmError('ERR_BAD_REQUEST', `${REDIS_TLS_ENV[setting]} (redis.tls.${setting}) ${file}${what}`);
}

function readPem(setting: keyof typeof REDIS_TLS_ENV, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw bad(setting, file, ` cannot be read (${code}): mount the file there or fix the path`);
  }
}

/** The certificates of a PEM text; throws, without the content, when there is none or one does not parse. */
function certificates(setting: 'caFile' | 'certFile', file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw bad(setting, file, ' holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw bad(setting, file, ` has a certificate (number ${i + 1}) that does not parse`);
    }
  });
}

/**
 * Reads and checks the TLS files: each CA and client certificate parses, the key parses and belongs to
 * the client certificate. Throws ERR_BAD_REQUEST naming the setting and the file, never their content.
 */
export function readRedisTls(files: RedisTlsFiles): ConnectionOptions {
  const out: ConnectionOptions = {};
  if (files.caFile) {
    const pem = readPem('caFile', files.caFile);
    certificates('caFile', files.caFile, pem);
    out.ca = pem;
  }
  if (files.certFile || files.keyFile) {
    if (!files.certFile || !files.keyFile) {
      throw new RavenhelmError(
        'ERR_BAD_REQUEST',
        'RAVENHELM_REDIS_TLS_CERT_FILE and RAVENHELM_REDIS_TLS_KEY_FILE (redis.tls.certFile, redis.tls.keyFile) go together: set both, or neither',
      );
    }
    const cert = readPem('certFile', files.certFile);
    const [leaf] = certificates('certFile', files.certFile, cert);
    const key = readPem('keyFile', files.keyFile);
    let privateKey: ReturnType<typeof createPrivateKey>;
    try {
      privateKey = createPrivateKey(key);
    } catch {
      throw bad('keyFile', files.keyFile, ' is not a PEM private key');
    }
    if (!leaf?.checkPrivateKey(privateKey)) {
      throw bad(
        'keyFile',
        files.keyFile,
        ` does not belong to the certificate in ${files.certFile}: mount the key issued with that certificate (a rotation half written? both files come from one Secret)`,
      );
    }
    out.cert = cert;
    out.key = key;
  }
  if (files.serverName) out.servername = files.serverName;
  return out;
}

/**
 * The TLS options for each connect: read now (a bad file is a startup error), then read again before
 * every later connect. A read that fails later (a rotation half written: the key of the new certificate
 * not there yet) keeps the last good options, and the next connect tries again.
 */
export function redisTlsSource(files: RedisTlsFiles): () => ConnectionOptions {
  let good = readRedisTls(files);
  return () => {
    try {
      good = readRedisTls(files);
    } catch {
      // keep the last good pair
    }
    return good;
  };
}

/** OpenSSL's verification codes for a server certificate no trusted CA signed. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** What the latest connect attempt got to: whether its TLS handshake completed; through Sentinel, where to and how it failed. */
export interface TlsAttempt {
  secure: boolean;
  /** `rediss://host:port` of the sentinel or master tried last (Sentinel only). */
  where?: string;
  /** Its first error (Sentinel only: ioredis reports a sentinel's as "Connection is closed."). */
  err?: Error;
}

/**
 * Why a connect to `where` failed, in the words an operator acts on, when the cause is TLS or a scheme
 * that does not match the port; undefined when it is something else.
 */
export function describeTlsFailure(
  err: unknown,
  where: string,
  files: RedisTlsFiles | undefined,
  attempt: TlsAttempt,
): string | undefined {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const msg = typeof e?.message === 'string' ? e.message : '';
  const tls = /^rediss:/i.test(where);
  if (!tls) {
    // A TLS port drops a plaintext client at its first bytes.
    if (/^(ECONNRESET|EPIPE)$/.test(code) || /^Connection is closed|^Protocol error/.test(msg)) {
      return `${where} closed the connection before answering (${code || msg}): if Redis serves TLS on this port (tls-port), use rediss:// in RAVENHELM_REDIS_URL (with RAVENHELM_REDIS_TLS_CA_FILE for a private CA)`;
    }
    return undefined;
  }
  if (UNTRUSTED.has(code)) {
    const by = files?.caFile ? `RAVENHELM_REDIS_TLS_CA_FILE (${files.caFile})` : 'the system CA store';
    return `the certificate of ${where} is not trusted by ${by} (${code}): set RAVENHELM_REDIS_TLS_CA_FILE to the CA that signed the Redis server certificate (cert-manager: ca.crt of its Secret)`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the certificate of ${where} does not name the host it was reached by (ERR_TLS_CERT_ALTNAME_INVALID: ${msg}): set RAVENHELM_REDIS_TLS_SERVER_NAME to a name the certificate holds, or add the host to its subjectAltName`;
  }
  if (code === 'INVALID_PURPOSE') {
    return `the certificate of ${where} is not a TLS server certificate (INVALID_PURPOSE: ${msg}): its key usage and extended key usage must allow serverAuth (a CA certificate mounted as the server's?)`;
  }
  if (/^CERT_(HAS_EXPIRED|NOT_YET_VALID)$/.test(code)) {
    return `the certificate of ${where} is outside its validity period (${code}): renew it (or check this host's clock)`;
  }
  // The server refuses our client certificate, or the lack of one: an alert during the handshake, or (TLS
  // 1.3, where the client finishes first) a reset just after it.
  if (/_ALERT_/.test(code) || (attempt.secure && /^(ECONNRESET|EPIPE)$/.test(code))) {
    return files?.certFile
      ? `${where} refused the client certificate in RAVENHELM_REDIS_TLS_CERT_FILE (${files.certFile}) (${code}): it must be signed by a CA in the server's tls-ca-cert-file and be valid now`
      : `${where} closed the connection after the TLS handshake (${code}): it requires a client certificate (tls-auth-clients yes): set RAVENHELM_REDIS_TLS_CERT_FILE and RAVENHELM_REDIS_TLS_KEY_FILE`;
  }
  if (
    !attempt.secure &&
    (/^(ETIMEDOUT|ECONNRESET|EPROTO)$/.test(code) || /wrong version number|packet length/i.test(msg))
  ) {
    return `no TLS handshake with ${where} (${code || msg}): if Redis serves plain connections on this port, use redis:// in RAVENHELM_REDIS_URL`;
  }
  return undefined;
}
