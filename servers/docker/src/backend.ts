import type { IncomingMessage } from 'node:http';
import {
  BackendCall,
  type BackendRecorder,
  type BackendSeries,
  loadOnce,
  outcomeOfError,
  Semaphore,
  ToolError,
} from '@ravenhelm/kit';
import type Docker from 'dockerode';
import type { DockerModem } from './engine-client.js';
import { type DockerEndpoint, engineError, parseDockerHost } from './engine-errors.js';
import { Demuxer, type Frame, LastLines, type Line, LineSplitter, type StreamFormat, TailWindow } from './stream.js';

export interface DockerBackendOptions {
  /** DOCKER_HOST form: `tcp://host:port` or `unix:///path/to/docker.sock`. Wins over socketPath. */
  host?: string | undefined;
  socketPath: string;
  /** Per-call limit for ordinary API calls. */
  timeoutMs: number;
  /** Cap on one JSON answer from the engine (default 8 MiB); reading stops as soon as it is passed. */
  maxResponseBytes?: number | undefined;
  /** Engine calls in flight at once (default 16), log and exec streams included; more wait in a queue. */
  maxConcurrentCalls?: number | undefined;
  /** Where engine calls and slot waits are recorded (ravenhelm_backend_*{backend="docker"}). */
  metrics?: BackendRecorder | undefined;
}

export const DEFAULT_DOCKER_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_DOCKER_MAX_CONCURRENT_CALLS = 16;

export interface ListFilters {
  name?: string[];
  label?: string[];
  status?: string[];
  health?: string[];
  id?: string[];
}

export interface LogOptions {
  tail: number | 'all';
  /** Unix seconds. */
  since?: number | undefined;
  until?: number | undefined;
  stdout: boolean;
  stderr: boolean;
  timestamps?: boolean;
  /**
   * The container's `Config.Tty` from inspect: its log is raw bytes (true) or multiplexed frames (false).
   * Without it the first bytes are sniffed, which misreads a TTY whose output begins like a frame header.
   */
  tty?: boolean | undefined;
  /** Bytes of matched lines kept while reading (newest win). */
  keepBytes: number;
  /** Lines not passing the filter are counted as scanned but not kept. */
  filter?: (line: Line) => boolean;
  /** Turns a matching line into what the answer shows, before it is sized and kept: totals count this form. */
  render?: (line: Line) => Line;
  /**
   * When the read times out or `signal` aborts after whole lines came: answer those (the oldest of the read,
   * its newest missing) with `cut`, instead of failing.
   */
  partial?: boolean;
}

/** A read ended before the engine finished sending: what came, and whether the backend's timeout ended it. */
export interface LogCut {
  bytes: number;
  timedOut: boolean;
  timeoutMs: number;
  /** The timestamp of the newest line read, when lines carry one (the log tools set it). */
  newestRead?: string;
}

export interface LogResult {
  lines: Line[];
  /** Lines read from the engine. */
  scanned: number;
  /** Lines that passed the filter. */
  matched: number;
  /** Matched lines dropped to stay within keepBytes (the oldest). */
  dropped: number;
  /** Bytes of the dropped lines as rendered, one newline each. */
  droppedBytes: number;
  /** With `until`: fewer than `tail` lines were found before it among the newest `lines` lines of the log. */
  scanLimit?: { lines: number };
  /** Set when the read was cut (LogOptions.partial): the lines are the oldest of it. */
  cut?: LogCut;
}

/** With `until`, the newest lines read at most (doubling windows), and the bytes one window may read. */
export const UNTIL_SCAN_LINES = 262_144;
export const UNTIL_SCAN_BYTES = 64 * 1024 * 1024;

export interface ExecResult {
  exitCode: number | null;
  /** The last maxBytesPerStream bytes written, as written (exec_run decides how to show them). */
  stdout: Buffer;
  stderr: Buffer;
  stdoutBytes: number;
  stderrBytes: number;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  /** True when the command was still running at the end (after a timeout). */
  stillRunning: boolean;
  durationMs: number;
}

