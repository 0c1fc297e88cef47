// reflect-metadata must be loaded before @peculiar/x509.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  type JsonGeneralName,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { spiffeIdProblem } from '../spiffe/svid.js';

export const DEFAULT_PKI_DIR = '.ravenhelm/dev/pki';
export const DEV_TRUST_DOMAIN = 'ravenhelm.local';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const subtle = webcrypto.subtle;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const DAY = 24 * 60 * 60 * 1000;

/** Files of one identity in spiffe-helper's layout. */
export interface SvidPaths {
  spiffeId: string;
  dir: string;
  /** svid.pem: the leaf certificate. */
  certFile: string;
  /** svid_key.pem: PKCS#8 private key, mode 0600. */
  keyFile: string;
  /** svid_bundle.pem: the dev root CA. */
  bundleFile: string;
}

export interface IssueOptions {
  /** Lifetime in hours; default 24. */
  ttlHours?: number;
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, data, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function checkName(name: string): void {
  // The name is a SPIFFE path segment and a directory name: the ID grammar also rules out traversal.
  const problem = spiffeIdProblem(`spiffe://${DEV_TRUST_DOMAIN}/x/${name}`);
  if (problem || name.includes('/')) {
    throw new Error(
      `invalid identity name "${name.replace(/[^\x20-\x7e]/g, '?')}": use letters, digits, ".", "-", "_"`,
    );
  }
}

/**
 * A development certificate authority in a state directory. The root CA (ECDSA P-256) is
 * created on first open and reused after; key files are written with mode 0600. Not for
 * production: production SVIDs come from SPIRE through spiffe-helper, in the same file layout.
 *
 * Layout: `<dir>/ca/ca.pem`, `<dir>/ca/ca_key.pem`, `<dir>/bundle.pem`,
 * `<dir>/agents/<name>/{svid.pem,svid_key.pem,svid_bundle.pem}`, `<dir>/servers/<name>/...`.
 */
export class DevCA {
  private constructor(
    readonly dir: string,
    readonly trustDomain: string,
    readonly caCertFile: string,
    readonly bundleFile: string,
    private readonly caCert: X509Certificate,
    private readonly caKey: CryptoKey,
  ) {}

  /** Opens the CA in `dir` (default `.ravenhelm/dev/pki`), creating the root CA if absent. */
  static async open(dir: string = DEFAULT_PKI_DIR, opts: { trustDomain?: string } = {}): Promise<DevCA> {
    const root = resolve(dir);
    const trustDomain = opts.trustDomain ?? DEV_TRUST_DOMAIN;
    if (spiffeIdProblem(`spiffe://${trustDomain}/x`)) throw new Error(`invalid trust domain "${trustDomain}"`);
    const caDir = join(root, 'ca');
    const caCertFile = join(caDir, 'ca.pem');
    const caKeyFile = join(caDir, 'ca_key.pem');
    const bundleFile = join(root, 'bundle.pem');
    await mkdir(caDir, { recursive: true, mode: 0o700 });
    let certPem: string | undefined;
    let keyPem: string | undefined;
    try {
      [certPem, keyPem] = await Promise.all([readFile(caCertFile, 'utf8'), readFile(caKeyFile, 'utf8')]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let caCert: X509Certificate;
    let caKey: CryptoKey;
    if (certPem && keyPem) {
      caCert = new X509Certificate(certPem);
      caKey = await subtle.importKey('pkcs8', PemConverter.decodeFirst(keyPem), ALG, false, ['sign']);
    } else {
      const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
      const now = Date.now();
      caCert = await X509CertificateGenerator.createSelfSigned({
        name: `CN=Ravenhelm dev CA (${trustDomain}), O=Ravenhelm dev`,
        keys,
        signingAlgorithm: ALG,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 3650 * DAY),
        extensions: [
          new BasicConstraintsExtension(true, 1, true),
          new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
          await SubjectKeyIdentifierExtension.create(keys.publicKey),
          new SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
        ],
      });
      // Key first: a crash in between leaves no certificate without its key.
      await writeAtomic(caKeyFile, await exportKeyPem(keys.privateKey), 0o600);
      await writeAtomic(caCertFile, caCert.toString('pem'), 0o644);
      caKey = keys.privateKey;
    }
    await writeAtomic(bundleFile, `${caCert.toString('pem')}\n`, 0o644);
    return new DevCA(root, trustDomain, caCertFile, bundleFile, caCert, caKey);
  }

  /** The root CA certificate (PEM): the SPIFFE trust bundle. */
  get bundlePem(): string {
    return `${this.caCert.toString('pem')}\n`;
  }

  /** An agent (client) SVID `spiffe://<td>/agent/<name>`: digitalSignature, clientAuth. */
  async issueAgentSvid(name: string, opts: IssueOptions = {}): Promise<SvidPaths> {
    checkName(name);
    return this.issue(
      'agents',
      name,
      `spiffe://${this.trustDomain}/agent/${name}`,
      [],
      [ExtendedKeyUsage.clientAuth],
      opts,
    );
  }

  /**
   * A server SVID `spiffe://<td>/server/<name>` with DNS localhost and IP 127.0.0.1 SANs so
   * local clients verify the hostname: digitalSignature, serverAuth + clientAuth.
   */
  async issueServerSvid(name: string, opts: IssueOptions = {}): Promise<SvidPaths> {
    checkName(name);
    return this.issue(
      'servers',
      name,
      `spiffe://${this.trustDomain}/server/${name}`,
      [
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ],
      [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth],
      opts,
    );
  }

  private async issue(
    kind: 'agents' | 'servers',
    name: string,
    spiffeId: string,
    extraSans: JsonGeneralName[],
    eku: string[],
    opts: IssueOptions,
  ): Promise<SvidPaths> {
    const ttl = (opts.ttlHours ?? 24) * 60 * 60 * 1000;
    if (!(ttl > 0)) throw new Error('ttlHours must be positive');
    const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await X509CertificateGenerator.create({
      subject: `O=Ravenhelm dev, CN=${name}`,
      issuer: this.caCert.subject,
      publicKey: keys.publicKey,
      signingKey: this.caKey,
      signingAlgorithm: ALG,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(Math.min(now + ttl, this.caCert.notAfter.getTime())),
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
        new ExtendedKeyUsageExtension(eku),
        new SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }, ...extraSans]),
        await SubjectKeyIdentifierExtension.create(keys.publicKey),
        await AuthorityKeyIdentifierExtension.create(this.caCert),
      ],
    });
    const dir = join(this.dir, kind, name);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const paths: SvidPaths = {
      spiffeId,
      dir,
      certFile: join(dir, 'svid.pem'),
      keyFile: join(dir, 'svid_key.pem'),
      bundleFile: join(dir, 'svid_bundle.pem'),
    };
    await writeAtomic(paths.keyFile, await exportKeyPem(keys.privateKey), 0o600);
    await writeAtomic(paths.certFile, `${cert.toString('pem')}\n`, 0o644);
    await writeAtomic(paths.bundleFile, this.bundlePem, 0o644);
    return paths;
  }
}

