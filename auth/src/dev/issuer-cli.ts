import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { certificateThumbprint } from '../oauth/claims.js';
import { DEFAULT_DEV_ISSUER_PORT, DEFAULT_DEV_STATE_DIR, DevIssuer } from './issuer.js';

export const ISSUER_USAGE = `usage:
  dev-issuer [--port N] [--state DIR]
      serve discovery + JWKS on http://127.0.0.1:N (default ${DEFAULT_DEV_ISSUER_PORT}) until interrupted
  token --agent NAME --scope "S1 S2" --aud URL [--aud URL2] [--ttl 3600] [--role R]... [--cnf-cert svid.pem]
        [--issuer URL] [--state DIR]
      print a signed access token on stdout (nothing else goes to stdout)
--state defaults to ${DEFAULT_DEV_STATE_DIR}`;

export interface IssuerCliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

class UsageError extends Error {}

const defaultIo: IssuerCliIo = {
  stdout: (l) => process.stdout.write(`${l}\n`),
  stderr: (l) => process.stderr.write(`${l}\n`),
};

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

/**
 * `dev-issuer` and `token`. Returns the exit code: 0 ok, 1 failure, 2 usage.
 * `dev-issuer` runs until `stop` resolves (default: SIGINT/SIGTERM).
 */
export async function runIssuerCli(
  argv: string[],
  io: IssuerCliIo = defaultIo,
  opts: { stop?: Promise<void>; onListening?: (issuer: string) => void } = {},
): Promise<number> {
  const [command, ...args] = argv;
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        state: { type: 'string', default: DEFAULT_DEV_STATE_DIR },
        agent: { type: 'string' },
        scope: { type: 'string' },
        aud: { type: 'string', multiple: true },
        ttl: { type: 'string' },
        role: { type: 'string', multiple: true },
        'cnf-cert': { type: 'string' },
        issuer: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      io.stdout(ISSUER_USAGE);
      return 0;
    }
    if (command === 'dev-issuer') {
      const port = values.port === undefined ? DEFAULT_DEV_ISSUER_PORT : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError('--port must be 0..65535');
      const issuer = await DevIssuer.open({ stateDir: values.state });
      const { issuer: url, jwksUri } = await issuer.listen({ port });
      io.stdout(JSON.stringify({ issuer: url, jwksUri, kid: issuer.kid, stateDir: issuer.stateDir }));
      io.stderr(`dev issuer listening on ${url} (development only; Ctrl-C to stop)`);
      opts.onListening?.(url);
      await (opts.stop ?? untilSignal());
      await issuer.close();
      return 0;
    }
    if (command === 'token') {
      if (!values.agent) throw new UsageError('token needs --agent NAME');
      if (values.scope === undefined) throw new UsageError('token needs --scope "..."');
      if (!values.aud || values.aud.length === 0) throw new UsageError('token needs --aud URL');
      const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
      if (ttl !== undefined && !Number.isInteger(ttl)) throw new UsageError('--ttl must be whole seconds');
      let certThumbprint: string | undefined;
      if (values['cnf-cert']) {
        const cert = new X509Certificate(await readFile(values['cnf-cert']));
        certThumbprint = certificateThumbprint(cert.raw);
      }
      const issuer = await DevIssuer.open({ stateDir: values.state, create: false });
      const token = await issuer.mintToken({
        agent: values.agent,
        scope: values.scope,
        audience: values.aud,
        ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
        ...(values.role ? { roles: values.role } : {}),
        ...(certThumbprint ? { certThumbprint } : {}),
        ...(values.issuer ? { issuer: values.issuer } : {}),
      });
      io.stdout(token);
      return 0;
    }
    throw new UsageError(command ? `unknown command "${command}"` : 'missing command');
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`${(err as Error).message}\n${ISSUER_USAGE}`);
      return 2;
    }
    io.stderr(`${command}: ${(err as Error).message}`);
    return 1;
  }
}