interface DialOptions {
  path: string;
  method: 'GET' | 'POST' | 'DELETE';
  query?: Record<string, unknown>;
  body?: unknown;
  statusCodes: Record<number, true | string>;
  /** What the call is about, for error messages: `container "web"`. */
  subject: string;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** Cap on this answer (default: the backend's maxResponseBytes). */
  maxBytes?: number;
  /** The answer's text as it came (not one JSON document: /events writes one object per line). */
  raw?: boolean;
}

/**
 * moby keeps its latest 256 events in memory (daemon/events/events.go, `eventsLimit`); a query for an older
 * time gets only those.
 */
export const ENGINE_EVENTS_KEPT = 256;

/** One event as the Engine API writes it (api/types/events Message; `status`, `id`, `from` are legacy copies). */
export interface EngineEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  scope?: string;
  time?: number;
  timeNano?: number;
}

/**
 * The Docker Engine API as the tools need it. Every call carries a timeout (the configured one plus the
 * caller's abort signal) and every failure becomes a ToolError with a stable code that says what to do.
 */
export class DockerBackend {
  readonly endpoint: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** Caps concurrent engine calls; a stream holds its slot until it is read to the end. */
  readonly slots: Semaphore;
  readonly #modem: () => Promise<DockerModem>;
  readonly #series: BackendSeries | undefined;

