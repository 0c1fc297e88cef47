import { createPrivateKey, type KeyObject, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ResolvedOAuthConfig } from './config.js';

type IntrospectionConfig = NonNullable<ResolvedOAuthConfig['introspection']>;

/**
 * The private key an API application signs its RFC 7523 client assertions with (`private_key_jwt`), read
 * from a Zitadel application key file: `{"type":"application","keyId","key","appId","clientId"}`.
 */
export interface ClientAssertionKey {
  clientId: string;
  /** The key id the issuer registered (Zitadel `keyId`): the assertion header's `kid`. */
  kid: string;
  /** Imported once on first use, non-extractable and sign-only. */
  cryptoKey(): Promise<webcrypto.CryptoKey>;
}

/** A key file problem, phrased for the operator; never contains key material. */
export class ClientKeyError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'ClientKeyError';
  }
}

const ZITADEL_KEY_HINT =
  'download a JSON key for the API application in Zitadel (application > Keys > New, type JSON; authentication method "Private Key JWT")';

function source(i: IntrospectionConfig): { path: string; what: string; text: () => string } {
  if (i.keyFile !== undefined) {
    const file = i.keyFile;
    return {
      path: 'introspection.keyFile',
      what: `the key file ${file}`,
      text: () => {
        try {
          return readFileSync(file, 'utf8');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new ClientKeyError(
            'introspection.keyFile',
            `cannot read the key file ${file} (${code ?? 'read error'}); check the path and that this server may read it`,
          );
        }
      },
    };
  }
  return { path: 'introspection.key', what: 'the configured key JSON', text: () => i.key ?? '' };
}

/**
 * Reads and checks the client key at start, so a wrong file stops the server with a clear reason instead of
 * failing the first introspection. Errors name the file and the field, never the key.
 */
export function loadClientAssertionKey(i: IntrospectionConfig): ClientAssertionKey {
  const from = source(i);
  const fail = (message: string): never => {
    throw new ClientKeyError(from.path, message);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(from.text());
  } catch (err) {
    if (err instanceof ClientKeyError) throw err;
    // JSON.parse messages quote the input: they could hold part of the key.
    return fail(`${from.what} is not JSON; ${ZITADEL_KEY_HINT}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail(`${from.what} is not a JSON object; ${ZITADEL_KEY_HINT}`);
  }
  const file = parsed as Record<string, unknown>;
  if (file.type !== 'application') {
    const type = typeof file.type === 'string' ? `"${file.type.slice(0, 40)}"` : 'missing';
    return fail(
      `${from.what} has type ${type}, not "application"${file.type === 'serviceaccount' ? ' (a service account key signs JWT-profile grants, not introspection requests)' : ''}; ${ZITADEL_KEY_HINT}`,
    );
  }
  for (const field of ['keyId', 'clientId', 'key'] as const) {
    if (typeof file[field] !== 'string' || file[field] === '') {
      return fail(`${from.what} has no "${field}" string; ${ZITADEL_KEY_HINT}`);
    }
  }
  const clientId = file.clientId as string;
  if (i.clientId !== undefined && i.clientId !== clientId) {
    return fail(
      `${from.what} belongs to client ${clientId.slice(0, 200)}, not the configured introspection clientId ${i.clientId.slice(0, 200)}; leave clientId unset or make them equal`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: file.key as string, format: 'pem' });
  } catch {
    return fail(`the "key" in ${from.what} is not a PEM private key; ${ZITADEL_KEY_HINT}`);
  }
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    return fail(`the "key" in ${from.what} must be an RSA private key of at least 2048 bits (signed RS256)`);
  }
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  let imported: Promise<webcrypto.CryptoKey> | undefined;
  return {
    clientId,
    kid: file.keyId as string,
    cryptoKey: () => {
      imported ??= webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, [
        'sign',
      ]);
      return imported;
    },
  };
}
