import { type ConfirmationStore, createToolDefiner, type RedisLike } from '@ravenhelm/kit';
import type { SecretsBackend } from '../backend.js';
import type { StrengthPolicy } from '../checks.js';
import type { FileScanOptions } from '../files.js';

/** What every Secrets tool handler receives besides the base context. */
export interface SecretsServices {
  sm: SecretsBackend;
  /** Server-side key for value fingerprints (never leaves the process). */
  fingerprintKey: Buffer;
  strength: StrengthPolicy;
  files: FileScanOptions;
  /** Single-use tokens for the reveal round-trip of secrets_get (in-process). */
  reveals: ConfirmationStore;
  revealTtlSeconds: number;
  /** Shared store for reveal tokens across replicas, when configured. */
  redis?: RedisLike & { quit(): Promise<unknown> };
}

// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<SecretsServices>> = createToolDefiner<SecretsServices>();
