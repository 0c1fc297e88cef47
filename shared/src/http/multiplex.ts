import { randomUUID } from 'node:crypto';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCRequest, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { ERROR_TABLE, type ErrorCode } from '../errors.js';

type Pending = { originalId: RequestId; resolve: (message: JSONRPCMessage) => void; timer: NodeJS.Timeout };

export interface MultiplexOptions {
  /**
   * Backstop: a dispatched request that has no answer after this many milliseconds is settled with an
   * error (and cancelled inside the server), so no HTTP request can wait forever. Set it above the
   * call timeout: the pipeline's own deadline answers first in every normal case.
   */
  deadlineMs?: number;
}

/**
 * A transport that lets one long-lived MCP server answer many concurrent stateless HTTP requests.
 * Each request's JSON-RPC id is replaced by a random internal id (a UUID: no caller can guess or
 * collide with another caller's), and the response is routed back to the HTTP request that asked.
 * Only the transport itself ever talks to the server about a request (cancellation when the client
 * disconnects); client notifications never reach the shared server.
 * Every dispatched request settles exactly once: with the server's answer, or with an error when it
 * is cancelled, passes the deadline, or the transport closes.
 * (The SDK's documented stateless pattern builds a server per request; this is ~10x faster.)
 */
export class MultiplexTransport implements Transport {
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  readonly #pending = new Map<string, Pending>();
  readonly #deadlineMs: number;
  #closed = false;

  constructor(opts: MultiplexOptions = {}) {
    this.#deadlineMs = opts.deadlineMs ?? 120_000;
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id, 'ERR_SHUTTING_DOWN', 'the server shut down before this call finished; retry on another replica');
    }
    this.onclose?.();
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Hands one request to the server and resolves with its response (original id restored). */
  dispatch(
    request: JSONRPCRequest,
    extra: MessageExtraInfo,
    onCancel?: (cancel: () => void) => void,
  ): Promise<JSONRPCMessage> {
    if (this.#closed || !this.onmessage) return Promise.reject(new Error('transport is closed'));
    const internalId = randomUUID();
    return new Promise<JSONRPCMessage>((resolve) => {
      const timer = setTimeout(() => {
        this.#abort(internalId, 'deadline passed');
        this.#settle(
          internalId,
          'ERR_BACKEND_TIMEOUT',
          `the server did not answer within ${this.#deadlineMs} ms; try again or narrow the request`,
        );
      }, this.#deadlineMs);
      timer.unref();
      this.#pending.set(internalId, { originalId: request.id, resolve, timer });
      onCancel?.(() => {
        if (!this.#pending.has(internalId)) return;
        this.#abort(internalId, 'client disconnected');
        this.#settle(internalId, 'ERR_CANCELLED', 'the client disconnected; the call was cancelled');
      });
      this.onmessage?.({ ...request, id: internalId }, extra);
    });
  }

  /** Tells the server to stop working on a request (only the transport does this, never a client). */
  #abort(internalId: string, reason: string): void {
    if (!this.#pending.has(internalId)) return;
    this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: internalId, reason } });
  }

  #settle(internalId: string, code: ErrorCode, message: string): void {
    const pending = this.#pending.get(internalId);
    if (!pending) return;
    this.#pending.delete(internalId);
    clearTimeout(pending.timer);
    pending.resolve({
      jsonrpc: '2.0',
      id: pending.originalId,
      error: { code: ERROR_TABLE[code].jsonrpc, message, data: { code } },
    });
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    // Responses carry the internal id; server-initiated requests and notifications have nowhere to go
    // in stateless JSON mode and are dropped.
    if (!('id' in message) || typeof message.id !== 'string' || !('result' in message || 'error' in message)) return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    pending.resolve({ ...message, id: pending.originalId } as JSONRPCMessage);
  }
}
