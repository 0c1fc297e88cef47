/** Schemas and summaries shared by the tools: container references, states, health. */
import { clipChars, compileUserPattern, ToolError, withoutUrlPasswords } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import type { DockerBackend } from './backend.js';

export const COMPOSE_PROJECT_LABEL = 'com.docker.compose.project';
export const COMPOSE_SERVICE_LABEL = 'com.docker.compose.service';

export const ContainerRef = z
  .string()
  .max(128)
  .regex(
    /^\/?[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    'must be a container name or id: letters, digits, "_", "." and "-", starting with a letter or digit',
  )
  .transform((s) => s.replace(/^\//, ''))
  .describe('Name or id (prefix)');

/**
 * C0 and C1 controls and DEL, shown as U+FFFD: a newline (or an ANSI escape) in a service label must not start
 * a line of its own, or recolour, the merged log text compose_get_logs prefixes with it.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * A label value as answers show it (compose project and service): labels are free text of any length (the
 * engine sets no limit), so one set by hand could fill the output budget; a compose name is at most 128.
 */
export const LABEL_SHOWN_CHARS = 200;
export const labelShown = (value: string): string =>
  clipChars(value.replace(CONTROL_CHARS, '\uFFFD'), LABEL_SHOWN_CHARS);
/** A label's value as answers show it (labelShown), null when the container has no such label. */
export const labelOf = (labels: Record<string, string> | undefined, key: string): string | null => {
  const value = labels?.[key];
  return value === undefined ? null : labelShown(value);
};
/** A container's compose service as answers show it (labelShown). */
export const serviceOf = (c: Docker.ContainerInfo): string =>
  labelShown(c.Labels?.[COMPOSE_SERVICE_LABEL] ?? '(no service label)');

export const ComposeProjectName = z
  .string()
  .max(128)
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a compose project name: lowercase letters, digits, "_" and "-"')
  .describe('Compose project (-p) name');

export const HEALTH_VALUES = ['healthy', 'unhealthy', 'starting', 'none'] as const;
export const Health = z
  .enum(HEALTH_VALUES)
  .describe('Healthcheck status; "none" when the container has no healthcheck');
export type HealthStatus = z.infer<typeof Health>;

export const STATUS_VALUES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'] as const;

const isoOrNull = z.string().nullable();

export const ContainerState = z.object({
  id: z.string().describe('Short container id (12 hex digits)'),
  name: z.string(),
  state: z.string().describe('Engine state: created, running, restarting, paused, exited, dead...'),
  running: z.boolean(),
  health: Health,
  exitCode: z.number().int().nullable().describe('Last exit code; null while it has never exited'),
  oomKilled: z.boolean(),
  restartCount: z.number().int().describe('Restarts by the engine restart policy'),
  startedAt: isoOrNull,
  finishedAt: isoOrNull,
});
export type ContainerStateT = z.infer<typeof ContainerState>;

export const shortId = (id: string): string => id.slice(0, 12);
export const nameOf = (names: readonly string[] | string | undefined): string => {
  const first = Array.isArray(names) ? names[0] : names;
  return (first ?? '').replace(/^\//, '');
};

/**
 * A container's name as answers show it: the engine sets no length limit on names (tens of kilobytes are
 * accepted), so one could fill the output budget by itself; longer ones end in "…". Identity checks (exec
 * allowlists, event filters) use nameOf.
 */
export const NAME_SHOWN_CHARS = 200;
export const nameShown = (names: readonly string[] | string | undefined): string =>
  clipChars(nameOf(names), NAME_SHOWN_CHARS);

/** Longest command a summary shows; longer ones end in "…" (docker ps cuts at 20). */
export const COMMAND_MAX_CHARS = 60;

export const REDACTED = '[redacted]';

// A secret-looking option or variable name (`--password`, `--db-token`, `API_KEY`, `PGPASSWORD`), not a file
// or path naming where the secret lives (`--password-file`, `TOKEN_PATH`).
const SECRET_WORD =
  '(?:password|passwd|passphrase|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credentials?)';
const SECRET_VALUE = '(\'[^\']*\'|"[^"]*"|[^\\s\'"]+)';
/**
 * Where a shell word can begin in a command line: after whitespace, and after the operators and quotes a
 * shell reads a new word after (`cd /app&&DB_PASSWORD=x run`, `true|TOKEN=x`, `(KEY=x run)`, `'--password=x'`).
 */
const WORD_START = `(?:^|[\\s;'"&|()\`{}<>])`;
/** `--password=x`, `--password x`, `-token x`, `"--token" x`: a flag with a secret name and its value. */
const SECRET_FLAG = new RegExp(
  `(${WORD_START}--?[A-Za-z0-9_.-]*${SECRET_WORD}(?![A-Za-z0-9_.-]*(?:file|path|dir))[A-Za-z0-9_.-]*['"]?)(=|\\s+(?!-))${SECRET_VALUE}`,
  'gi',
);
/** `DB_PASSWORD=x`, `PGPASSWORD=x` (an assignment in a shell command). */
const SECRET_ASSIGNMENT = new RegExp(
  `(${WORD_START})([A-Za-z0-9_]*${SECRET_WORD}(?![A-Za-z0-9_]*(?:file|path|dir))[A-Za-z0-9_]*=)${SECRET_VALUE}`,
  'gi',
);
/** mysql-style `-pSECRET` (the password glued to -p), only in a mysql/mariadb command line. */
const MYSQL_COMMAND = /\b(mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b/i;
const MYSQL_PASSWORD = /(\s-p)(?=[^\s-])(\S+)/g;

/**
 * A command line with the credentials it carries replaced by `[redacted]`: passwords in URLs
 * (`postgres://app:pw@db`), values of secret-named flags and variables (`--password=pw`, `--token pw`,
 * `DB_PASSWORD=pw`) and mysql's `-ppw`. Never shown, not even in part.
 */
export function redactCommand(command: string): string {
  let out = withoutUrlPasswords(command);
  out = out.replace(SECRET_FLAG, (_m, flag: string, sep: string) => `${flag}${sep}${REDACTED}`);
  out = out.replace(SECRET_ASSIGNMENT, (_m, lead: string, name: string) => `${lead}${name}${REDACTED}`);
  if (MYSQL_COMMAND.test(out)) out = out.replace(MYSQL_PASSWORD, `$1${REDACTED}`);
  return out;
}

/**
 * The container's command as the engine lists it, credentials redacted (redactCommand), then cut to
 * COMMAND_MAX_CHARS code points with a trailing "…" (redacting first: a cut must not keep part of a secret).
 */
export function commandOf(command: string | undefined): string {
  // only the start is shown: redacting a bounded prefix keeps this cheap on a huge command line
  // whitespace controls read as a space; any other control (an escape sequence's ESC, BEL, C1) as U+FFFD
  const shown = redactCommand((command ?? '').slice(0, 4096))
    .replace(/[\t\n\r]/g, ' ')
    .replace(CONTROL_CHARS, '\uFFFD');
  const chars = Array.from(shown);
  return chars.length > COMMAND_MAX_CHARS ? `${chars.slice(0, COMMAND_MAX_CHARS - 1).join('')}…` : chars.join('');
}

/**
 * The list endpoint's ports in `docker ps` notation: "127.0.0.1:8080->80/tcp" when published, "80/tcp" when
 * only exposed; IPv6 hosts in brackets. Identical entries are kept once, in the engine's order.
 */
export function portsOf(ports: readonly Docker.Port[] | undefined): string[] {
  const out = new Set<string>();
  for (const p of ports ?? []) {
    const target = `${p.PrivatePort}/${p.Type}`;
    if (!p.PublicPort) {
      out.add(target);
      continue;
    }
    const host = p.IP ? (p.IP.includes(':') ? `[${p.IP}]:` : `${p.IP}:`) : '';
    out.add(`${host}${p.PublicPort}->${target}`);
  }
  return [...out];
}

/** Docker reports never-set times as year 1. */
export function dockerTime(value: string | undefined): string | null {
  if (!value || value.startsWith('0001-01-01')) return null;
  return value;
}

export function healthOfInspect(info: Docker.ContainerInspectInfo): HealthStatus {
  const s = info.State.Health?.Status;
  return s === 'healthy' || s === 'unhealthy' || s === 'starting' ? s : 'none';
}

/**
 * Whether its health check failed. The engine also shows "unhealthy" for every stopped container that has a
 * healthcheck (moby sets it as the container stops, FailingStreak 0, its checks passing): that is the stop,
 * not a failed check, and a cleanly stopped service is no health problem.
 */
export function failedHealthcheck(info: Docker.ContainerInspectInfo): boolean {
  const h = info.State.Health;
  if (h?.Status !== 'unhealthy') return false;
  return (info.State.Running && !info.State.Restarting) || h.FailingStreak > 0;
}

/**
 * How recent a policy restart must be for the container to count as restarting. The engine's restart manager
 * (moby restartmanager/restartmanager.go) waits 100 ms before a restart, doubling up to one minute, and resets
 * that only after a run of 10 s or more: a container in a crash loop is "running" between exits, and
 * "restarting" only while it waits.
 */
export const RESTART_LOOP_MS = 60_000;

/**
 * Whether the engine is bringing the container back again and again: restarting now, or running after a
 * restart by its policy (RestartCount counts those since the last start by hand) from an exit less than
 * RESTART_LOOP_MS ago. Returns the milliseconds since that exit (0 while restarting), else undefined.
 */
export function restartLoopOf(info: Docker.ContainerInspectInfo, nowMs = Date.now()): number | undefined {
  if (info.State.Restarting) return 0;
  if (!(info.RestartCount > 0) || !info.State.Running) return undefined;
  const finished = Date.parse(dockerTime(info.State.FinishedAt) ?? '');
  if (!Number.isFinite(finished)) return undefined;
  const since = Math.max(0, nowMs - finished);
  return since < RESTART_LOOP_MS ? since : undefined;
}

/** The list endpoint only has health inside the human status text: "Up 5 minutes (healthy)". */
export function healthOfStatusText(status: string): HealthStatus {
  if (/\(healthy\)/.test(status)) return 'healthy';
  if (/\(unhealthy\)/.test(status)) return 'unhealthy';
  if (/\(health: starting\)/.test(status)) return 'starting';
  return 'none';
}

export function stateOf(info: Docker.ContainerInspectInfo): ContainerStateT {
  const neverExited = dockerTime(info.State.FinishedAt) === null && info.State.ExitCode === 0;
  return {
    id: shortId(info.Id),
    name: nameShown(info.Name),
    state: info.State.Status,
    // a paused container's process is frozen: the engine keeps Running true, but nothing runs
    running: info.State.Running && !info.State.Restarting && !info.State.Paused,
    health: healthOfInspect(info),
    exitCode: neverExited ? null : info.State.ExitCode,
    oomKilled: info.State.OOMKilled,
    restartCount: info.RestartCount,
    startedAt: dockerTime(info.State.StartedAt),
    finishedAt: dockerTime(info.State.FinishedAt),
  };
}

export type WaitTarget = 'running' | 'healthy' | 'stopped';

export interface WaitResult {
  info: Docker.ContainerInspectInfo;
  target: WaitTarget;
  reached: boolean;
  waitedMs: number;
}

/**
 * Healthy when the container has a healthcheck: State.Health, or (before its first start, when the engine has
 * no State.Health yet) a configured test that is not ["NONE"] (--no-healthcheck).
 */
export function targetAfterStart(info: Docker.ContainerInspectInfo): WaitTarget {
  const test = info.Config?.Healthcheck?.Test ?? [];
  return info.State.Health || (test.length > 0 && test[0] !== 'NONE') ? 'healthy' : 'running';
}

function reachedTarget(info: Docker.ContainerInspectInfo, target: WaitTarget): boolean {
  const running = info.State.Running && !info.State.Restarting;
  if (target === 'stopped') return !info.State.Running && !info.State.Restarting;
  if (target === 'running') return running;
  return running && info.State.Health?.Status === 'healthy';
}

/** A container that exited on its own (and will not be restarted by the engine) will not reach running. */
function hopeless(info: Docker.ContainerInspectInfo, target: WaitTarget): boolean {
  return target !== 'stopped' && !info.State.Running && !info.State.Restarting;
}

/**
 * Polls the container until it reaches `target` (running; healthy when it has a healthcheck; or stopped),
 * gives up early when it exits, and stops at `timeoutMs`. Never throws on timeout: the caller reports it.
 * "running" must hold for `settleMs` (same StartedAt seen twice that far apart), so a process that
 * crashes right after start is not reported as a success.
 */
export async function waitFor(
  docker: DockerBackend,
  ref: string,
  target: WaitTarget,
  timeoutMs: number,
  signal: AbortSignal,
  opts: { pollMs?: number; settleMs?: number } = {},
): Promise<WaitResult> {
  const pollMs = opts.pollMs ?? 250;
  const settleMs = Math.min(opts.settleMs ?? 1000, timeoutMs);
  const started = Date.now();
  const deadline = started + timeoutMs;
  let runningSince: { startedAt: string; at: number } | undefined;
  let firstRestartCount: number | undefined;
  let sawRestarting = false;
  for (;;) {
    const info = await docker.inspect(ref, signal);
    const now = Date.now();
    firstRestartCount ??= info.RestartCount;
    // RestartCount grows when a run exits, not when the policy starts the next: a wait that began during the
    // policy's backoff sees the next run with the same count
    const restartedMeanwhile = sawRestarting || info.RestartCount > firstRestartCount;
    sawRestarting ||= info.State.Restarting;
    let reached = reachedTarget(info, target);
    if (target === 'running') {
      if (!reached) runningSince = undefined;
      else if (runningSince?.startedAt !== info.State.StartedAt)
        runningSince = { startedAt: info.State.StartedAt, at: now };
      const stable = reached && runningSince !== undefined && now - runningSince.at >= settleMs;
      // At the deadline, report what is true now; but a run the engine's restart policy began during the wait
      // (it exited again) is a crash loop caught between exits, not a reached target.
      if (!stable && (now + pollMs <= deadline || restartedMeanwhile)) reached = false;
    }
    if (reached || hopeless(info, target) || now + pollMs > deadline) {
      return { info, target, reached, waitedMs: now - started };
    }
    await sleep(pollMs, signal);
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted)
      return reject(new ToolError('ERR_BACKEND_TIMEOUT', 'the call was cancelled while waiting for the container'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ToolError('ERR_BACKEND_TIMEOUT', 'the call was cancelled while waiting for the container'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `fn` over items with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Compiles a grep pattern: substring by default, or a regex run on the linear-time engine (RE2 syntax). */
export function compileGrep(
  pattern: string | undefined,
  mode: 'substring' | 'regex',
  ignoreCase: boolean,
): ((text: string) => boolean) | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  if (mode === 'substring') {
    const needle = ignoreCase ? pattern.toLowerCase() : pattern;
    return ignoreCase ? (t) => t.toLowerCase().includes(needle) : (t) => t.includes(needle);
  }
  const re = compileUserPattern(pattern, { field: 'grep', ignoreCase });
  return (t) => re.test(t);
}
