import { randomUUID } from 'node:crypto';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type JSONRPCMessage,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
  ErrorCode as SdkErrorCode,
} from '@modelcontextprotocol/sdk/types.js';
import { ERROR_TABLE, type ErrorCode } from '../errors.js';

/** Why the transport's owner stops a call: its caller hung up, or asked (notifications/cancelled for its own call). */
export type CancelReason = 'disconnected' | 'cancelled';
/** Stops one dispatched call: aborts it inside the server and settles it with ERR_CANCELLED. */
export type CancelCall = (why?: CancelReason) => void;

type Pending = {
  originalId: RequestId;
  resolve: (message: JSONRPCMessage) => void;
  timer: NodeJS.Timeout;
  /** Set for a call run in-process (`run`): aborts its signal; otherwise the server is told by notification. */
  abort?: (reason: string) => void;
};

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
  /** Keys of in-process calls: never sent to the server, so no response of the server can name one. */
  #directSeq = 0;

  constructor(opts: MultiplexOptions = {}) {
    this.#deadlineMs = opts.deadlineMs ?? 120_000;
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) {
      this.#pending.get(id)?.abort?.('the server shut down');
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
    onCancel?: (cancel: CancelCall) => void,
  ): Promise<JSONRPCMessage> {
    if (this.#closed || !this.onmessage) return Promise.reject(new Error('transport is closed'));
    const internalId = randomUUID();
    return new Promise<JSONRPCMessage>((resolve, reject) => {
      this.#pending.set(internalId, { originalId: request.id, resolve, timer: this.#deadline(internalId) });
      onCancel?.((why) => this.#cancel(internalId, why));
      try {
        this.onmessage?.({ ...request, id: internalId }, extra);
      } catch (err) {
        // The server refused the message outright: nothing will answer it, so nothing may wait for it.
        const pending = this.#pending.get(internalId);
        if (pending) clearTimeout(pending.timer);
        this.#pending.delete(internalId);
        reject(err);
      }
    });
  }

  /**
   * Runs one request in-process, without the server's Protocol (the tools/call fast path), under the
   * same rules as `dispatch`: the same deadline backstop, cancellation only through `onCancel` (the
   * transport's own), shutdown settles it, and it settles exactly once. `handler` gets the call's own
   * controller (the transport aborts it on cancel, deadline or shutdown; the handler may abort it on its
   * own deadline and still answer); its result or error becomes the JSON-RPC response exactly as the
   * SDK's Protocol builds it. An answer after the transport settled the call is dropped.
   */
  run(
    request: JSONRPCRequest,
    handler: (controller: AbortController) => Promise<unknown>,
    onCancel?: (cancel: CancelCall) => void,
  ): Promise<JSONRPCMessage> {
    if (this.#closed) return Promise.reject(new Error('transport is closed'));
    const key = `direct:${++this.#directSeq}`;
    const controller = new AbortController();
    return new Promise<JSONRPCMessage>((resolve) => {
      const pending: Pending = {
        originalId: request.id,
        resolve,
        timer: this.#deadline(key),
        abort: (reason) => controller.abort(reason),
      };
      this.#pending.set(key, pending);
      onCancel?.((why) => this.#cancel(key, why));
      let running: Promise<unknown>;
      try {
        running = handler(controller);
      } catch (err) {
        running = Promise.reject(err);
      }
      running.then(
        (result) => this.#answer(key, { result, jsonrpc: '2.0', id: request.id } as JSONRPCMessage),
        (error) => this.#answer(key, { jsonrpc: '2.0', id: request.id, error: protocolError(error) }),
      );
    });
  }

  #deadline(key: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#abort(key, 'deadline passed');
      this.#settle(
        key,
        'ERR_BACKEND_TIMEOUT',
        `the server did not answer within ${this.#deadlineMs} ms; try again or narrow the request`,
      );
    }, this.#deadlineMs);
    timer.unref();
    return timer;
  }

  #cancel(key: string, why: CancelReason = 'disconnected'): void {
    if (!this.#pending.has(key)) return;
    if (why === 'cancelled') {
      this.#abort(key, 'client cancelled');
      this.#settle(key, 'ERR_CANCELLED', 'the client cancelled the call (notifications/cancelled)');
      return;
    }
    this.#abort(key, 'client disconnected');
    this.#settle(key, 'ERR_CANCELLED', 'the client disconnected; the call was cancelled');
  }

  /** Tells the server to stop working on a request (only the transport does this, never a client). */
  #abort(internalId: string, reason: string): void {
    const pending = this.#pending.get(internalId);
    if (!pending) return;
    if (pending.abort) pending.abort(reason);
    else
      this.onmessage?.({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: internalId, reason },
      });
  }

  /** Settles a pending request with its answer (the original id already in place). */
  #answer(key: string, message: JSONRPCMessage): void {
    const pending = this.#pending.get(key);
    if (!pending) return;
    this.#pending.delete(key);
    clearTimeout(pending.timer);
    pending.resolve(message);
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
    if (!pending || pending.abort) return;
    this.#answer(message.id, { ...message, id: pending.originalId } as JSONRPCMessage);
  }
}

/** A handler's failure as the SDK's Protocol answers it (code, message, data when present). */
function protocolError(error: unknown): { code: number; message: string; data?: unknown } {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; data?: unknown };
  return {
    code: Number.isSafeInteger(e.code) ? (e.code as number) : SdkErrorCode.InternalError,
    message: (e.message as string | undefined) ?? 'Internal error',
    ...(e.data !== undefined ? { data: e.data } : {}),
  };
}
