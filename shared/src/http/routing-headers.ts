import type { IncomingMessage } from 'node:http';
import { RavenhelmError } from '../errors.js';
import { clip, MAX_TOOL_NAME_CHARS } from '../message.js';

/**
 * The MCP routing headers (`Mcp-Method`, `Mcp-Name`, SEP-2243 in protocol 2026-07-28) let gateways
 * route and authorize a request without reading its body. They are only useful if they cannot lie:
 * when present they must match the body exactly (else 400, JSON-RPC -32020 HeaderMismatch), and a
 * `tools/call` that names its tool in `Mcp-Name` is authorized before the body is read.
 */
export interface RoutingHeaders {
  method?: string | undefined;
  /** Decoded `Mcp-Name` (the `=?base64?...?=` form is decoded). */
  name?: string | undefined;
}

const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const mismatch = (message: string) =>
  new RavenhelmError('ERR_HEADER_MISMATCH', `the request headers and body disagree: ${message}`);

/**
 * Every value of one header, from rawHeaders (Node's `headers` joins or drops repeats; `headersDistinct`
 * would build a second copy of every header on each request). `header` is lower case.
 */
export function headerValues(req: IncomingMessage, header: string): string[] | undefined {
  if (req.headers[header] === undefined) return undefined;
  const raw = req.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === header.length && name.toLowerCase() === header) values.push(raw[i + 1] as string);
  }
  return values;
}

function single(req: IncomingMessage, header: string): string | undefined {
  const values = headerValues(req, header);
  if (!values) return undefined;
  if (values.length > 1) throw mismatch(`${header} was sent ${values.length} times; send it once`);
  return (values[0] ?? '').trim();
}

function decodeName(value: string): string {
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  const b64 = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(b64)) throw mismatch('Mcp-Name carries an invalid base64 value');
  try {
    return utf8.decode(Buffer.from(b64, 'base64'));
  } catch {
    throw mismatch('Mcp-Name carries base64 that is not UTF-8');
  }
}

/** Reads the routing headers; throws ERR_HEADER_MISMATCH when one is repeated or badly encoded. */
export function readRoutingHeaders(req: IncomingMessage): RoutingHeaders {
  const method = single(req, 'mcp-method');
  const name = single(req, 'mcp-name');
  return { method, name: name === undefined ? undefined : decodeName(name) };
}

/** The tool a request names in its headers, when it can be authorized before the body is read. */
export function headerToolName(h: RoutingHeaders): string | undefined {
  return h.method === 'tools/call' && h.name && h.name.length <= MAX_TOOL_NAME_CHARS ? h.name : undefined;
}

/** Checks the headers against the body's method and tool name. */
export function checkRoutingHeaders(h: RoutingHeaders, method: string, toolName: string | undefined): void {
  if (h.method !== undefined && h.method !== method) {
    throw mismatch(`the body names method '${clip(method)}' but Mcp-Method names '${clip(h.method)}'`);
  }
  if (h.name !== undefined && method === 'tools/call' && h.name !== toolName) {
    throw mismatch(`the body names tool '${clip(toolName ?? '')}' but Mcp-Name names '${clip(h.name)}'`);
  }
}
