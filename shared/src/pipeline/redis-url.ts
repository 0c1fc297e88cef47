/** Redis URLs: the Sentinel form, parsed, and any form described without its credentials. */
import { RavenhelmError } from '../errors.js';

/** A `redis+sentinel://` or `rediss+sentinel://` URL, parsed. */
export interface SentinelUrl {
  tls: boolean;
  sentinels: { host: string; port: number }[];
  /** The master name the sentinels monitor (`sentinel monitor <name> ...`). */
  name: string;
  db: number;
  username?: string;
  password?: string;
}

export const SENTINEL_URL_FORM = 'redis+sentinel://[user:password@]host1:26379,host2:26379/<masterName>[/<db>]';
const SENTINEL_URL = /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/?#@]+)\/([^/?#]+)(?:\/(\d{1,5}))?\/?$/i;
const SENTINEL_HOST = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/;

/**
 * Parses the Sentinel URL form (the one of the Python `redis-sentinel-url` package and Bitnami-style
 * setups): `redis+sentinel://[user:password@]host1:26379,host2:26379/<masterName>[/<db>]`, `rediss+` for
 * TLS to both the sentinels and the master. Returns undefined for any other scheme; throws
 * ERR_BAD_REQUEST, without the credentials, for a malformed one.
 */
export function parseSentinelUrl(url: string): SentinelUrl | undefined {
  if (!/^rediss?\+sentinel:/i.test(url)) return undefined;
  const bad = (why: string) =>
    new RavenhelmError(
      'ERR_BAD_REQUEST',
      `Redis Sentinel URL ${withoutCredentials(url)} ${why}; the form is ${SENTINEL_URL_FORM}`,
    );
  const m = SENTINEL_URL.exec(url);
  if (!m) throw bad('is malformed');
  const [, scheme = 'redis', auth, hostList = '', rawName = '', rawDb] = m;
  const sentinels = hostList.split(',').map((entry, i) => {
    const h = SENTINEL_HOST.exec(entry.trim());
    const port = Number(h?.[3] ?? 26379);
    // Not echoed: with an unencoded '/' or '@' in the password, this "host" is part of it.
    if (!h || port < 1 || port > 65535) throw bad(`has a sentinel (number ${i + 1}) that is not host[:port]`);
    return { host: (h[1] ?? h[2]) as string, port };
  });
  let name: string;
  let username: string | undefined;
  let password: string | undefined;
  try {
    name = decodeURIComponent(rawName);
    if (auth) {
      const colon = auth.indexOf(':');
      username = decodeURIComponent(colon === -1 ? auth : auth.slice(0, colon)) || undefined;
      password = colon === -1 ? undefined : decodeURIComponent(auth.slice(colon + 1));
    }
  } catch {
    throw bad('has a bad percent-encoding');
  }
  return {
    tls: scheme.toLowerCase() === 'rediss',
    sentinels,
    name,
    db: Number(rawDb ?? 0),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

export function describeSentinels(s: {
  tls: boolean;
  sentinels: { host: string; port: number }[];
  name: string;
  db: number;
}) {
  const hosts = s.sentinels.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  return `${s.tls ? 'rediss' : 'redis'}+sentinel://${hosts}/${s.name}${s.db ? `/${s.db}` : ''}`;
}

/** Everything up to the last '@' goes: a password may hold an unencoded '/' or '@'. */
function withoutCredentials(url: string): string {
  return url.replace(/^([a-z+]*:\/\/)[\s\S]*@/i, '$1');
}

/** `redis://user:pw@host:6379/0` -> `redis://host:6379/0`: safe for logs and error messages. */
export function describeRedisUrl(url: string): string {
  try {
    const sentinel = parseSentinelUrl(url);
    if (sentinel) return describeSentinels(sentinel);
    const u = new URL(url);
    const port = u.port || '6379';
    const db = u.pathname && u.pathname !== '/' ? u.pathname : '';
    return `${u.protocol}//${u.hostname}:${port}${db}`;
  } catch {
    return '<unparseable Redis URL>';
  }
}
