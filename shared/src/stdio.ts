import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { RavenhelmError } from './errors.js';
import { hasEnvelopeClaim } from './http/era.js';
import type { classifyEnvelope } from './http/modern.js';
import { createMcpServer } from './mcp-server.js';
import { classifyMessage, clip, errorResponse, MAX_ID_CHARS, type RequestId, toolNameOf } from './message.js';
import type { SuiteRuntime } from './runtime.js';
import { stringifyWellFormed } from './unicode.js';

export interface StdioGuardOptions {
  stdin?: Readable;
  stdout?: Writable;
  /** Longest accepted line; a longer one is discarded and answered with -32600. */
  maxLineBytes: number;
  /** Called for a refused tools/call (so the pipeline can audit it). */
  onRefusedCall?: (name: string, code: RavenhelmError['code']) => Promise<void>;
  /** Called once when stdout fails (the client stopped reading for good); the session then ends as at end of input. */
  onOutputGone?: (err: Error) => void;
  /** Called with what went wrong inside when a line was answered ERR_INTERNAL (so the log has the details). */
  onInternalError?: (err: unknown) => void;
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
  /** Requests handed to a server (either era) and not answered yet, by id (one each: a running id is not reused). */
  readonly #inflight = new Set<RequestId>();
  /** Set by `drain`: new requests are refused; called when the last in-flight request is answered. */
  #drained: (() => void) | undefined;
  #draining = false;
  /** stdout failed (EPIPE: the client closed its end): nothing can be answered any more. */
  #outGone = false;
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

  /** stdin ended: a last message without its newline (`printf '%s' "$msg" | server`) is still a message. */
  readonly #onEnd = () => {
    if (this.#size > 0 || this.#discarding) this.#line();
  };

  readonly #onError = (err: Error) => this.onerror?.(err);

