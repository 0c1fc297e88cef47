import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';
import { RavenhelmError } from './errors.js';
import { createMcpServer } from './mcp-server.js';
import { classifyMessage, errorResponse, type RequestId, toolNameOf } from './message.js';
import type { SuiteRuntime } from './runtime.js';

export interface StdioGuardOptions {
  stdin?: Readable;
  stdout?: Writable;
  /** Longest accepted line; a longer one is discarded and answered with -32600. */
  maxLineBytes: number;
  /** Called for a refused tools/call (so the pipeline can audit it). */
  onRefusedCall?: (name: string, code: RavenhelmError['code']) => Promise<void>;
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
    const message = classifyMessage(parsed);
    if (message.kind !== 'invalid') {
      this.onmessage?.(parsed as JSONRPCMessage);
      return;
    }
    if (message.notification) return;
    const name = toolNameOf(parsed);
    const refused = name !== undefined ? this.#o.onRefusedCall?.(name, message.error.code) : undefined;
    void Promise.resolve(refused)
      .catch((err) => this.onerror?.(err as Error))
      .finally(() => this.#answer(message.id, message.error));
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
      if (this.#closed || this.#out.write(`${JSON.stringify(message)}\n`)) resolve();
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
  const mcp = createMcpServer({
    name: rt.definition.name,
    version: rt.definition.version,
    description: rt.definition.description,
    pipeline: rt.pipeline,
    localPrincipal: rt.localPrincipal,
    elicitation: true,
  });
  const transport = new GuardedStdioTransport({
    ...streams,
    maxLineBytes: rt.config.http.maxBodyBytes,
    onRefusedCall: (name, code) => rt.pipeline.refused(rt.localPrincipal, name, randomUUID(), code),
  });
  await mcp.connect(transport);
  rt.logger.info(
    { tools: rt.pipeline.listTools(rt.localPrincipal).length, subject: rt.localPrincipal.subject },
    'serving MCP over stdio',
  );
  return {
    async close() {
      await rt.pipeline.idle();
      await mcp.close();
    },
  };
}