  constructor(opts: DockerBackendOptions) {
    this.timeoutMs = opts.timeoutMs;
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_DOCKER_MAX_RESPONSE_BYTES;
    this.slots = new Semaphore(opts.maxConcurrentCalls ?? DEFAULT_DOCKER_MAX_CONCURRENT_CALLS);
    this.#series = opts.metrics?.backend('docker');
    opts.metrics?.watchSlots(this.slots);
    const ep: DockerEndpoint = opts.host ? parseDockerHost(opts.host) : { kind: 'unix', socketPath: opts.socketPath };
    this.endpoint = ep.kind === 'unix' ? `unix://${ep.socketPath}` : `tcp://${ep.host}:${ep.port}`;
    // dockerode is loaded, and the modem built, by the first engine call, not at start.
    this.#modem = loadOnce('Docker Engine client (dockerode)', async () =>
      (await import('./engine-client.js')).createModem(ep),
    );
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.#dial({ path: '/_ping', method: 'GET', statusCodes: { 200: true }, subject: 'the engine', signal });
  }

  async version(signal?: AbortSignal): Promise<{ Version: string; ApiVersion: string }> {
    return this.#dial({ path: '/version', method: 'GET', statusCodes: { 200: true }, subject: 'the engine', signal });
  }

  async listContainers(filters: ListFilters, signal?: AbortSignal): Promise<Docker.ContainerInfo[]> {
    const clean = Object.fromEntries(Object.entries(filters).filter(([, v]) => Array.isArray(v) && v.length > 0));
    const query: Record<string, unknown> = { all: true };
    if (Object.keys(clean).length > 0) query.filters = clean;
    const res = await this.#dial<Docker.ContainerInfo[]>({
      path: '/containers/json',
      method: 'GET',
      query,
      statusCodes: { 200: true, 400: 'bad parameter' },
      subject: 'containers',
      signal,
    });
    return Array.isArray(res) ? res : [];
  }

  /**
   * The events the engine still holds with a time in [since, until] (Unix seconds; until not in the
   * future, so the engine answers and closes instead of streaming). The engine keeps only its latest
   * ENGINE_EVENTS_KEPT events in memory; older ones are gone. The answer is JSON objects one per line.
   */
  async events(since: number, until: number, signal?: AbortSignal): Promise<EngineEvent[]> {
    const text = await this.#dial<string>({
      path: '/events',
      method: 'GET',
      query: { since: String(since), until: String(until) },
      statusCodes: { 200: true, 400: 'bad parameter' },
      subject: 'engine events',
      signal,
      raw: true,
    });
    const events: EngineEvent[] = [];
    for (const line of (text ?? '').split('\n')) {
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line) as EngineEvent);
      } catch {
        // One line the engine wrote that is not an event object: skipped, the others still count.
      }
    }
    return events;
  }

  /**
   * The engine's event stream from `since` (Unix seconds, fractions allowed): the events it still holds
   * first, then each new one as it happens, for as long as it stays open. It holds no call slot and has no
   * deadline (it is meant to stay open); the answer's headers must come within timeoutMs; `signal` ends it.
   */
  async eventStream(since: string, signal: AbortSignal): Promise<IncomingMessage> {
    const headers = new AbortController();
    const timedOut = new AbortController();
    const timer = setTimeout(() => {
      timedOut.abort();
      headers.abort(new Error(`no answer within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    const stop = () => headers.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    try {
      return await this.#open({
        path: '/events',
        method: 'GET',
        query: { since },
        statusCodes: { 200: true, 400: 'bad parameter' },
        subject: 'engine events',
        signal: headers.signal,
      });
    } catch (err) {
      signal.removeEventListener('abort', stop);
      throw engineError(this.endpoint, err, 'engine events', timedOut.signal, this.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  async inspect(ref: string, signal?: AbortSignal): Promise<Docker.ContainerInspectInfo> {
    return this.#dial({
      path: `/containers/${enc(ref)}/json`,
      method: 'GET',
      statusCodes: { 200: true, 404: 'no such container' },
      subject: containerSubject(ref),
      signal,
    });
  }

  /** Returns false when the container was already running. */
  async start(ref: string, signal?: AbortSignal): Promise<boolean> {
    return this.#lifecycle(ref, 'start', undefined, signal);
  }

  /** Returns false when the container was already stopped. `graceSeconds` before SIGKILL. */
  async stop(ref: string, graceSeconds: number, signal?: AbortSignal): Promise<boolean> {
    return this.#lifecycle(ref, 'stop', graceSeconds, signal);
  }

  async restart(ref: string, graceSeconds: number, signal?: AbortSignal): Promise<void> {
    await this.#lifecycle(ref, 'restart', graceSeconds, signal);
  }

  async #lifecycle(
    ref: string,
    action: 'start' | 'stop' | 'restart',
    graceSeconds: number | undefined,
    signal?: AbortSignal,
  ): Promise<boolean> {
    try {
      await this.#dial({
        path: `/containers/${enc(ref)}/${action}`,
        method: 'POST',
        query: graceSeconds === undefined ? {} : { t: graceSeconds },
        statusCodes: { 204: true, 304: 'not modified', 404: 'no such container', 409: 'conflict', 500: 'server error' },
        subject: containerSubject(ref),
        // stop and restart block for up to the grace period before the engine answers
        timeoutMs: this.timeoutMs + (graceSeconds ?? 0) * 1000,
        signal,
      });
      return true;
    } catch (err) {
      if (err instanceof ToolError && err.details.status === 304) return false;
      throw err;
    }
  }

  /** One-shot stats: the engine samples twice (about a second apart) so CPU % can be computed. */
  async stats(ref: string, signal?: AbortSignal): Promise<Docker.ContainerStats> {
    return this.#dial({
      path: `/containers/${enc(ref)}/stats`,
      method: 'GET',
      query: { stream: false },
      statusCodes: { 200: true, 404: 'no such container' },
      subject: containerSubject(ref),
      timeoutMs: this.timeoutMs + 3000,
      signal,
    });
  }

  /**
   * Reads a container's log (no follow), demultiplexed into lines, keeping the newest that pass the filter.
   * The engine applies `tail` before `until`, so with `until` a tail cannot be asked of the engine: the
   * newest lines are read in growing windows (`tail` x 2, doubling) until the window holds `tail` lines
   * before `until`, up to UNTIL_SCAN_LINES lines or UNTIL_SCAN_BYTES bytes; past that the answer says how
   * far back it looked (`scanLimit`) instead of reading the whole log.
   */
  async logs(ref: string, opts: LogOptions, signal?: AbortSignal): Promise<LogResult> {
    if (opts.until === undefined || opts.tail === 'all') return this.#readLogs(ref, opts, opts.tail, signal);
    const tail = opts.tail;
    for (let lines = Math.max(1024, tail * 2); ; lines *= 2) {
      const last = lines >= UNTIL_SCAN_LINES;
      const res = await this.#readLogs(ref, opts, Math.min(lines, UNTIL_SCAN_LINES), signal);
      if (res.cut) return res;
      if (res.scanned >= tail || res.engineBytes >= UNTIL_SCAN_BYTES || last) {
        return res.scanned >= tail ? res : { ...res, scanLimit: { lines: Math.min(lines, UNTIL_SCAN_LINES) } };
      }
    }
  }

  /** One read of the newest `engineTail` lines (the engine filters since/until after it); keeps opts.tail. */
  async #readLogs(
    ref: string,
    opts: LogOptions,
    engineTail: number | 'all',
    signal?: AbortSignal,
  ): Promise<LogResult & { engineBytes: number }> {
    const query: Record<string, unknown> = {
      follow: false,
      stdout: opts.stdout,
      stderr: opts.stderr,
      tail: String(engineTail),
      timestamps: opts.timestamps ?? false,
    };
    if (opts.since !== undefined) query.since = opts.since;
    if (opts.until !== undefined) query.until = opts.until;
    const window = new LastLines(
      opts.tail === 'all' ? Number.POSITIVE_INFINITY : opts.tail,
      opts.keepBytes,
      (l) => Buffer.byteLength(l.text, 'utf8') + 1,
    );
    const splitter = new LineSplitter();
    const { filter, render } = opts;
    let taken = 0;
    const take = (lines: Line[]) => {
      taken += lines.length;
      for (const line of lines) {
        const matched = !filter || filter(line);
        window.push(matched && render ? render(line) : line, matched);
      }
    };
    let engineBytes = 0;
    let rawBytes = 0;
    const result = () => ({
      lines: window.lines(),
      scanned: window.scanned,
      matched: window.matched,
      dropped: window.dropped,
      droppedBytes: window.droppedBytes,
      engineBytes,
    });
    const timeoutMs = this.timeoutMs;
    const { timeout, combined } = withTimeout(signal, timeoutMs);
    const subject = containerSubject(ref);
    try {
      await this.#withSlot(subject, combined, timeout, timeoutMs, async () => {
        const res = await this.#open({
          path: `/containers/${enc(ref)}/logs`,
          method: 'GET',
          query,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
          subject,
          signal: combined,
        });
        await readFrames(
          res,
          combined,
          (frame) => {
            engineBytes += frame.data.length;
            take(splitter.push(frame));
          },
          (n) => {
            rawBytes += n;
          },
          opts.tty === undefined ? 'sniff' : opts.tty ? 'raw' : 'multiplexed',
        );
      });
      take(splitter.end());
    } catch (err) {
      if (opts.partial && combined.aborted && taken > 0) {
        // whole lines came before the cut (a line still open at it is left out): answered, with the cut
        return { ...result(), cut: { bytes: rawBytes, timedOut: timeout.aborted, timeoutMs } };
      }
      if (timeout.aborted && rawBytes > 0 && !(err instanceof ToolError)) {
        // part of the log came, then it stalled, trickled or never ended: lines so far could hide the newest
        throw new ToolError(
          'ERR_BACKEND_TIMEOUT',
          `the Docker Engine at ${this.endpoint} had sent ${rawBytes.toLocaleString('en-US')} bytes of the log of ${subject} but not finished it by the ${timeoutMs} ms deadline (it stalled, trickled or kept sending); no lines are returned since the newest may be missing. Retry, or read less (a smaller tail, since); if it repeats check dockerd`,
          { bytesRead: rawBytes },
        );
      }
      throw engineError(this.endpoint, err, subject, timeout, timeoutMs);
    }
    return result();
  }

  /**
   * Runs argv in a running container (no shell, no TTY, no stdin) and collects capped output. On timeout
   * the stream is closed and `timedOut` is set; the engine has no API to kill an exec'd process.
   */
  async exec(
    ref: string,
    argv: string[],
    opts: { timeoutMs: number; maxBytesPerStream: number },
    signal?: AbortSignal,
  ): Promise<ExecResult> {
    const subject = containerSubject(ref);
    const created = await this.#dial<{ Id: string }>({
      path: `/containers/${enc(ref)}/exec`,
      method: 'POST',
      body: { AttachStdin: false, AttachStdout: true, AttachStderr: true, Tty: false, Cmd: argv },
      statusCodes: {
        201: true,
        404: 'no such container',
        409: 'container is paused or not running',
        500: 'server error',
      },
      subject,
      signal,
    });
    const started = Date.now();
    const execTimeout = AbortSignal.timeout(opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, execTimeout]) : execTimeout;
    const out = {
      stdout: new TailWindow<Buffer>(opts.maxBytesPerStream, (b) => b.length),
      stderr: new TailWindow<Buffer>(opts.maxBytesPerStream, (b) => b.length),
    };
    const bytes = { stdout: 0, stderr: 0 };
    let timedOut = false;
    let streaming = false;
    try {
      await this.#withSlot(subject, combined, execTimeout, opts.timeoutMs, async () => {
        streaming = true;
        const res = await this.#open({
          path: `/exec/${enc(created.Id)}/start`,
          method: 'POST',
          body: { Detach: false, Tty: false },
          statusCodes: {
            200: true,
            404: 'no such exec',
            409: 'container is paused or not running',
            500: 'server error',
          },
          subject,
          signal: combined,
        });
        await readFrames(
          res,
          combined,
          (frame) => {
            bytes[frame.stream] += frame.data.length;
            out[frame.stream].push(Buffer.from(frame.data));
          },
          undefined,
          // the exec is created with Tty false: the engine multiplexes it
          'multiplexed',
        );
      });
    } catch (err) {
      // a timeout while still queued is an error (nothing ran); once streaming, it is the command's timeout
      if (!streaming || !(execTimeout.aborted && !signal?.aborted))
        throw engineError(this.endpoint, err, subject, execTimeout, opts.timeoutMs);
      timedOut = true;
    }
    const durationMs = Date.now() - started;
    // After a timeout the process may have ended meanwhile (or still run: the engine cannot kill an exec).
    const info = await this.#dial<{ ExitCode: number | null; Running: boolean }>({
      path: `/exec/${enc(created.Id)}/json`,
      method: 'GET',
      statusCodes: { 200: true, 404: 'no such exec' },
      subject,
      signal,
    });
    const exitCode = info.Running ? null : info.ExitCode;
    const text = (s: 'stdout' | 'stderr') => {
      const kept = Buffer.concat(out[s].items());
      // keep only the last maxBytes even when a single frame was larger than the cap
      return kept.subarray(Math.max(0, kept.length - opts.maxBytesPerStream));
    };
    return {
      exitCode,
      stdout: text('stdout'),
      stderr: text('stderr'),
      stdoutBytes: bytes.stdout,
      stderrBytes: bytes.stderr,
      stdoutTruncated: bytes.stdout > opts.maxBytesPerStream,
      stderrTruncated: bytes.stderr > opts.maxBytesPerStream,
      timedOut,
      stillRunning: info.Running,
      durationMs,
    };
  }

  /**
   * One JSON call: waits for a slot, reads the answer as a stream up to its byte cap (the rest is never
   * read) and parses it. An empty answer (204, 304) is undefined.
   */
  async #dial<T>(opts: DialOptions): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const { timeout, combined } = withTimeout(opts.signal, timeoutMs);
    const cap = opts.maxBytes ?? this.maxResponseBytes;
    try {
      return await this.#withSlot(opts.subject, combined, timeout, timeoutMs, async () => {
        const res = await this.#open({ ...opts, signal: combined });
        const text = await readCapped(res, cap, combined);
        if (text === undefined) {
          throw new ToolError(
            'ERR_OUTPUT_TOO_LARGE',
            `the Docker Engine's answer about ${opts.subject} (${opts.method} ${opts.path}) is larger than the ${cap.toLocaleString('en-US')}-byte cap; reading stopped there. Narrow the request (filters, one container) or have an operator raise backend.maxResponseBytes`,
            { capBytes: cap },
          );
        }
        if (opts.raw) return text as T;
        if (text === '') return undefined as T;
        // /_ping answers text/plain "OK"
        return (/json/.test(res.headers['content-type'] ?? '') ? JSON.parse(text) : text) as T;
      });
    } catch (err) {
      throw engineError(this.endpoint, err, opts.subject, timeout, timeoutMs);
    }
  }

  /** Runs `fn` holding one of the engine-call slots; a call that waits past its deadline says why. */
  async #withSlot<T>(
    subject: string,
    signal: AbortSignal,
    timeout: AbortSignal,
    timeoutMs: number,
    fn: () => Promise<T>,
  ): Promise<T> {
    const call = new BackendCall(this.#series);
    let release: () => void;
    try {
      release = await this.slots.acquire(signal);
    } catch (err) {
      call.gaveUp(timeout.aborted);
      if (!timeout.aborted) throw err;
      throw new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `the call about ${subject} waited ${call.waitedMs()} ms for a free slot and reached its ${timeoutMs} ms deadline: ${this.slots.active} Docker Engine calls were in flight (limit ${this.slots.limit}, backend.maxConcurrentCalls); retry later`,
      );
    }
    call.sent();
    try {
      const out = await fn();
      call.done('ok');
      return out;
    } catch (err) {
      if (call.recording) {
        const cancelled = signal.aborted && !timeout.aborted;
        call.done(outcomeOfError(engineError(this.endpoint, err, subject, timeout, timeoutMs), cancelled));
      }
      throw err;
    } finally {
      release();
    }
  }

  /** Sends a request and returns the response stream (status checked); the caller reads it. */
  async #open(opts: DialOptions): Promise<IncomingMessage> {
    const dialOpts: Record<string, unknown> = {
      path: `${opts.path}?`,
      method: opts.method,
      statusCodes: opts.statusCodes,
      isStream: true,
      allowEmpty: true,
      abortSignal: opts.signal,
      // docker-modem builds the query from `_query` and the JSON body from `_body`
      options: { _query: opts.query ?? {}, _body: opts.body ?? {} },
    };
    if (opts.method === 'GET') dialOpts.options = opts.query ?? {};
    const modem = await this.#modem();
    try {
      return await new Promise<IncomingMessage>((resolve, reject) => {
        modem.dial(dialOpts, (err, data) => (err ? reject(err) : resolve(data as IncomingMessage)));
      });
    } catch (err) {
      throw withEngineMessage(err);
    }
  }
}

