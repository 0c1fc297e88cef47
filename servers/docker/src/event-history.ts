import type { IncomingMessage } from 'node:http';
import type { Logger } from '@ravenhelm/kit';
import type { EngineEvent } from './backend.js';
import { COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL } from './state.js';

/**
 * The attributes an event keeps: any other is a container label, and any label value can hold a credential.
 * `oldName` is on rename events (moby daemon/rename.go), so a container's events can be followed across names.
 */
const KEPT_ATTRIBUTES = [
  'name',
  'oldName',
  'image',
  'exitCode',
  'signal',
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
];
/** An event line longer than this (a container with megabytes of labels) is skipped, not buffered. */
const MAX_LINE_BYTES = 1024 * 1024;
/** Keys of the latest events, to drop the copies a reconnect replays. */
const RECENT_KEYS = 2048;

export interface EventHistoryOptions {
  /** Container events kept (not execs); the oldest go first. */
  maxEvents: number;
  /** Exec events kept apart (a health check makes three per run and would crowd out the rest). */
  maxExecEvents: number;
  logger: Logger;
  /** Reconnect backoff bounds (default 1 s to 30 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface EventSource {
  eventStream(since: string, signal: AbortSignal): Promise<IncomingMessage>;
}

/** A stretch of time whose events the history does not have: the engine had dropped them when it was read again. */
export interface HistoryGap {
  from: number;
  to: number;
}

export interface HistoryView {
  /** Container events, oldest first, exec events included. */
  events: EngineEvent[];
  /** Events before this (Unix seconds) are not all here: before the first read, or pushed out by the bounds. */
  completeFrom: number | undefined;
  /** Exec events before this are not all here (their own, smaller bound). */
  execCompleteFrom: number | undefined;
  gaps: HistoryGap[];
  /** Unix seconds since the stream has been down, when it is. */
  downSince: number | undefined;
  /** The newest event's time (Unix seconds). */
  lastSeen: number | undefined;
}

export const eventTime = (e: EngineEvent): number =>
  typeof e.timeNano === 'number' ? e.timeNano / 1e9 : typeof e.time === 'number' ? e.time : 0;
export const keyOf = (e: EngineEvent) => `${e.timeNano ?? e.time}|${e.Actor?.ID ?? ''}|${e.Action ?? ''}`;
const isExec = (e: EngineEvent) => (e.Action ?? '').startsWith('exec_');

/** An event without the container's labels (only KEPT_ATTRIBUTES stay). */
export function trimmed(e: EngineEvent): EngineEvent {
  const attrs = e.Actor?.Attributes ?? {};
  const kept: Record<string, string> = {};
  for (const k of KEPT_ATTRIBUTES) if (typeof attrs[k] === 'string') kept[k] = attrs[k];
  return {
    Type: e.Type,
    Action: typeof e.Action === 'string' ? e.Action.slice(0, 4096) : '',
    Actor: { ID: e.Actor?.ID ?? '', Attributes: kept },
    ...(typeof e.time === 'number' ? { time: e.time } : {}),
    ...(typeof e.timeNano === 'number' ? { timeNano: e.timeNano } : {}),
  };
}

/** A bounded, oldest-first list: pushing past `max` drops the oldest (in batches, so a push stays O(1)). */
class Bounded {
  items: EngineEvent[] = [];
  /** The time of the newest event dropped for room: the list is complete only after it. */
  droppedUntil: number | undefined;
  constructor(readonly max: number) {}
  push(e: EngineEvent): void {
    this.items.push(e);
    if (this.items.length > this.max + Math.max(16, this.max >> 4)) {
      const out = this.items.splice(0, this.items.length - this.max);
      this.droppedUntil = eventTime(out[out.length - 1] as EngineEvent);
    }
  }
}

/**
 * The Docker Engine keeps only its latest 256 events, and a host with health checks makes three per check:
 * on a busy host that is a minute or two. The server therefore reads the engine's event stream for as long
 * as it runs and keeps container events itself, bounded (maxEvents, and maxExecEvents for execs apart),
 * without labels. When the stream breaks it reads again from the last event it has (the engine replays what
 * it still holds); what the engine had dropped by then is recorded as a gap and said in answers.
 */
export class EventHistory {
  readonly #source: EventSource;
  readonly #o: Required<EventHistoryOptions>;
  readonly #main: Bounded;
  readonly #exec: Bounded;
  readonly #recent = new Set<string>();
  readonly #gaps: HistoryGap[] = [];
  #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #firstRead: number | undefined;
  #lastSeen: number | undefined;
  #downSince: number | undefined;
  #retryMs: number;
  #failures = 0;

  constructor(source: EventSource, opts: EventHistoryOptions) {
    this.#source = source;
    this.#o = { retryMinMs: 1000, retryMaxMs: 30_000, ...opts };
    this.#main = new Bounded(opts.maxEvents);
    this.#exec = new Bounded(opts.maxExecEvents);
    this.#retryMs = this.#o.retryMinMs;
  }

  /**
   * Starts reading (once), after `delayMs`; never throws: a failure is logged and retried with backoff.
   * The first read loads the engine client (dockerode), which a server should not do on its way to ready.
   */
  start(delayMs = 0): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule(delayMs);
  }

