import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, JSONRPCRequest, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';

type Pending = { originalId: RequestId; resolve: (message: JSONRPCMessage) => void };

/**
 * A transport that lets one long-lived MCP server answer many concurrent stateless HTTP requests.
 * Each request's JSON-RPC id is remapped to a unique internal id so two clients that both send id 1
 * never collide, and the response is routed back to the HTTP request that asked.
 * (The SDK's documented stateless pattern builds a server per request; this is ~10x faster.)
 */
export class MultiplexTransport implements Transport {
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #closed = false;

  async start(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
    this.#pending.clear();
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
    const internalId = this.#next++;
    if (this.#next > Number.MAX_SAFE_INTEGER - 1) this.#next = 1;
    return new Promise<JSONRPCMessage>((resolve) => {
      this.#pending.set(internalId, { originalId: request.id, resolve });
      onCancel?.(() => {
        if (!this.#pending.delete(internalId)) return;
        this.onmessage?.({
          jsonrpc: '2.0',
          method: 'notifications/cancelled',
          params: { requestId: internalId, reason: 'client disconnected' },
        });
      });
      this.onmessage?.({ ...request, id: internalId }, extra);
    });
  }

  /** Delivers a client notification (e.g. notifications/initialized). */
  notify(message: JSONRPCMessage, extra: MessageExtraInfo): void {
    this.onmessage?.(message, extra);
  }

  async send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    // Responses carry the internal id; server-initiated requests and notifications have nowhere to go
    // in stateless JSON mode and are dropped.
    if (!('id' in message) || message.id === undefined || !('result' in message || 'error' in message)) return;
    const pending = this.#pending.get(message.id as number);
    if (!pending) return;
    this.#pending.delete(message.id as number);
    pending.resolve({ ...message, id: pending.originalId } as JSONRPCMessage);
  }
}
