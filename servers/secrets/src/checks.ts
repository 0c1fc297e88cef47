import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { memberSources } from './json-source.js';

/** What an audit can say about a value. Findings carry these codes, never the value. */
export const ISSUES = ['empty', 'placeholder', 'weak-default', 'weak', 'stale', 'plaintext', 'unreadable'] as const;
export type Issue = (typeof ISSUES)[number];

export interface Finding {
  issue: Issue;
  /** Why, in words that never include the value: "12 chars < 16", "2 of 3 character classes". */
  detail?: string;
}

const PLACEHOLDER =
  /^(__unset__|__[a-z_]*__|change[_-]?me.*|changeme|todo|tbd|fixme|x{3,}|placeholder|replace[_-]?me.*|<[^>]*>|your[_-][a-z_-]*|none|null|undefined)$/i;

/**
 * Known weak defaults, as shipped by images, tutorials and compose templates. Compared case-insensitively
 * on the whole value.
 */
export const WEAK_DEFAULTS: readonly string[] = [
  'postgrespassword',
  'redispassword',
  'mysqlpassword',
  'mariadbpassword',
  'mongopassword',
  'rabbitmqpassword',
  'password',
  'password1',
  'password123',
  'passw0rd',
  'p@ssw0rd',
  'secret',
  'supersecret',
  'admin',
  'admin123',
  'administrator',
  'root',
  'toor',
  'postgres',
  'mysql',
  'redis',
  'guest',
  'minioadmin',
  'minio123',
  'changeit',
  'letmein',
  'welcome',
  'qwerty',
  '123456',
  '12345678',
  '123456789',
  'default',
  'test',
  'example',
  'keycloak',
  'grafana',
  'zitadel',
];

export const StrengthPolicy = z.object({
  minLength: z.number().int().min(1).max(4096).default(16),
  minClasses: z.number().int().min(1).max(4).default(3),
  maxAgeDays: z.number().int().min(1).max(3650).default(90),
  extraWeakDefaults: z.array(z.string()).default([]),
});
export type StrengthPolicy = z.output<typeof StrengthPolicy>;

export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value.trim());
}

/** Findings for one plain value under the strength policy (no staleness: that is metadata). */
export function checkValue(value: string, policy: StrengthPolicy): Finding[] {
  const v = value.trim();
  if (v === '') return [{ issue: 'empty' }];
  if (isPlaceholder(v)) return [{ issue: 'placeholder' }];
  const lower = v.toLowerCase();
  if (WEAK_DEFAULTS.includes(lower) || policy.extraWeakDefaults.some((w) => w.toLowerCase() === lower)) {
    return [{ issue: 'weak-default' }];
  }
  const out: Finding[] = [];
  if (v.length < policy.minLength) out.push({ issue: 'weak', detail: `${v.length} chars < ${policy.minLength}` });
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(v)).length;
  if (classes < policy.minClasses) {
    out.push({ issue: 'weak', detail: `${classes} of ${policy.minClasses} character classes` });
  }
  return out;
}

/**
 * A JSON object's fields are checked one by one (`{"username": ..., "password": ...}`): a string as it is, a number or
 * boolean as written (`"db_password": 123456` is a weak password, not no password), null in a secret-looking field as
 * empty. Objects and arrays inside are walked (`{"db": {"password": "postgres"}}`, key `db.password`) a few levels
 * deep, judging only their secret-looking fields.
 */
export function checkSecret(value: string, policy: StrengthPolicy): (Finding & { key?: string })[] {
  const obj = asJsonObject(value);
  if (!obj) return checkValue(value, policy);
  const out: (Finding & { key?: string })[] = [];
  // as written: JSON.parse may have read other digits
  const scalar = (v: unknown) => typeof v === 'number' || typeof v === 'boolean';
  const sources = Object.values(obj).some(scalar) ? memberSources(value) : undefined;
  const judge = (key: string, path: string, v: string, top: boolean) => {
    // Non-secret fields (username, host, port) only count at the top, when empty or a placeholder.
    const secret = looksSecret(key);
    for (const f of checkValue(v, policy)) {
      if (secret || (top && (f.issue === 'empty' || f.issue === 'placeholder'))) out.push({ ...f, key: path });
    }
  };
  const walk = (node: object, path: string, depth: number) => {
    for (const [key, raw] of Object.entries(node)) {
      const name = Array.isArray(node) ? path.slice(path.lastIndexOf('.') + 1) : key;
      const at = Array.isArray(node) ? `${path}[${key}]` : `${path}.${key}`;
      if (raw !== null && typeof raw === 'object') {
        if (depth < NESTED_DEPTH) walk(raw, at, depth + 1);
      } else if (looksSecret(name)) {
        judge(name, at, typeof raw === 'string' ? raw : raw === null ? '' : String(raw), false);
      }
    }
  };
  for (const [key, raw] of Object.entries(obj)) {
    if (typeof raw === 'string') judge(key, key, raw, true);
    else if (scalar(raw)) judge(key, key, sources?.get(key)?.at(-1) ?? String(raw), true);
    else if (raw === null) {
      if (looksSecret(key)) judge(key, key, '', true);
    } else if (typeof raw === 'object') walk(raw, key, 1);
  }
  return out;
}

/** How deep checkSecret looks into objects and arrays inside a JSON secret (a 64 KiB value nests 10,000 deep). */
const NESTED_DEPTH = 6;

export function asJsonObject(value: string): Record<string, unknown> | undefined {
  if (!value.trimStart().startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const SECRET_NAME =
  /(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential|auth|pwd|dsn|salt|signing[_-]?key|encryption[_-]?key|client[_-]?secret)/i;
const NOT_SECRET =
  /(_file|_path|_url_?path|_user(name)?|_id|_host|_port|_enabled|_type|_length|_expir[a-z]*|_ttl|_timeout)$/i;

/** Key names that usually hold secrets: `POSTGRES_PASSWORD`, `apiKey`, `JWT_SECRET`; not `PASSWORD_FILE`. */
export function looksSecret(key: string): boolean {
  return SECRET_NAME.test(key) && !NOT_SECRET.test(key);
}

export interface Masked {
  kind: 'string' | 'json' | 'binary';
  length: number;
  jsonKeys?: string[];
  fingerprint: string;
}

/**
 * What an agent may see of a value (a binary value is given as base64): its size, its JSON keys and a keyed fingerprint (HMAC-SHA256 under a
 * server key, first 16 hex chars) that tells two versions apart without being a hash anyone can brute-force.
 */
export function maskValue(value: string, key: Buffer, kind: 'string' | 'binary' = 'string'): Masked {
  const obj = kind === 'string' ? asJsonObject(value) : undefined;
  return {
    kind: obj ? 'json' : kind,
    // Binary secrets travel as base64: their length is the decoded byte count.
    length: kind === 'binary' ? Buffer.from(value, 'base64').length : value.length,
    ...(obj ? { jsonKeys: Object.keys(obj).slice(0, 50) } : {}),
    fingerprint: fingerprint(value, key),
  };
}

export function fingerprint(value: string, key: Buffer): string {
  return `hmac:${createHmac('sha256', key).update(value).digest('hex').slice(0, 16)}`;
}
