import type { ToolSpec } from '@ravenhelm/registry';
import type { z } from 'zod';
import type { BackendRecorder } from './backend-metrics.js';
import type { Logger } from './logging.js';
import type { RedisLike } from './pipeline/redis.js';
import { type AnyTool, toSpec } from './tool.js';

/** Everything the kit needs to run one server: its tools, its backend config and how to reach the backend. */
export interface ServerDefinition<S extends object = object, C extends z.ZodObject = z.ZodObject> {
  /** Short name: 'docker', 'observability'. Scopes are `mcp:<name>:<level>`. */
  name: string;
  version: string;
  description: string;
  /** Default HTTP port; each server has its own so several run side by side (docker 8701, observability 8702, ...). */
  defaultPort?: number;
  tools: readonly AnyTool<S>[];
  /**
   * The toolsets a session starts with when dynamic toolsets are on (RAVENHELM_TOOLSETS=default): the
   * common on-call questions. The others are enabled at run time with toolsets_enable.
   */
  defaultToolsets?: readonly string[];
  /** One line per toolset for toolsets_list (default: the titles of its tools). */
  toolsetDescriptions?: Readonly<Record<string, string>>;
  /** The zod schema of this server's `backend` config section (defaults for every field the demo needs). */
  backendConfig: C;
  /** Environment variables that set backend config fields: `{ DOCKER_HOST: 'host' }` (dot paths allowed). */
  backendEnv?: Readonly<Record<string, string>>;
  /** Dot paths in the backend section that hold secrets: redacted in --print-config and logs. */
  secretPaths?: readonly string[];
  /**
   * Builds the services every handler receives (backend clients). Called once per process. `ctx.redis` is the runtime's Redis client when `redis.url` is configured (owned by
   * the runtime: never quit it), for state replicas must share. `ctx.metrics`: where backend clients report
   * their calls and slots (ravenhelm_backend_*); absent when the runtime keeps no metrics.
   */
  createServices(
    config: z.output<C>,
    ctx: { logger: Logger; redis?: RedisLike; metrics?: BackendRecorder },
  ): Promise<S> | S;
  /** Throws when the backend does not answer; drives /readyz. */
  ready?(services: S, signal: AbortSignal): Promise<void>;
  close?(services: S): Promise<void>;
}

export function defineServer<S extends object, C extends z.ZodObject>(
  def: ServerDefinition<S, C>,
): ServerDefinition<S, C> {
  return def;
}

/** The registry's view of a server's tools (no handlers): what the registry CLI, docs and snapshots read. */
// biome-ignore lint/suspicious/noExplicitAny: any server's services type
export function specsOf(def: { name: string; tools: readonly AnyTool<any>[] }): ToolSpec[] {
  return def.tools.map((tool) => toSpec(def.name, tool));
}
