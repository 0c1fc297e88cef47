import { describe, expect, it } from 'vitest';
import { describeTlsFailure } from './redis-tls.js';

const err = (code: string, message = code) => Object.assign(new Error(message), { code });
const WHERE = 'rediss://10.0.0.7:6380';
const files = { caFile: '/tls/ca.crt', certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' };

// The codes the live tests (test/kit/redis-tls*.test.ts) cannot provoke with redis-server here: a server
// that sends only its leaf, a self-signed leaf, the TLS alerts of other servers, a plaintext answer to a hello.
describe('describeTlsFailure', () => {
  it('names the CA file for every "not trusted" verification code', () => {
    for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED']) {
      expect(describeTlsFailure(err(code), WHERE, files, { secure: false })).toBe(
        `the certificate of ${WHERE} is not trusted by RAVENHELM_REDIS_TLS_CA_FILE (/tls/ca.crt) (${code}): set RAVENHELM_REDIS_TLS_CA_FILE to the CA that signed the Redis server certificate (cert-manager: ca.crt of its Secret)`,
      );
    }
  });

  it('reads a TLS alert from the server as a refused client certificate, with or without one configured', () => {
    const alert = err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca');
    expect(describeTlsFailure(alert, WHERE, files, { secure: false })).toMatch(
      /^rediss:\/\/10\.0\.0\.7:6380 refused the client certificate in RAVENHELM_REDIS_TLS_CERT_FILE \(\/tls\/tls\.crt\)/,
    );
    expect(describeTlsFailure(alert, WHERE, { caFile: '/tls/ca.crt' }, { secure: false })).toMatch(
      /closed the connection after the TLS handshake .* requires a client certificate/,
    );
  });

  it('a reset before the handshake is a scheme mismatch; after it, the client certificate', () => {
    expect(describeTlsFailure(err('ECONNRESET'), WHERE, files, { secure: false })).toMatch(
      /^no TLS handshake with .* use redis:\/\//,
    );
    expect(describeTlsFailure(err('ECONNRESET'), WHERE, files, { secure: true })).toMatch(
      /refused the client certificate/,
    );
    expect(describeTlsFailure(err('EPROTO', 'wrong version number'), WHERE, files, { secure: false })).toMatch(
      /^no TLS handshake/,
    );
  });

  it('plain redis:// gets a hint only for a dropped connection, and leaves anything else alone', () => {
    const plain = 'redis://10.0.0.7:6380';
    expect(describeTlsFailure(err('ECONNRESET'), plain, undefined, { secure: false })).toMatch(/use rediss:\/\//);
    expect(describeTlsFailure(err('ECONNREFUSED'), plain, undefined, { secure: false })).toBeUndefined();
    expect(describeTlsFailure(err('ECONNREFUSED'), WHERE, files, { secure: false })).toBeUndefined();
    expect(
      describeTlsFailure(new Error('WRONGPASS invalid username-password pair'), WHERE, files, { secure: true }),
    ).toBeUndefined();
  });
});
