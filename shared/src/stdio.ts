import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { RavenhelmError } from './errors.js';
import { hasEnvelopeClaim } from './http/era.js';
import type { classifyEnvelope } from './http/modern.js';
import { createMcpServer } from './mcp-server.js';
import { classifyMessage, errorResponse, type RequestId, toolNameOf } from './message.js';
import type { SuiteRuntime } from './runtime.js';
import { stringifyWellFormed } from './unicode.js';

export interface StdioGuardOptions {
  stdin?: Readable;
  stdout?: Writable;
  /** Longest accepted line; a longer one is discarded and answered with -32600. */
  maxLineBytes: number;
  /** Called for a refused tools/call (so the pipeline can audit it). */
  onRefusedCall?: (name: string, code: RavenhelmError['code']) => Promise<void>;
}

/**
 * The 2026-07-28 side of one stdio connection: the transport of the long-lived v2 server. It writes
 * to the same stdout; the guarded transport hands it the requests that carry the per-request
 * `_meta` envelope, and cancellations of those requests.
 */
class ModernStdioChannel {
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  /** Ids of requests the v2 server has not answered yet. */
  readonly pending = new Set<RequestId>();
  /** The SDK's envelope classifier, set when the v2 server is connected (it is imported then). */
  classify?: typeof classifyEnvelope | undefined;
  constructor(private readonly write: (message: JSONRPCMessage) => Promise<void>) {}
  async start(): Promise<void> {}
  async close(): Promise<void> {
    this.onclose?.();
  }
  send(message: JSONRPCMessage): Promise<void> {
    if ('id' in message && ('result' in message || 'error' in message)) this.pending.delete(message.id as RequestId);
    return this.write(message);
  }
}

/**
 * Newline-delimited JSON-RPC over stdin/stdout with the same gate as HTTP: every line is size-capped,
 * parsed and classified before the MCP server sees it. A bad request gets its JSON-RPC error (-32700,
 * -32600, -32602); a bad notification or response is ignored, as JSON-RPC says. (The SDK's stdio
 * transport drops unparsable lines and unknown shapes without an answer, so a client waits forever.)
 */
export class GuardedStdioTransport implements Transport {
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  readonly #in: Readable;
  readonly #out: Writable;
  readonly #o: StdioGuardOptions;
  #chunks: Buffer[] = [];
  #size = 0;
  #discarding = false;
  #closed = false;
  /** Where 2026-07-28 messages go (connect the v2 server to it); 2025-era ones go to `onmessage`. */
  readonly modern = new ModernStdioChannel((message) => this.send(message));

  constructor(opts: StdioGuardOptions) {
    this.#o = opts;
    this.#in = opts.stdin ?? process.stdin;
    this.#out = opts.stdout ?? process.stdout;
  }

