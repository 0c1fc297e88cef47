/**
 * How Zitadel's REST gateway encodes answers, for the Zitadel simulator (sources: see zitadel.ts):
 * grpc-gateway error bodies with gRPC codes and their HTTP statuses, protojson's omission of
 * unpopulated fields, TextQueryMethod matching, ListQuery windows, snowflake-like ids.
 */
import type { Reply, SimRequest } from './http.js';

const GRPC_HTTP: Record<number, number> = { 3: 400, 5: 404, 6: 409, 7: 403, 9: 400, 16: 401 };

/**
 * English texts of the i18n keys the simulator answers with (github.com/zitadel/zitadel
 * internal/static/i18n/en.yaml). Zitadel's translation interceptor replaces an error's key with its text in
 * the request's language, the instance default (en) here, before the gateway writes it
 * (internal/api/grpc/server/middleware translateError, run by the gRPC server's translation interceptor; internal/api/grpc/gerrors/zitadel_errors.go
 * ZITADELToGRPCError: message `<text> (<id>)`, ErrorDetail {id, message: <text>}); a key en.yaml lacks (e.g.
 * Errors.Project.Role.NotFound, Errors.UserGrant.NotActive) stays as it is.
 */
const EN: Record<string, string> = {
  'Errors.User.NotFound': 'User could not be found',
  'Errors.User.AlreadyExists': 'User already exists',
  'Errors.User.AlreadyInactive': 'User already inactive',
  'Errors.User.NotInactive': 'User is not inactive',
  'Errors.User.CantDeactivateInitial': 'User with state initial can only be deleted not deactivated',
  'Errors.User.ShouldBeActiveOrInitial': 'User is not active or initial',
  'Errors.User.NotLocked': 'User is not locked',
  'Errors.User.Machine.Key.NotFound': 'Machine key not found',
  'Errors.Org.NotFound': 'Organisation not found',
  'Errors.Project.NotFound': 'Project not found',
  'Errors.Project.Role.AlreadyExists': 'Role already exists',
  'Errors.UserGrant.AlreadyExists': 'User grant already exists',
  'Errors.UserGrant.NotFound': 'User grant not found',
  'Errors.UserGrant.NotChanged': 'User grant has not been changed',
  'Errors.Token.Invalid': 'Token is invalid',
};

export function grpcError(code: number, key: string, id: string): Reply {
  const text = EN[key] ?? key;
  const message = `${text} (${id})`;
  return {
    status: GRPC_HTTP[code] ?? 500,
    json: { code, message, details: [{ '@type': 'type.googleapis.com/zitadel.v1.ErrorDetail', id, message: text }] },
  };
}

/**
 * Connect protocol error codes and the HTTP status each one is sent with (connectrpc.com/docs/protocol,
 * "Error Codes"): the v2 services Zitadel serves through connect-go (e.g. zitadel.internal_permission.v2) answer
 * `{code, message, details}` with the code's name, not its number. Messages as grpcError builds them.
 */
const CONNECT_HTTP: Record<string, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  unimplemented: 404,
  internal: 500,
};

export function connectError(code: keyof typeof CONNECT_HTTP, key: string, id: string): Reply {
  const text = EN[key] ?? key;
  return { status: CONNECT_HTTP[code] ?? 500, json: { code, message: `${text} (${id})` } };
}

/** protojson drops unpopulated fields: false, '', 0, empty lists and undefined. */
export function compact<T>(value: T): T {
  if (Array.isArray(value)) return value.map(compact) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined || v === false || v === '' || v === 0 || (Array.isArray(v) && v.length === 0)) continue;
      out[k] = compact(v);
    }
    return out as T;
  }
  return value;
}

let idSeq = 300_000_000_000_000_000n;
export function nextId(): string {
  idSeq += BigInt(1 + Math.floor(Math.random() * 1000));
  return idSeq.toString();
}

/**
 * A TextQueryMethod match. `likeWildcards`: as Zitadel versions did before NewTextQuery escaped the value
 * (internal/query/search_query.go: every method but EQUALS is a SQL LIKE/ILIKE, EQUALS_IGNORE_CASE an ILIKE
 * of the value as given; later versions pass it through database.EscapeLikeWildcards): `_` then stands for
 * any one character and `%` for any run of them.
 */
export function textMatch(value: string, wanted: string, method: string | undefined, likeWildcards = false): boolean {
  const m = method ?? 'TEXT_QUERY_METHOD_EQUALS';
  const ic = m.endsWith('_IGNORE_CASE');
  const a = ic ? value.toLowerCase() : value;
  const b = ic ? wanted.toLowerCase() : wanted;
  if (likeWildcards && m !== 'TEXT_QUERY_METHOD_EQUALS') {
    const body = [...b]
      .map((c) => (c === '%' ? '.*' : c === '_' ? '.' : c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
      .join('');
    const any = '.*';
    const pattern = m.startsWith('TEXT_QUERY_METHOD_STARTS_WITH')
      ? `${body}${any}`
      : m.startsWith('TEXT_QUERY_METHOD_ENDS_WITH')
        ? `${any}${body}`
        : m.startsWith('TEXT_QUERY_METHOD_CONTAINS')
          ? `${any}${body}${any}`
          : body;
    return new RegExp(`^${pattern}$`, 's').test(a);
  }
  if (m.startsWith('TEXT_QUERY_METHOD_EQUALS')) return a === b;
  if (m.startsWith('TEXT_QUERY_METHOD_STARTS_WITH')) return a.startsWith(b);
  if (m.startsWith('TEXT_QUERY_METHOD_CONTAINS')) return a.includes(b);
  if (m.startsWith('TEXT_QUERY_METHOD_ENDS_WITH')) return a.endsWith(b);
  return false;
}

export class BadRequest extends Error {}

export function parseBody(req: SimRequest): Record<string, unknown> {
  if (req.body.trim() === '') return {};
  try {
    const v = JSON.parse(req.body) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest('body must be an object');
    return v as Record<string, unknown>;
  } catch {
    throw new BadRequest('invalid JSON body');
  }
}

/** ListQuery / management ListQuery: offset (uint64, string or number), limit (uint32), asc. */
export function listWindow(body: Record<string, unknown>): { offset: number; limit: number } {
  const q = (body.query ?? {}) as { offset?: string | number; limit?: number };
  const offset = Number(q.offset ?? 0);
  const limit = q.limit === undefined || q.limit === 0 ? 100 : Number(q.limit);
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 0) {
    throw new BadRequest('invalid list query');
  }
  return { offset, limit: Math.min(limit, 1000) };
}
