/**
 * Behind Traefik without direct mTLS, forwarded client certificates are checked against the bundle in
 * `http.forwardedBundleFile`. SPIRE rotates its CA (daily by default) and spiffe-helper rewrites that file: a
 * bundle read once at start refused every forwarded certificate after the first rotation, until a restart.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerFromForwardedCert } from '@ravenhelm/auth';
import { watchTrustBundle } from '@ravenhelm/kit';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeLeaf, type TestIssuer } from '../fixtures/pki.js';

const TD = 'ravenhelm.local';
const ONCALL = `spiffe://${TD}/agent/oncall`;
const dir = mkdtempSync(join(tmpdir(), 'rh-fwd-bundle-'));
const file = join(dir, 'bundle.pem');
let oldCa: TestIssuer;
let newCa: TestIssuer;
let oldLeaf: TestIssuer;
let newLeaf: TestIssuer;

const header = (cert: TestIssuer) => cert.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
const verdict = (leaf: TestIssuer, bundle: string) => {
  try {
    return peerFromForwardedCert(header(leaf), { bundle, trustDomain: TD }).spiffeId;
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
};
/** Writes the file as spiffe-helper does: a new file renamed over the old one. */
const replace = (text: string) => {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
};
const until = async (what: string, ok: () => boolean) => {
  for (const end = Date.now() + 5_000; Date.now() < end; ) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
};

beforeAll(async () => {
  oldCa = await makeCa({ name: 'spire ca 1' });
  newCa = await makeCa({ name: 'spire ca 2' });
  oldLeaf = await makeLeaf({ ca: oldCa as never, uris: [ONCALL] });
  newLeaf = await makeLeaf({ ca: newCa as never, uris: [ONCALL] });
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the forwarded-certificate trust bundle', () => {
  it('is read again when the file is replaced, and a broken rewrite keeps the previous bundle', async () => {
    replace(oldCa.certPem);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    const bundle = watchTrustBundle(file, logger, 25);
    try {
      expect(verdict(oldLeaf, bundle.current())).toBe(ONCALL);
      expect(verdict(newLeaf, bundle.current())).toMatch(/^refused/);

      // the CA rotates: the new one is accepted, and the one that left the bundle no longer is
      replace(`${newCa.certPem}`);
      await until('the new bundle', () => verdict(newLeaf, bundle.current()) === ONCALL);
      expect(verdict(oldLeaf, bundle.current())).toMatch(/^refused/);
      expect(lines.join('')).toMatch(/trust bundle reloaded/);

      // a half-written or wrong file is not taken
      replace('-----BEGIN CERTIFICATE-----\nMIIB');
      await until('the warning', () => lines.join('').includes('does not read as a bundle'));
      expect(verdict(newLeaf, bundle.current())).toBe(ONCALL);
    } finally {
      bundle.close();
    }
  });

  it('stops the server at start when the file is not a bundle, naming the setting', () => {
    replace('not a certificate');
    expect(() => watchTrustBundle(file, pino({ level: 'silent' }))).toThrow(
      /RAVENHELM_FORWARDED_BUNDLE_FILE.*no PEM certificate found/,
    );
  });
});