/**
 * In stream mode docker-modem puts the engine's error text only into the message
 * ("(HTTP code 404) no such container - No such container: web "); keep it where engineError looks.
 */
function withEngineMessage(err: unknown): unknown {
  const e = err as { statusCode?: unknown; json?: unknown; message?: unknown };
  if (typeof e?.statusCode !== 'number' || e.json || typeof e.message !== 'string') return err;
  const m = /^\(HTTP code \d+\) .*? - ([\s\S]*)$/.exec(e.message);
  if (m?.[1]?.trim()) e.json = { message: m[1].trim() };
  return err;
}

/** Reads a response to its end up to `max` bytes; undefined (and the stream destroyed) past the cap. */
async function readCapped(res: IncomingMessage, max: number, signal: AbortSignal): Promise<string | undefined> {
  const onAbort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > max) {
        chunks.length = 0;
        res.destroy();
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

export function containerSubject(ref: string): string {
  return `container "${ref}"`;
}

function enc(ref: string): string {
  return encodeURIComponent(ref);
}

function withTimeout(
  signal: AbortSignal | undefined,
  timeoutMs: number,
): { timeout: AbortSignal; combined: AbortSignal } {
  const timeout = AbortSignal.timeout(timeoutMs);
  return { timeout, combined: signal ? AbortSignal.any([signal, timeout]) : timeout };
}

/** Reads a multiplexed response to its end, destroying it when the signal aborts. */
async function readFrames(
  res: IncomingMessage,
  signal: AbortSignal,
  onFrame: (frame: Frame) => void,
  onBytes: ((n: number) => void) | undefined,
  format: StreamFormat,
): Promise<void> {
  const demux = new Demuxer(format);
  const onAbort = () => res.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const chunk of res) {
      onBytes?.((chunk as Buffer).length);
      for (const frame of demux.push(chunk as Buffer)) onFrame(frame);
    }
    for (const frame of demux.end()) onFrame(frame);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
