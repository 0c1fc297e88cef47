import { createRequire } from 'node:module';
import { type AnyTool, defineServer, specsOf } from '@ravenhelm/kit';
import { z } from 'zod';
import { DockerBackend } from './backend.js';
import { parseDockerHost } from './engine-errors.js';
import { EventHistory } from './event-history.js';
import { RedisRestartStore, RestartBudget } from './restart-budget.js';
import { composeTools } from './tools/compose.js';
import { containerTools } from './tools/containers.js';
import type { DockerServices } from './tools/define.js';
import { eventTools } from './tools/events.js';
import { execTools } from './tools/exec.js';
import { healthTools } from './tools/health.js';
import { logTools } from './tools/logs.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Every tool of the Docker server, in the order tools/list shows them. */
export const tools: readonly AnyTool<DockerServices>[] = [
  ...containerTools,
  ...logTools,
  ...healthTools,
  ...eventTools,
  ...composeTools,
  ...execTools,
];

/** How long after start the event history first reads the engine (see createServices). */
const HISTORY_START_DELAY_MS = 2000;

export const DockerBackendConfig = z.object({
  host: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      if (value === undefined || value === '') return;
      try {
        parseDockerHost(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .describe('DOCKER_HOST: tcp://host:port or unix:///path; wins over socketPath'),
  socketPath: z.string().min(1).default('/var/run/docker.sock').describe('Docker Engine unix socket'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(10_000)
    .describe('Per-call timeout for Docker Engine API calls'),
  maxResponseBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .max(256 * 1024 * 1024)
    .default(8 * 1024 * 1024)
    .describe('Cap on one JSON answer from the engine (container lists, inspect); larger answers are refused'),
  maxConcurrentCalls: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .default(16)
    .describe('Engine calls in flight at once (log and exec streams included); more wait within their deadline'),
  restartBudget: z
    .object({
      maxRestarts: z
        .number()
        .int()
        .min(1)
        .max(100)
        .default(3)
        .describe('Restarts (and starts) allowed per container within the window'),
      windowSeconds: z.number().int().min(1).max(86_400).default(600).describe('Sliding window of the restart budget'),
    })
    .prefault({})
    .describe('Stops an agent from restarting a crash-looping container again and again'),
  eventHistory: z
    .object({
      maxEvents: z
        .number()
        .int()
        .min(0)
        .max(1_000_000)
        .default(10_000)
        .describe('Container events kept, execs aside (about 200 bytes each); 0 turns the history off'),
      maxExecEvents: z
        .number()
        .int()
        .min(0)
        .max(1_000_000)
        .default(2_000)
        .describe('Exec events kept (a health check makes three per run)'),
    })
    .prefault({})
    .describe(
      'The engine keeps only its latest 256 events: the server reads its event stream while it runs so events_list reaches further back',
    ),
});

export const dockerServer = defineServer({
  name: 'docker',
  version,
  defaultPort: 8701,
  description: 'Docker Engine: containers, health, logs, compose projects, allowlisted exec',
  tools,
  /** What on-call asks first; the rest is one toolsets_enable away (RAVENHELM_TOOLSETS=default). */
  defaultToolsets: ['containers', 'logs', 'health', 'events'],
  backendConfig: DockerBackendConfig,
  backendEnv: { DOCKER_HOST: 'host' },
  createServices: (config, { redis, metrics, logger }): DockerServices => {
    const docker = new DockerBackend({
      host: config.host || undefined,
      socketPath: config.socketPath,
      timeoutMs: config.timeoutMs,
      maxResponseBytes: config.maxResponseBytes,
      maxConcurrentCalls: config.maxConcurrentCalls,
      metrics,
    });
    const { maxEvents, maxExecEvents } = config.eventHistory;
    // Read from the start, so events_list knows what happened before its first call; a failure to read is
    // logged and retried, never a failed start (the engine may come up later). The first read waits until
    // the server is up: it loads dockerode, which the start-up path leaves out, and loses nothing (the
    // engine replays the events it still holds).
    const events = maxEvents > 0 ? new EventHistory(docker, { maxEvents, maxExecEvents, logger }) : undefined;
    events?.start(HISTORY_START_DELAY_MS);
    return {
      docker,
      // With Redis configured, replicas share one budget per container (and refuse restarts while it is down).
      restartBudget: new RestartBudget(config.restartBudget, redis ? { store: new RedisRestartStore(redis) } : {}),
      ...(events ? { events } : {}),
    };
  },
  ready: async ({ docker }, signal) => {
    await docker.ping(signal);
  },
  close: async ({ events }) => {
    // dockerode keeps no pooled connections of its own; the event stream is the one thing to end.
    events?.close();
  },
});

/** The registry's view of this server's tools: read by the registry CLI, docs and snapshots. */
export const toolSpecs = specsOf(dockerServer);

export { DockerBackend, type DockerBackendOptions, UNTIL_SCAN_LINES } from './backend.js';
export { parseDockerHost } from './engine-errors.js';
export { EventHistory, type EventHistoryOptions, type HistoryView } from './event-history.js';
export {
  MemoryRestartStore,
  RedisRestartStore,
  RestartBudget,
  type RestartBudgetOptions,
  type RestartBudgetStore,
  type TakenRestart,
} from './restart-budget.js';
export type { DockerServices } from './tools/define.js';
export { ExecOptions, ExecRule } from './tools/exec-allowlist.js';
