/**
 * What the HTTP layer needs to tell a 2026-07-28 request from a 2025-11-25 one before the SDK v2
 * side is loaded. The v2 server (`./modern.ts`, `@modelcontextprotocol/server`) is imported and
 * connected on the first request that claims the new protocol: a deployment whose clients all speak
 * 2025-11-25 never pays its memory (about 4 MB) or start-up time.
 */
import type { IncomingMessage } from 'node:http';
import type { classifyEra } from './modern.js';
import type { MultiplexTransport } from './multiplex.js';

export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/** The `_meta` key a 2026-07-28 request names its protocol version under (the SDK's PROTOCOL_VERSION_META_KEY). */
export const ENVELOPE_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';

/** Whether a parsed message claims the 2026-07-28 per-request `_meta` envelope (any version value). */
export function hasEnvelopeClaim(message: unknown): boolean {
  const meta = (message as { params?: { _meta?: unknown } } | null)?.params?._meta;
  return meta !== null && typeof meta === 'object' && ENVELOPE_VERSION_KEY in meta;
}

/** The loaded 2026-07-28 side: its long-lived server's transport and the SDK's era classifier. */
export interface ModernSide {
  transport: MultiplexTransport;
  classifyEra: (req: IncomingMessage, parsed: unknown) => ReturnType<typeof classifyEra>;
}

/** The 2026-07-28 side, loaded once on first use; a failed load is retried by the next request. */
export interface ModernLink {
  load(): Promise<ModernSide>;
  /** Closes the v2 server if it was ever loaded. */
  close(): Promise<void>;
}

export function lazyModern(connect: () => Promise<ModernSide>): ModernLink {
  let loading: Promise<ModernSide> | undefined;
  return {
    load() {
      loading ??= connect().catch((err: unknown) => {
        loading = undefined;
        throw err;
      });
      return loading;
    },
    async close() {
      const side = await loading?.catch(() => undefined);
      await side?.transport.close();
    },
  };
}
