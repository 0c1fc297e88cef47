import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CancelTaskRequestSchema,
  ErrorCode,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListTasksRequestSchema,
  McpError,
  RELATED_TASK_META_KEY,
} from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '@ravenhelm/auth';
import { z } from 'zod';
import { RavenhelmError, toRavenhelmError } from './errors.js';
import type { Logger } from './logging.js';
import { callerOf } from './mcp-server.js';
import type { Pipeline, ToolResult } from './pipeline/pipeline.js';
import { type TaskOutcome, type TaskStore, type TaskView, TERMINAL } from './pipeline/tasks.js';

/** The `tasks` server capability (MCP 2025-11-25): task-augmented tools/call, list and cancel. */
export const TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } } as const;

/** How long one store call may take before the request fails (Redis also bounds each command). */
const STORE_TIMEOUT_MS = 3000;

/** `params.task` of a task-augmented request: an optional ttl in ms (the server clamps it). */
const TaskParams = z.looseObject({ ttl: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() });
const TaskId = z.string().min(1).max(128);

export interface TaskRunnerOptions {
  store: TaskStore;
  pipeline: Pipeline<object>;
  logger: Logger;
  /** A stored result larger than this fails the task (the pipeline already bounds results to the output budget). */
  maxResultBytes: number;
}

async function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new McpError(
            ErrorCode.InternalError,
            `task store did not answer ${what} within ${STORE_TIMEOUT_MS} ms; retry`,
          ),
        ),
      STORE_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (err) {
    if (err instanceof McpError) throw err;
    // The store says which Redis did not answer (host:port, never the password) and what to do.
    if (err instanceof RavenhelmError)
      throw new McpError(err.mapping.jsonrpc, err.message, { code: err.code, ...err.details });
    throw new McpError(ErrorCode.InternalError, `task store unavailable (${what}); retry later`);
  } finally {
    clearTimeout(timer);
  }
}

const notFound = (taskId: string) =>
  new McpError(
    ErrorCode.InvalidParams,
    `Failed to retrieve task: Task not found: '${taskId.slice(0, 64)}' (unknown, expired, or created by another caller)`,
  );

/**
 * Runs task-augmented tool calls in the background of this replica and serves tasks/get, tasks/result,
 * tasks/list and tasks/cancel from the shared store, so any replica can answer them. The call itself
 * goes through `pipeline.call`, exactly like a plain call; its audit outcome is written when it ends.
 */
export class TaskRunner {
  readonly #o: TaskRunnerOptions;
  /** Tasks running on this replica: tasks/cancel aborts them here, other replicas through the store. */
  readonly #running = new Map<string, AbortController>();
  /** Background runs until their outcome is stored: shutdown waits for them before closing the store. */
  readonly #runs = new Set<Promise<void>>();

  constructor(opts: TaskRunnerOptions) {
    this.#o = opts;
  }

  /** Validates `params.task`, creates the task and starts the call; answers CreateTaskResult at once. */
  async start(
    principal: Principal,
    name: string,
    args: Record<string, unknown> | undefined,
    taskParams: unknown,
    preflighted: boolean,
    traceparent?: string,
  ): Promise<{ task: TaskView }> {
    const support = this.#o.pipeline.taskSupport(name);
    if (!support) {
      throw new McpError(
        ErrorCode.MethodNotFound,
        `${name.slice(0, 128)} cannot run as a task; call it without params.task`,
      );
    }
    const params = TaskParams.safeParse(taskParams);
    if (!params.success) {
      throw new McpError(
        ErrorCode.InvalidParams,
        'params.task must be an object with an optional integer ttl in milliseconds',
      );
    }
    const { store } = this.#o;
    const task = await bounded('create', store.create(principal, params.data.ttl, name));
    if (!task) {
      throw new McpError(
        -32000,
        `ERR_RATE_LIMITED: ${store.limits.maxRunning} tasks are already working for this caller; wait for one to finish (tasks/get) or cancel one (tasks/cancel)`,
        { code: 'ERR_RATE_LIMITED' },
      );
    }
    this.#o.logger.info({ taskId: task.taskId, tool: name, subject: principal.subject }, 'task created');
    this.#run(principal, name, args, task, preflighted, traceparent);
    return { task };
  }