  readonly #onData = (chunk: Buffer) => {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      this.#take(chunk.subarray(start, nl));
      this.#line();
      start = nl + 1;
    }
    if (start < chunk.length) this.#take(chunk.subarray(start));
  };

  readonly #onError = (err: Error) => this.onerror?.(err);

  #take(part: Buffer): void {
    if (this.#discarding || part.length === 0) return;
    this.#size += part.length;
    if (this.#size > this.#o.maxLineBytes) {
      this.#discarding = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(part);
  }

  #line(): void {
    const tooLong = this.#discarding;
    const text = tooLong ? '' : Buffer.concat(this.#chunks).toString('utf8');
    this.#chunks = [];
    this.#size = 0;
    this.#discarding = false;
    if (tooLong) {
      this.#answer(
        null,
        new RavenhelmError('ERR_BODY_TOO_LARGE', `a message is over ${this.#o.maxLineBytes} bytes and was discarded`),
      );
      return;
    }
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.#answer(
        null,
        new RavenhelmError('ERR_PARSE', 'a line is not valid JSON; send one JSON-RPC message per line'),
      );
      return;
    }
    // A 2026-era request is validated by the v2 server against its own era's schemas, not SDK v1's.
    const message = classifyMessage(parsed, { methodSchemas: !hasEnvelopeClaim(parsed) });
    if (message.kind !== 'invalid') {
      this.#route(parsed as JSONRPCMessage, message.kind === 'request' ? message.id : null);
      return;
    }
    if (message.notification) return;
    const name = toolNameOf(parsed);
    const refused = name !== undefined ? this.#o.onRefusedCall?.(name, message.error.code) : undefined;
    void Promise.resolve(refused)
      .catch((err) => this.onerror?.(err as Error))
      .finally(() => this.#answer(message.id, message.error));
  }

  /** One stdio connection, two eras: the message's own envelope decides, as in the SDK's serveStdio. */
  #route(message: JSONRPCMessage, id: RequestId | null): void {
    const era = this.modern.onmessage && this.modern.classify ? this.modern.classify(message) : { modern: false };
    if (era.refusal) {
      if (id !== null) {
        const { code, message: text, data } = era.refusal;
        void this.send({ jsonrpc: '2.0', id, error: { code, message: text, ...(data ? { data } : {}) } } as never);
      }
      return;
    }
    if (era.modern && id !== null) this.modern.pending.add(id);
    const cancelled =
      (message as { method?: string; params?: { requestId?: RequestId } }).method === 'notifications/cancelled'
        ? (message as { params?: { requestId?: RequestId } }).params?.requestId
        : undefined;
    if (era.modern || (cancelled !== undefined && this.modern.pending.has(cancelled))) {
      this.modern.onmessage?.(message);
      return;
    }
    this.onmessage?.(message);
  }

  #answer(id: RequestId | null, error: RavenhelmError): void {
    if (!this.#closed) this.#out.write(`${errorResponse(id, error)}\n`);
  }

  async start(): Promise<void> {
    this.#in.on('data', this.#onData);
    this.#in.on('error', this.#onError);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#in.off('data', this.#onData);
    this.#in.off('error', this.#onError);
    if (this.#in.listenerCount('data') === 0) this.#in.pause();
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed || this.#out.write(`${oneLine(message)}\n`)) resolve();
      else this.#out.once('drain', resolve);
    });
  }
}

/**
 * stdio: for Claude/Cursor `mcp.json`. No OAuth (the MCP spec says so); the caller is the local
 * principal from configuration, and HIGH tools stay off unless `local.allowHigh` is set.
 */
export async function startStdio(
  rt: SuiteRuntime,
  streams: { stdin?: Readable; stdout?: Writable } = {},
): Promise<{ close(): Promise<void> }> {
  // Imported here, not at module load: an HTTP server never loads SDK v2 unless a 2026 request comes.
  // (Before either server connects: stdin is read from the first connect on.)
  const { classifyEnvelope, createModernServer } = await import('./http/modern.js');
  const mcp = createMcpServer({
    name: rt.definition.name,
    version: rt.definition.version,
    description: rt.definition.description,
    pipeline: rt.pipeline,
    localPrincipal: rt.localPrincipal,
    elicitation: true,
    tasks: rt.tasks,
  });
  const transport = new GuardedStdioTransport({
    ...streams,
    maxLineBytes: rt.config.http.maxBodyBytes,
    onRefusedCall: (name, code) => rt.pipeline.refused(rt.localPrincipal, name, randomUUID(), code),
  });
  transport.modern.classify = classifyEnvelope;
  await mcp.connect(transport);
  const modern = createModernServer({
    name: rt.definition.name,
    version: rt.definition.version,
    description: rt.definition.description,
    pipeline: rt.pipeline,
    localPrincipal: rt.localPrincipal,
  });
  await modern.connect(transport.modern as never);
  rt.logger.info(
    { tools: rt.pipeline.listTools(rt.localPrincipal).length, subject: rt.localPrincipal.subject },
    'serving MCP over stdio',
  );
  return {
    async close() {
      await rt.pipeline.idle();
      await Promise.all([mcp.close(), modern.close()]);
    },
  };
}

/**
 * One message, one line: JSON leaves U+2028 and U+2029 raw inside strings, and a client that splits lines
 * on them (Node 24's readline does) would read an answer echoing one (a method name, a log line) as two
 * broken halves. Escaped, the JSON means the same.
 */
export function oneLine(message: unknown): string {
  return stringifyWellFormed(message).replace(/[\u2028\u2029]/g, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}
