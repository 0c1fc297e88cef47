// The dev CA lives in ../dev (it issues SVIDs); re-exported here so the package index has one SPIFFE entry.
export {
  type CaCliIo,
  DEFAULT_PKI_DIR,
  DEV_TRUST_DOMAIN,
  DevCA,
  type IssueOptions,
  runCaCli,
  type SvidPaths,
} from '../dev/ca.js';
export {
  checkSvidMaterial,
  loadSvidFiles,
  mtlsServerOptions,
  type SvidCheckOptions,
  type SvidFiles,
  SvidFilesError,
  type SvidMaterial,
  type WatchSvidOptions,
  watchSvidFiles,
} from './files.js';
export {
  clearForwardedPeerCache,
  directPeerStats,
  FORWARDED_CACHE_MAX,
  FORWARDED_CACHE_TTL_MS,
  FORWARDED_FAILURE_TTL_MS,
  forwardedPeerCacheStats,
  isTrustedProxy,
  normalizeAddress,
  type PeerResolverOptions,
  peerFromForwardedCert,
  peerFromRequest,
  peerFromSocket,
  recordHandshakeBundle,
  type SpiffePeer,
} from './peer.js';
export { spiffeIdProblem, trustDomainOf, validateSvid } from './svid.js';
export { createSpiffeTls, type SpiffeTls, type SpiffeTlsOptions } from './tls.js';
export { parsePemCertificates } from './x509.js';
