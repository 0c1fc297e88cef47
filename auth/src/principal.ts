/** Who is calling, as established by authentication. Never carries the raw token. */
export interface Principal {
  /** Token subject (user or service-account id), or the configured local identity over stdio. */
  subject: string;
  clientId?: string | undefined;
  scopes: string[];
  roles: string[];
  /** SPIFFE ID verified from the TLS peer certificate (direct mTLS or a trusted proxy's header). */
  spiffeId?: string | undefined;
  /** Seconds since the epoch. */
  expiresAt?: number | undefined;
  issuer?: string | undefined;
  /** Where the identity came from. */
  source: 'oauth' | 'stdio' | 'anonymous';
}

/** What the HTTP layer knows about a request when it asks who is calling. */
export interface AuthRequest {
  /** Lower-cased header names; repeated headers keep every value. */
  headers: Record<string, string | string[] | undefined>;
  /** The request URL's query string, to refuse tokens passed there. */
  query?: URLSearchParams;
  remoteAddress?: string | undefined;
  /** The SPIFFE ID of the verified mTLS peer, already checked against the X.509-SVID rules. */
  peerSpiffeId?: string | undefined;
  /** DER of the verified peer leaf certificate, for RFC 8705 certificate-bound tokens. */
  peerCertificate?: Buffer | undefined;
}

export interface Authenticator {
  /** Resolves the principal or throws an AuthError. */
  authenticate(req: AuthRequest): Promise<Principal>;
  /** Optional readiness probe (JWKS reachable, etc.). */
  ready?(): Promise<boolean>;
  /** Like `ready`, with the reason and what to do when not ready (drives /readyz). */
  readiness?(): Promise<{ ready: boolean; reason?: string }>;
  close?(): Promise<void>;
}