  /**
   * stdout failed (EPIPE when the client closed its end or exited): an unhandled 'error' there would end
   * the process at once, losing the outcome records of the calls still running. Nobody can read an answer
   * any more, so the session ends as when stdin ends: no more input is read, and the owner (runMain)
   * finishes the running calls, audits them and stops.
   */
  readonly #onOutError = (err: Error) => {
    if (this.#outGone) return;
    this.#outGone = true;
    this.#o.onOutputGone?.(err);
    this.#in.pause();
    if (!this.#closed) this.#in.emit('end');
  };

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

  /**
   * One line, answered exactly once whatever happens inside: an exception from the gate or a server's
   * synchronous dispatch (a method named like an Object.prototype member once threw there) is answered
   * as ERR_INTERNAL under the request's id instead of escaping the stream's 'data' handler, which would
   * end the process and every call in it.
   */
  #line(): void {
    let parsed: unknown;
    try {
      this.#readLine((p) => {
        parsed = p;
      });
    } catch (err) {
      this.#o.onInternalError?.(err);
      const { id, notification } = idOf(parsed);
      if (!notification) {
        this.#answer(id, new RavenhelmError('ERR_INTERNAL', 'internal error; the server log has the details'));
      }
    }
  }

  #readLine(seen: (parsed: unknown) => void): void {
    const tooLong = this.#discarding;
    let bytes = tooLong ? Buffer.alloc(0) : Buffer.concat(this.#chunks);
    // A byte order mark (a file saved by Notepad, PowerShell's pipe) is not part of the JSON (RFC 8259 8.1).
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    const text = bytes.toString('utf8');
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
    seen(parsed);
    if (!isUtf8(bytes)) {
      // Decoding replaced the bad bytes with U+FFFD: running that would act on text nobody sent (as HTTP,
      // refused). The id read through the replacement still lets the client match the answer.
      const { id, notification } = idOf(parsed);
      if (!notification) {
        this.#answer(
          id,
          new RavenhelmError('ERR_PARSE', 'a line is not valid UTF-8; JSON is UTF-8 (RFC 8259 8.1): send it as UTF-8'),
        );
      }
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
        // Written here, not through send(): this answer settles no in-flight request that reuses the id.
        if (!this.#closed && !this.#outGone)
          this.#out.write(
            `${oneLine({ jsonrpc: '2.0', id, error: { code, message: text, ...(data ? { data } : {}) } })}\n`,
          );
      }
      return;
    }
    if (id !== null) {
      if (this.#draining) {
        this.#answer(id, new RavenhelmError('ERR_SHUTTING_DOWN', 'the server is shutting down; start it again'));
        return;
      }
      if (this.#inflight.has(id)) {
        // MCP: a request id MUST NOT be reused within the session. Both servers key a running request's
        // cancellation by its id, so a second one under a running id made notifications/cancelled stop the
        // wrong call, and the shutdown drain stop waiting for a call still running (its answer lost).
        this.#answer(
          id,
          new RavenhelmError(
            'ERR_BAD_REQUEST',
            `request id ${clip(JSON.stringify(id))} is already used by a request still running: MCP request ids are unique within a session; send this request under a new id`,
          ),
        );
        return;
      }
      this.#inflight.add(id);
    }
    if (era.modern && id !== null) this.modern.pending.add(id);
    const cancelled =
      (message as { method?: string; params?: { requestId?: RequestId } }).method === 'notifications/cancelled'
        ? (message as { params?: { requestId?: RequestId } }).params?.requestId
        : undefined;
    // A cancelled request is not answered (MCP): it is no longer waited for.
    if (cancelled !== undefined) this.#settled(cancelled);
    try {
      if (era.modern || (cancelled !== undefined && this.modern.pending.has(cancelled)))
        this.modern.onmessage?.(message);
      else this.onmessage?.(message);
    } catch (err) {
      // The server threw instead of taking it: #line answers it, nothing waits for the server's answer.
      if (id !== null) this.#settled(id);
      throw err;
    }
  }

  /** A refusal of the gate, one line like every answer (its message may quote U+2028 from the input). */
  #answer(id: RequestId | null, error: RavenhelmError): void {
    if (!this.#closed && !this.#outGone) this.#out.write(`${oneLine(JSON.parse(errorResponse(id, error)))}\n`);
  }

  async start(): Promise<void> {
    this.#in.on('data', this.#onData);
    this.#in.on('end', this.#onEnd);
    this.#in.on('error', this.#onError);
    // Kept after close: an EPIPE reported late must not end the process either.
    if (!this.#out.listeners('error').includes(this.#onOutError)) this.#out.on('error', this.#onOutError);
  }

  /** Forgets one in-flight request under `id` (answered or cancelled). */
  #settled(id: RequestId): void {
    if (!this.#inflight.delete(id)) return;
    if (this.#inflight.size === 0) this.#drained?.();
  }

  /** Requests handed to a server and not answered yet (for tests: nothing may stay behind). */
  get inflight(): number {
    return this.#inflight.size;
  }

  /**
   * Before closing (SIGTERM, stdin closed): refuses new requests with ERR_SHUTTING_DOWN and waits, at
   * most `maxMs`, until every request already taken is answered, so closing never swallows an answer
   * whose work is done and audited.
   */
  drain(maxMs: number): Promise<void> {
    this.#draining = true;
    if (this.#inflight.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, maxMs);
      timer.unref();
      this.#drained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#in.off('data', this.#onData);
    this.#in.off('end', this.#onEnd);
    this.#in.off('error', this.#onError);
    if (this.#in.listenerCount('data') === 0) this.#in.pause();
    this.onclose?.();
  }

  send(message: JSONRPCMessage): Promise<void> {
    const answered = 'id' in message && ('result' in message || 'error' in message);
    return new Promise((resolve) => {
      if (answered) this.#settled(message.id as RequestId);
      if (this.#closed || this.#outGone || this.#out.write(`${oneLine(message)}\n`)) {
        resolve();
        return;
      }
      // Settled by the drain, or by the failure that means no drain will ever come.
      const done = () => {
        this.#out.off('drain', done);
        this.#out.off('error', done);
        resolve();
      };
      this.#out.once('drain', done);
      this.#out.once('error', done);
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
    onInternalError: (err) => rt.logger.error({ err }, 'a stdio message failed inside the server'),
    onOutputGone: (err) =>
      rt.logger.warn({ err }, 'stdout closed (the client is gone): finishing the running calls, then stopping'),
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
      // Answers first: a call whose work is done must not lose its answer to the closing transport.
      await transport.drain(rt.config.limits.callTimeoutMs + 5_000);
      await rt.pipeline.idle();
      await Promise.all([mcp.close(), modern.close()]);
    },
  };
}

/** The id to answer a parsed line under, and whether it is a notification (never answered). */
function idOf(parsed: unknown): { id: RequestId | null; notification: boolean } {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { id: null, notification: false };
  const m = parsed as { id?: unknown; method?: unknown };
  if (!('id' in m)) return { id: null, notification: 'method' in m };
  const id = m.id;
  const usable =
    (typeof id === 'string' && id.length <= MAX_ID_CHARS) || (typeof id === 'number' && Number.isSafeInteger(id));
  return { id: usable ? (id as RequestId) : null, notification: false };
}

/**
 * One message, one line: JSON leaves U+2028 and U+2029 raw inside strings, and a client that splits lines
 * on them (Node 24's readline does) would read an answer echoing one (a method name, a log line) as two
 * broken halves. Escaped, the JSON means the same.
 */
export function oneLine(message: unknown): string {
  return stringifyWellFormed(message).replace(/[\u2028\u2029]/g, (c) => (c === '\u2028' ? '\\u2028' : '\\u2029'));
}