const USAGE = `usage: ravenhelm-auth ca <command> [--dir PATH] [--trust-domain TD]
  ca init                 create the dev root CA (once) and bundle.pem
  ca svid --agent NAME    issue spiffe://<td>/agent/NAME (client SVID)
  ca server --name NAME   issue spiffe://<td>/server/NAME (server SVID, localhost + 127.0.0.1)
options: --dir (default ${DEFAULT_PKI_DIR}), --trust-domain (default ${DEV_TRUST_DOMAIN}), --ttl-hours (default 24)`;

export interface CaCliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

/**
 * `ca init | ca svid --agent NAME | ca server --name NAME` (a leading "ca" is optional).
 * Prints the written paths as JSON on stdout. Returns the exit code: 0 ok, 1 failure, 2 usage.
 */
export async function runCaCli(
  argv: string[],
  io: CaCliIo = { stdout: (l) => process.stdout.write(`${l}\n`), stderr: (l) => process.stderr.write(`${l}\n`) },
): Promise<number> {
  const args = argv[0] === 'ca' ? argv.slice(1) : argv;
  let parsed: ReturnType<typeof parseCaArgs>;
  try {
    parsed = parseCaArgs(args);
  } catch (err) {
    io.stderr(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { command, values } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const ttlHours = values['ttl-hours'] === undefined ? undefined : Number(values['ttl-hours']);
  if (ttlHours !== undefined && !(ttlHours > 0)) {
    io.stderr(`--ttl-hours must be a positive number\n${USAGE}`);
    return 2;
  }
  const issueOpts = ttlHours === undefined ? {} : { ttlHours };
  try {
    if (command === 'init') {
      const ca = await DevCA.open(values.dir, trustDomainOpt(values['trust-domain']));
      io.stdout(JSON.stringify({ trustDomain: ca.trustDomain, caCertFile: ca.caCertFile, bundleFile: ca.bundleFile }));
      return 0;
    }
    if (command === 'svid') {
      if (!values.agent) throw new UsageError('ca svid needs --agent NAME');
      const ca = await DevCA.open(values.dir, trustDomainOpt(values['trust-domain']));
      io.stdout(JSON.stringify(await ca.issueAgentSvid(values.agent, issueOpts)));
      return 0;
    }
    if (command === 'server') {
      if (!values.name) throw new UsageError('ca server needs --name NAME');
      const ca = await DevCA.open(values.dir, trustDomainOpt(values['trust-domain']));
      io.stdout(JSON.stringify(await ca.issueServerSvid(values.name, issueOpts)));
      return 0;
    }
    throw new UsageError(command ? `unknown ca command "${command}"` : 'missing ca command');
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${err.message}\n${USAGE}`);
      return 2;
    }
    io.stderr(`ca ${command}: ${(err as Error).message}`);
    return 1;
  }
}

class UsageError extends Error {}

function trustDomainOpt(td: string | undefined): { trustDomain?: string } {
  return td === undefined ? {} : { trustDomain: td };
}

function parseCaArgs(args: string[]) {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      dir: { type: 'string', default: DEFAULT_PKI_DIR },
      'trust-domain': { type: 'string' },
      agent: { type: 'string' },
      name: { type: 'string' },
      'ttl-hours': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (positionals.length > 1) throw new Error(`unexpected argument "${positionals[1]}"`);
  return { command: positionals[0], values };
}
