/** Connects over TLS with SNI and reports the certificate chain the server presents. */
import {
  checkServerIdentity,
  connect,
  createSecureContext,
  type DetailedPeerCertificate,
  type PeerCertificate,
  rootCertificates,
  type SecureContext,
} from 'node:tls';
import { ToolError } from '@ravenhelm/kit';

export interface ChainEntry {
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

export interface ProbeResult {
  host: string;
  port: number;
  servername: string;
  chain: ChainEntry[];
  sans: string[];
  issuer: string;
  validTo: string;
  daysToExpiry: number;
  validates: boolean;
  /** Why the certificate does not validate: expired, self-signed, incomplete chain, wrong host... */
  reason?: string;
}

const MAX_CHAIN = 10;
const DAY_MS = 86_400_000;

const REASONS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not yet valid',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in an untrusted self-signed root',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'incomplete chain: the server does not send the intermediate certificate(s)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'incomplete chain or unknown issuer: the issuer is not sent and not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'the issuer certificate could not be found',
  INVALID_PURPOSE: 'the certificate is not usable for TLS servers (key usage or extended key usage)',
};

function name(dn: Record<string, string | string[]> | undefined): string {
  if (!dn) return '';
  const cn = dn.CN;
  if (cn) return Array.isArray(cn) ? cn.join(',') : cn;
  return Object.entries(dn)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
    .join(', ');
}

function entry(c: PeerCertificate): ChainEntry {
  return {
    subject: name(c.subject as unknown as Record<string, string>),
    issuer: name(c.issuer as unknown as Record<string, string>),
    validFrom: new Date(c.valid_from).toISOString(),
    validTo: new Date(c.valid_to).toISOString(),
    fingerprint256: c.fingerprint256,
  };
}

export class TlsProber {
  readonly #context: SecureContext | undefined;

  /**
   * `extraCa`: PEM certificates trusted besides the system roots (a private CA). The context is built
   * once, at start: parsing ~140 roots per connection costs more than the handshake itself.
   */
  constructor(
    readonly timeoutMs: number,
    extraCa?: string,
  ) {
    this.#context = extraCa ? createSecureContext({ ca: [...rootCertificates, extraCa] }) : undefined;
  }

  /**
   * `servername` is sent without a trailing dot: RFC 6066 s3 forbids one in SNI, Go's TLS server (Traefik's)
   * fails the handshake on it, and Go's own client drops it (crypto/tls hostnameInSNI); Node sends it as given.
   */
  probe(host: string, port: number, sni: string, signal: AbortSignal): Promise<ProbeResult> {
    const servername = sni.replace(/\.$/, '');
    return new Promise<ProbeResult>((resolve, reject) => {
      let settled = false;
      const socket = connect({
        host,
        port,
        servername: /^[\d.]+$|:/.test(servername) ? undefined : servername,
        rejectUnauthorized: false,
        ...(this.#context ? { secureContext: this.#context } : {}),
      });
      const finish = (err: ToolError | undefined, value?: ProbeResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve(value as ProbeResult);
      };
      const timer = setTimeout(
        () =>
          finish(
            new ToolError(
              'ERR_BACKEND_TIMEOUT',
              `no TLS handshake with ${host}:${port} within ${this.timeoutMs} ms; check the address and that it speaks TLS`,
            ),
          ),
        this.timeoutMs,
      );
      const onAbort = () => finish(new ToolError('ERR_CANCELLED', `the TLS check of ${host}:${port} was cancelled`));
      signal.addEventListener('abort', onAbort);
      socket.once('error', (err: NodeJS.ErrnoException) =>
        finish(
          new ToolError(
            'ERR_BACKEND_UNAVAILABLE',
            `cannot complete a TLS handshake with ${host}:${port} (${err.code ?? err.message}); check the host, port and that it serves TLS`,
          ),
        ),
      );
      socket.once('secureConnect', () => {
        const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate;
        if (!leaf?.raw) {
          finish(new ToolError('ERR_BACKEND_ERROR', `${host}:${port} presented no certificate`));
          return;
        }
        const chain: ChainEntry[] = [];
        let cur: DetailedPeerCertificate | undefined = leaf;
        const seen = new Set<string>();
        while (cur?.raw && chain.length < MAX_CHAIN && !seen.has(cur.fingerprint256)) {
          seen.add(cur.fingerprint256);
          chain.push(entry(cur));
          cur = cur.issuerCertificate;
        }
        const sans = (leaf.subjectaltname ?? '')
          .split(/,\s*/)
          .filter(Boolean)
          .map((s) => s.replace(/^(DNS|IP Address):/, ''));
        let reason: string | undefined;
        const code = socket.authorized ? undefined : String(socket.authorizationError ?? 'unknown');
        if (code && code !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
          reason = REASONS[code] ? `${REASONS[code]} (${code})` : code;
        } else {
          const hostErr = checkServerIdentity(servername, leaf);
          if (hostErr) reason = `the certificate does not cover ${servername}: ${hostErr.message}`;
          else if (code) reason = code;
        }
        const validTo = new Date(leaf.valid_to);
        finish(undefined, {
          host,
          port,
          servername,
          chain,
          sans,
          issuer: name(leaf.issuer as unknown as Record<string, string>),
          validTo: validTo.toISOString(),
          daysToExpiry: Math.floor((validTo.getTime() - Date.now()) / DAY_MS),
          validates: reason === undefined,
          ...(reason ? { reason } : {}),
        });
      });
    });
  }
}
