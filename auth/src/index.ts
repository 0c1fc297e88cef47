export { DEFAULT_DEV_USERS, DEV_APPROVER_SCOPE, type DevOAuthClient } from './dev/authorize.js';
export {
  type DynamicClientsOptions,
  MAX_DYNAMIC_CLIENTS,
  type RegisteredClient,
  redirectUriMatches,
} from './dev/dynamic.js';
export {
  DEFAULT_DEV_ISSUER_PORT,
  DEFAULT_DEV_STATE_DIR,
  DEV_ORG_ID,
  DEV_PROJECT_ID,
  DevIssuer,
  type DevListenOptions,
  type MintOptions,
  type MintTokenOptions,
} from './dev/issuer.js';
export { type IssuerCliIo, runIssuerCli } from './dev/issuer-cli.js';
export { DEFAULT_REFRESH_TOKEN_TTL_SECONDS } from './dev/refresh.js';
export { AUTH_ERROR_CODES, AuthError, type AuthErrorCode, type AuthErrorOptions, isAuthError } from './errors.js';
export {
  createOAuthAuthenticator,
  type OAuthAuthenticator,
  OAuthConfigError,
  parseOAuthConfig,
} from './oauth/authenticator.js';
export { extractBearerToken } from './oauth/bearer.js';
export { type CappedBodyOptions, ResponseTooLarge, readCappedBody } from './oauth/bounded-fetch.js';
export {
  certificateThumbprint,
  isScopeToken,
  parseScopes,
  parseZitadelRoles,
  scopesFromRoles,
  spiffePatternMatches,
  zitadelRolesClaim,
} from './oauth/claims.js';
export {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  INTROSPECTION_AUTH_METHODS,
  namedRecord,
  type OAuthConfig,
  OAuthConfigSchema,
  type ResolvedOAuthConfig,
} from './oauth/config.js';
export type { IssuerProblem, IssuerProblemEvent, IssuerProblemHooks } from './oauth/issuer-problems.js';
export type { Authenticator, AuthRequest, Principal } from './principal.js';
export {
  type CaCliIo,
  checkSvidMaterial,
  clearForwardedPeerCache,
  createSpiffeTls,
  DEFAULT_PKI_DIR,
  DEV_TRUST_DOMAIN,
  DevCA,
  directPeerStats,
  FORWARDED_CACHE_MAX,
  FORWARDED_CACHE_TTL_MS,
  FORWARDED_FAILURE_TTL_MS,
  forwardedPeerCacheStats,
  type IssueOptions,
  isTrustedProxy,
  loadSvidFiles,
  mtlsServerOptions,
  normalizeAddress,
  type PeerResolverOptions,
  parsePemCertificates,
  peerFromForwardedCert,
  peerFromRequest,
  peerFromSocket,
  recordHandshakeBundle,
  runCaCli,
  type SpiffePeer,
  type SpiffeTls,
  type SpiffeTlsOptions,
  type SvidCheckOptions,
  type SvidFiles,
  SvidFilesError,
  type SvidMaterial,
  type SvidPaths,
  spiffeIdProblem,
  trustDomainOf,
  validateSvid,
  type WatchSvidOptions,
  watchSvidFiles,
} from './spiffe/index.js';
