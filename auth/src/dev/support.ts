/** Small pieces the dev issuer's modules share: private state files, form bodies and OAuth error bodies. */
import { randomUUID } from 'node:crypto';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';

const MAX_BODY = 8 * 1024;

/** Hostnames a loopback redirect URI may use (RFC 8252 7.3), as `URL.hostname` spells them. */
export const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An OAuth error answered as `{ error, error_description }`; the description never holds a secret. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

/** The request's `application/x-www-form-urlencoded` body (at most 8 KiB), as /authorize and /token read it. */
export function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      reject(new OAuthError('invalid_request', 'the body must be application/x-www-form-urlencoded'));
      return;
    }
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new OAuthError('invalid_request', 'the body is too large', 413));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

/** Writes a file readable by its owner only (0600), atomically: a temporary file renamed over it. */
export async function writePrivate(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** The parsed file, or undefined when it does not exist. */
export async function readJson(path: string): Promise<unknown | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${path} is not readable JSON`);
  }
}

/**
 * Saves snapshots of a state file one after the other, so a slow write never lands after a newer one;
 * `save()` resolves once the snapshot taken at that call (or a later one) is on disk.
 */
export class SerialWriter {
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly snapshot: () => unknown,
  ) {}

  save(): Promise<void> {
    const next = this.#chain.then(() => writePrivate(this.path, `${JSON.stringify(this.snapshot())}\n`));
    this.#chain = next.catch(() => {});
    return next;
  }
}