  close(): void {
    this.#started = false;
    clearTimeout(this.#timer);
    this.#abort.abort(new Error('event history closed'));
  }

  /**
   * Ends the current stream and reads again (after the shortest backoff): the caller saw the engine hold
   * container events this history has not received, so the stream stalled without breaking (a connection
   * that died silently, a proxy that stopped forwarding). Reading again replays what the engine still holds
   * and records a gap for what it no longer does.
   */
  resync(reason: string): void {
    if (!this.#started || this.#downSince !== undefined) return;
    this.#abort.abort(new Error(reason));
  }

  get bounds(): { maxEvents: number; maxExecEvents: number } {
    return { maxEvents: this.#o.maxEvents, maxExecEvents: this.#o.maxExecEvents };
  }

  /** Whether the history is being kept (started and not closed). */
  get running(): boolean {
    return this.#started;
  }

  view(): HistoryView {
    const events = [...this.#main.items, ...this.#exec.items].sort((a, b) => eventTime(a) - eventTime(b));
    const from = (b: Bounded) =>
      this.#firstRead === undefined
        ? undefined
        : b.droppedUntil === undefined
          ? this.#firstRead
          : Math.max(this.#firstRead, b.droppedUntil);
    return {
      events,
      completeFrom: from(this.#main),
      execCompleteFrom: from(this.#exec),
      gaps: [...this.#gaps],
      downSince: this.#downSince,
      lastSeen: this.#lastSeen,
    };
  }

  #schedule(ms: number): void {
    if (!this.#started) return;
    this.#timer = setTimeout(() => void this.#read(), ms);
    this.#timer.unref();
  }

  async #read(): Promise<void> {
    if (!this.#started) return;
    this.#abort = new AbortController();
    // Whole seconds: the engine's nanosecond times do not survive JSON numbers exactly; the events of that
    // second that we already have are recognised by their keys and dropped.
    const since = this.#lastSeen === undefined ? '1' : String(Math.floor(this.#lastSeen));
    const firstRead = this.#firstRead === undefined;
    let replayed = 0;
    const connectedAt = Date.now() / 1000;
    try {
      const res = await this.#source.eventStream(since, this.#abort.signal);
      // The stream must never keep the process alive on its own; over TCP, keepalive probes end a connection
      // whose peer vanished (a Unix socket has none and cannot half-open). Chunks are decoded as UTF-8 text
      // across their boundaries.
      res.socket?.unref();
      res.socket?.setKeepAlive(true, 30_000);
      res.setEncoding('utf8');
      if (this.#failures > 0) this.#o.logger.info({ after: this.#failures }, 'docker event history: reading again');
      this.#failures = 0;
      this.#retryMs = this.#o.retryMinMs;
      if (firstRead) this.#firstRead = connectedAt;
      const lastBefore = this.#lastSeen;
      this.#downSince = undefined;
      let partial = '';
      let skipping = false;
      for await (const chunk of res) {
        const lines = (partial + (chunk as string)).split('\n');
        partial = lines.pop() ?? '';
        if (partial.length > MAX_LINE_BYTES) {
          partial = '';
          skipping = true;
        }
        for (const line of lines) {
          if (skipping) {
            skipping = false;
            continue;
          }
          const e = parse(line);
          if (!e) continue;
          const t = eventTime(e);
          // What the engine sends first, dated before the connection, is its replay of the events it holds.
          if (t <= connectedAt && replayed++ === 0) {
            // First read: complete from the oldest event the engine held (it has none older).
            if (firstRead) this.#firstRead = Math.min(connectedAt, t);
            // Reading again: a replay that starts after our last event means the engine dropped those between.
            else if (lastBefore !== undefined && t > lastBefore) {
              this.#gaps.push({ from: lastBefore, to: t });
              if (this.#gaps.length > 32) this.#gaps.shift();
            }
          }
          this.#add(e);
        }
      }
      throw new Error('the engine ended the event stream');
    } catch (err) {
      if (!this.#started) return;
      this.#downSince ??= Date.now() / 1000;
      if (this.#failures++ === 0) {
        this.#o.logger.warn(
          { err: (err as Error).message },
          'docker event history: the event stream broke; reading again with backoff (events_list answers from the engine meanwhile)',
        );
      }
      this.#schedule(this.#retryMs);
      this.#retryMs = Math.min(this.#o.retryMaxMs, this.#retryMs * 2);
    }
  }

  #add(e: EngineEvent): void {
    if (e.Type !== 'container') return;
    const key = keyOf(e);
    if (this.#recent.has(key)) return;
    this.#recent.add(key);
    if (this.#recent.size > RECENT_KEYS) {
      const oldest = this.#recent.values().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
    const t = eventTime(e);
    if (this.#lastSeen === undefined || t > this.#lastSeen) this.#lastSeen = t;
    (isExec(e) ? this.#exec : this.#main).push(trimmed(e));
  }
}

function parse(line: string): EngineEvent | undefined {
  if (line.trim() === '') return undefined;
  try {
    const e = JSON.parse(line) as EngineEvent;
    return e && typeof e === 'object' ? e : undefined;
  } catch {
    return undefined;
  }
}