  #run(
    principal: Principal,
    name: string,
    args: Record<string, unknown> | undefined,
    task: TaskView,
    preflighted: boolean,
    traceparent: string | undefined,
  ) {
    const { store, pipeline, logger } = this.#o;
    const abort = new AbortController();
    this.#running.set(task.taskId, abort);
    // A cancel that reached another replica is only in the store: look for it while the call runs.
    const watch = setInterval(
      () => {
        store.get(principal, task.taskId).then(
          (t) => {
            if (t?.status === 'cancelled') abort.abort(new Error('task cancelled'));
          },
          () => undefined,
        );
      },
      Math.max(250, task.pollInterval),
    );
    watch.unref();
    // The audit records of the call carry the task id as their request id.
    const run = pipeline
      .call(principal, name, args, { requestId: task.taskId, signal: abort.signal, preflighted, traceparent })
      .then(
        (result): [TaskOutcome, boolean, string] => [
          { result },
          result.isError !== true,
          result.isError ? firstLine(result) : 'completed',
        ],
        (err): [TaskOutcome, boolean, string] => {
          const e = toRavenhelmError(err);
          return [
            { error: { code: e.mapping.jsonrpc, message: e.message, data: { code: e.code, ...e.details } } },
            false,
            `${e.code}: ${e.message}`,
          ];
        },
      )
      .then(async ([outcome, ok, message]) => {
        let stored = outcome;
        const size = Buffer.byteLength(JSON.stringify(outcome));
        if (size > this.#o.maxResultBytes) {
          stored = {
            error: {
              code: -32000,
              message: `the result (${size} bytes) is larger than the task result cap (${this.#o.maxResultBytes} bytes); call the tool without a task or narrow it`,
              data: { code: 'ERR_OUTPUT_TOO_LARGE' },
            },
          };
          ok = false;
          message = 'ERR_OUTPUT_TOO_LARGE';
        }
        const changed = await this.#finish(principal, task, ok ? 'completed' : 'failed', message.slice(0, 500), stored);
        logger.info(
          { taskId: task.taskId, tool: name, status: changed ? (ok ? 'completed' : 'failed') : 'cancelled' },
          'task ended',
        );
      })
      .catch((err: Error) => logger.error({ err: err.message, taskId: task.taskId }, 'task outcome not stored'))
      .finally(() => {
        clearInterval(watch);
        this.#running.delete(task.taskId);
        this.#runs.delete(run);
      });
    this.#runs.add(run);
  }

  /**
   * Stores a task's outcome. The call has run, so its outcome is not dropped when the store blinks: retried
   * with a back-off until the store answers or the task's run deadline passes (after that the task reads
   * as failed with an unknown outcome anyway).
   */
  async #finish(
    principal: Principal,
    task: TaskView,
    status: 'completed' | 'failed',
    message: string,
    outcome: TaskOutcome,
  ): Promise<boolean> {
    const { store, logger } = this.#o;
    const deadline = Date.parse(task.createdAt) + store.limits.runDeadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await store.finish(principal, task.taskId, status, message, outcome);
      } catch (err) {
        const wait = Math.min(100 * 2 ** attempt, 2000);
        if (Date.now() + wait >= deadline) throw err;
        if (attempt === 0) {
          logger.warn({ err: (err as Error).message, taskId: task.taskId }, 'task outcome not stored yet; retrying');
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Waits (at most `ms`) until every task started here has stored its outcome. */
  async drain(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await Promise.race([Promise.all([...this.#runs]), limit]);
    clearTimeout(timer);
  }

  /** tasks/get, tasks/result, tasks/list, tasks/cancel on a v1 server. */
  register(server: Server, localPrincipal: Principal | undefined): void {
    const { store } = this.#o;
    const who = (authInfo: Parameters<typeof callerOf>[0]) => callerOf(authInfo, localPrincipal).principal;
    const idOf = (raw: unknown) => {
      const id = TaskId.safeParse(raw);
      if (!id.success)
        throw new McpError(ErrorCode.InvalidParams, 'taskId must be a non-empty string of at most 128 characters');
      return id.data;
    };

    server.setRequestHandler(GetTaskRequestSchema, async (req, extra) => {
      const taskId = idOf(req.params.taskId);
      const task = await bounded('get', store.get(who(extra.authInfo), taskId));
      if (!task) throw notFound(taskId);
      return task;
    });

    server.setRequestHandler(GetTaskPayloadRequestSchema, async (req, extra) => {
      const taskId = idOf(req.params.taskId);
      const principal = who(extra.authInfo);
      // Blocks until the task ends (the spec says so); bounded, since every task ends by its run deadline.
      for (;;) {
        const task = await bounded('get', store.get(principal, taskId));
        if (!task) throw notFound(taskId);
        if (TERMINAL.has(task.status)) break;
        if (extra.signal.aborted) throw new McpError(ErrorCode.ConnectionClosed, 'request cancelled');
        await new Promise((r) => setTimeout(r, Math.min(task.pollInterval, 500)).unref());
      }
      const outcome = await bounded('result', store.outcome(principal, taskId));
      if (!outcome) throw notFound(taskId);
      if ('error' in outcome) throw new McpError(outcome.error.code, outcome.error.message, outcome.error.data);
      const result = outcome.result as ToolResult;
      return { ...result, _meta: { ...(result._meta ?? {}), [RELATED_TASK_META_KEY]: { taskId } } };
    });

    server.setRequestHandler(ListTasksRequestSchema, async (req, extra) => {
      const cursor = req.params?.cursor;
      if (cursor !== undefined && !/^[0-9]{1,6}$/.test(cursor)) {
        throw new McpError(
          ErrorCode.InvalidParams,
          'invalid tasks/list cursor; pass back the nextCursor of the previous page',
        );
      }
      const page = await bounded('list', store.list(who(extra.authInfo), cursor));
      return page as never;
    });

    server.setRequestHandler(CancelTaskRequestSchema, async (req, extra) => {
      const taskId = idOf(req.params.taskId);
      const principal = who(extra.authInfo);
      const answer = await bounded('cancel', store.cancel(principal, taskId));
      if (!answer) throw notFound(taskId);
      if (answer === 'terminal') {
        const status = (await bounded('get', store.get(principal, taskId)))?.status ?? 'finished';
        throw new McpError(ErrorCode.InvalidParams, `Cannot cancel task: already in terminal status '${status}'`);
      }
      this.#running.get(taskId)?.abort(new Error('task cancelled'));
      return answer as never;
    });
  }
}

function firstLine(result: ToolResult): string {
  const text = result.content.find((c) => c.type === 'text')?.text ?? 'failed';
  return text.split('\n', 1)[0] ?? 'failed';
}
