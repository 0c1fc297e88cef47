import { jsonBytes, sliceChars } from '@ravenhelm/kit';
import { z } from 'zod';
import { ENGINE_EVENTS_KEPT, type EngineEvent } from '../backend.js';
import { eventTime, type HistoryView, keyOf, trimmed } from '../event-history.js';
import {
  COMPOSE_PROJECT_LABEL,
  COMPOSE_SERVICE_LABEL,
  ComposeProjectName,
  ContainerRef,
  commandOf,
  labelShown,
  nameOf,
} from '../state.js';
import { defineTool } from './define.js';
import { boundMillis, Since } from './log-window.js';

/** A 64-hex engine id, shown as `docker ps` shows it. */
const shortId = (id: string) => (/^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id);

const Event = z.object({
  time: z.string(),
  type: z.string(),
  action: z.string(),
  detail: z.string().optional().describe("Health status, exec command (redacted, cut), or a rename's old name"),
  id: z.string(),
  name: z.string().optional(),
  image: z.string().optional(),
  exitCode: z.number().int().optional(),
  signal: z.string().optional(),
  composeProject: z.string().optional(),
  service: z.string().optional(),
});
type Event = z.infer<typeof Event>;

/**
 * What one engine event says, without the container's labels (any label value can hold a credential: the
 * compose project and service are the ones kept) and with an exec's command redacted and cut like
 * `containers_list` shows commands.
 */
export function eventOf(e: EngineEvent): Event {
  const attrs = e.Actor?.Attributes ?? {};
  const [action = '', ...rest] = (e.Action ?? '').split(': ');
  const after = rest.join(': ');
  const detail =
    action === 'rename' && attrs.oldName !== undefined
      ? oldNameOf(e)
      : after === ''
        ? undefined
        : action.startsWith('exec_')
          ? commandOf(after)
          : sliceChars(after, 200);
  const exit = attrs.exitCode === undefined ? undefined : Number(attrs.exitCode);
  return {
    time: new Date(eventMs(e)).toISOString(),
    type: e.Type ?? 'unknown',
    action,
    ...(detail !== undefined ? { detail } : {}),
    id: shortId(e.Actor?.ID ?? ''),
    ...(attrs.name !== undefined ? { name: attrs.name } : {}),
    ...(attrs.image !== undefined ? { image: attrs.image } : {}),
    ...(exit !== undefined && Number.isInteger(exit) ? { exitCode: exit } : {}),
    ...(attrs.signal !== undefined ? { signal: attrs.signal } : {}),
    // labels are free text: shown bounded and without control characters, as every other answer shows them
    ...(attrs[COMPOSE_PROJECT_LABEL] !== undefined ? { composeProject: labelShown(attrs[COMPOSE_PROJECT_LABEL]) } : {}),
    ...(attrs[COMPOSE_SERVICE_LABEL] !== undefined ? { service: labelShown(attrs[COMPOSE_SERVICE_LABEL]) } : {}),
  };
}

interface EventFilter {
  actions: ReadonlySet<string> | undefined;
  composeProject: string | undefined;
}

/** Container events only: image, network and volume events are not about what ran, and would crowd it out. */
function matches(e: EngineEvent, f: EventFilter): boolean {
  if (e.Type !== 'container') return false;
  const action = (e.Action ?? '').split(': ')[0] ?? '';
  if (f.actions && !f.actions.has(action)) return false;
  const attrs = e.Actor?.Attributes ?? {};
  return f.composeProject === undefined || attrs[COMPOSE_PROJECT_LABEL] === f.composeProject;
}

const nameIs = (e: EngineEvent, ref: string) => e.Actor?.Attributes?.name === ref;
/** The name a rename event says the container had before (the engine writes it with its leading "/"). */
const oldNameOf = (e: EngineEvent) =>
  e.Action === 'rename' ? e.Actor?.Attributes?.oldName?.replace(/^\//, '') : undefined;

/**
 * The events of the containers that bore the name `ref`, across renames: the engine records each event under
 * the name the container had then, so a container renamed to (or from) `ref` inside the window has events
 * under another name too (compose's recreate creates under a temporary name and renames). Those containers are
 * followed by id; the note names each rename followed.
 */
function byName(ref: string, known: readonly EngineEvent[]) {
  const renames = known.filter((e) => e.Action === 'rename' && (nameIs(e, ref) || oldNameOf(e) === ref));
  const ids = new Set(renames.map((e) => e.Actor?.ID ?? ''));
  return {
    test: (e: EngineEvent) => nameIs(e, ref) || ids.has(e.Actor?.ID ?? ''),
    notes: (shown: readonly EngineEvent[]): string[] => {
      const followed = renames.filter((r) => shown.some((e) => e.Actor?.ID === r.Actor?.ID && !nameIs(e, ref)));
      if (followed.length === 0) return [];
      const said = followed
        .slice(-5)
        .map(
          (r) =>
            `${shortId(r.Actor?.ID ?? '')} "${oldNameOf(r)}" -> "${r.Actor?.Attributes?.name}" at ${new Date(eventMs(r)).toISOString()}`,
        );
      return [
        `renames followed (${said.join('; ')}): the events of ${ids.size === 1 ? 'that container' : 'those containers'} under its other names are shown too, each with the name it had then`,
      ];
    },
  };
}
const idStarts = (e: EngineEvent, ref: string) => (e.Actor?.ID ?? '').startsWith(ref);
const idsOf = (events: readonly EngineEvent[]) => [...new Set(events.map((e) => shortId(e.Actor?.ID ?? '')))];

/**
 * Which events are about the container asked for, read as the engine reads a container reference
 * (daemon.GetContainer: a full id, then an exact name, then an id prefix). The engine's own `container` event
 * filter matches a name prefix or an id prefix alike, so "deadbeef" would also bring the events of every
 * container whose id starts with it. A hex ref is a name when a container by that name had events (`known`)
 * or exists now; otherwise an id prefix. Notes say what was left out, or that a prefix fits several containers.
 */
export async function containerMatcher(
  ref: string,
  known: readonly EngineEvent[],
  named: () => Promise<boolean>,
): Promise<{
  test: (e: EngineEvent) => boolean;
  notes: (shown: readonly EngineEvent[], left: readonly EngineEvent[]) => string[];
}> {
  if (!/^[0-9a-f]{4,64}$/.test(ref)) {
    return byName(ref, known);
  }
  if (ref.length === 64) return { test: (e) => e.Actor?.ID === ref, notes: () => [] };
  if (known.some((e) => nameIs(e, ref) || oldNameOf(e) === ref) || (await named())) {
    const name = byName(ref, known);
    return {
      test: name.test,
      notes: (shown, left) => {
        const others = left.filter((e) => idStarts(e, ref) && !name.test(e));
        if (others.length === 0) return name.notes(shown);
        const ids = idsOf(others);
        return [
          ...name.notes(shown),
          `"${ref}" is a container's name, so only its events are shown; ${others.length} events of ${ids.length === 1 ? 'another container' : `${ids.length} other containers`} whose id starts with "${ref}" (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}) are not: for those, give more of the id than "${ref}"`,
        ];
      },
    };
  }
  return {
    test: (e) => idStarts(e, ref),
    notes: (shown) => {
      const ids = idsOf(shown);
      if (ids.length < 2) return [];
      return [
        `"${ref}" is the start of the ids of ${ids.length} containers (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}): the events of all of them are shown; give more of the id for one`,
      ];
    },
  };
}

/** The millisecond an event is shown with (`time`), which since and until compare against. */
const eventMs = (e: EngineEvent) =>
  Math.floor(typeof e.timeNano === 'number' ? e.timeNano / 1e6 : (e.time ?? 0) * 1000);

/**
 * A since or until bound in milliseconds: an ISO time as written (to the millisecond, the precision events
 * are shown with, so the time of a listed event is a bound that keeps it), a relative one counted back from
 * now. Throws the usual message for any other form.
 */
function boundMs(value: string | undefined, nowMs: number, field: 'since' | 'until'): number | undefined {
  return value === undefined ? undefined : boundMillis(value, nowMs, field);
}

const iso = (seconds: number) => new Date(Math.floor(seconds * 1000)).toISOString();

/** A live stream delivers an event within milliseconds; one this much older than the engine's newest is stalled. */
const STALL_SECONDS = 5;
/** How long a call waits for the history to read what the engine already holds before calling it stalled. */
const STALL_WAIT_MS = 1000;

/**
 * When the history's stream is up but has delivered nothing since a time the engine has newer container
 * events than (by more than STALL_SECONDS): a stalled stream, whose connection did not break. Returns the
 * time of the history's last event (or of its first read, when it has none), else undefined.
 */
export function stalledSince(engine: readonly EngineEvent[], view: HistoryView | undefined): number | undefined {
  if (view === undefined || view.downSince !== undefined || view.completeFrom === undefined) return undefined;
  const seen = view.lastSeen ?? view.completeFrom;
  const newest = engine.reduce((m, e) => (e.Type === 'container' ? Math.max(m, eventTime(e)) : m), -Infinity);
  return newest > seen + STALL_SECONDS ? seen : undefined;
}

const overlaps = (a: number, b: number, since: number, until: number) => a < until && b > since;

/**
 * From when the answer knows every container event, and what it does not know inside the window, each said
 * once with its reason: the engine's buffer (256 events), the server's own bounds, a stream that was down.
 */
export function coverageOf(
  engine: readonly EngineEvent[],
  view: HistoryView | undefined,
  since: number,
  until: number,
  actions: readonly string[] | undefined,
  bounds: { maxEvents: number; maxExecEvents: number } | undefined,
): { from: number | undefined; notes: string[] } {
  const notes: string[] = [];
  const engineFrom = engine.reduce<number | undefined>(
    (m, e) => (m === undefined || eventTime(e) < m ? eventTime(e) : m),
    undefined,
  );
  const engineFull = engine.length >= ENGINE_EVENTS_KEPT;
  if (view?.completeFrom === undefined) {
    // The engine's buffer alone.
    if (engineFull && engineFrom !== undefined && engineFrom > since) {
      notes.push(
        `the engine keeps only its latest ${ENGINE_EVENTS_KEPT} events: the oldest it still holds is from ${iso(engineFrom)}, so events before that in the window are gone; containers_diagnose and health_get_report show each container's last exit, OOM kill and restart count`,
      );
    }
    return { from: engineFrom, notes };
  }
  // The history, and the engine's buffer for the newest events (and while the history's stream is down).
  let from = view.completeFrom;
  if (engineFrom !== undefined && engineFrom < from) from = engineFrom;
  if (from > since) {
    notes.push(
      `events before ${iso(from)} are not known: this server keeps the engine's events from when it started reading them${bounds ? `, at most ${bounds.maxEvents.toLocaleString('en-US')} (backend.eventHistory.maxEvents)` : ''}, and the engine itself keeps only its latest ${ENGINE_EVENTS_KEPT}`,
    );
  }
  for (const g of view.gaps) {
    if (overlaps(g.from, g.to, since, until)) {
      notes.push(
        `events between ${iso(g.from)} and ${iso(g.to)} are not known: the engine's event stream was down, and by the time it was read again the engine had dropped them`,
      );
    }
  }
  if (view.downSince !== undefined && view.lastSeen !== undefined && engineFrom !== undefined) {
    if (engineFrom > view.lastSeen && overlaps(view.lastSeen, engineFrom, since, until)) {
      notes.push(
        `events between ${iso(view.lastSeen)} and ${iso(engineFrom)} are not known: the engine's event stream has been down since ${iso(view.downSince)} and the engine no longer holds them`,
      );
    }
  }
  const stalled = stalledSince(engine, view);
  if (stalled !== undefined && engineFrom !== undefined && engineFull && engineFrom > stalled) {
    if (overlaps(stalled, engineFrom, since, until)) {
      notes.push(
        `events between ${iso(stalled)} and ${iso(engineFrom)} are not known: the engine's event stream stopped delivering events without breaking (it is being read again), and the engine no longer holds them`,
      );
    }
  }
  const wantsExecs = actions === undefined || actions.some((a) => a.startsWith('exec_'));
  if (wantsExecs && view.execCompleteFrom !== undefined && view.execCompleteFrom > Math.max(since, from)) {
    notes.push(
      `exec events before ${iso(view.execCompleteFrom)} are not kept (at most ${bounds ? bounds.maxExecEvents.toLocaleString('en-US') : 'a bounded number'}, backend.eventHistory.maxExecEvents; a health check makes three per run)`,
    );
  }
  return { from, notes };
}

export const eventsList = defineTool({
  name: 'events_list',
  toolset: 'events',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Container events',
  description: 'Exits with codes, OOM kills, restarts, health changes and execs, oldest first.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    since: Since.default('1h'),
    until: Since.describe('Up to (same forms)').optional(),
    container: ContainerRef.optional(),
    composeProject: ComposeProjectName.optional(),
    actions: z
      .array(z.string().regex(/^[a-z_]{1,40}$/, 'must be an event action such as "die", "oom" or "health_status"'))
      .max(30)
      .optional()
      .describe('e.g. die, oom, health_status'),
    limit: z.number().int().min(1).max(ENGINE_EVENTS_KEPT).default(100),
  }),
  output: z.object({
    events: z.array(Event).describe('Oldest first; the newest kept when cut'),
    matched: z.number().int().describe('Events in the window that pass the filters'),
    returned: z.number().int(),
    truncated: z.boolean(),
    completeFrom: z.string().optional().describe('Every event since this time is known (gaps aside, see notes)'),
    notes: z.array(z.string()).optional(),
  }),
  handler: async (input, { docker, events: history, signal, maxOutputBytes }) => {
    const nowMs = Date.now();
    // Now, as the end of the current millisecond: Date.now() drops the fraction, and an event the engine
    // stamped earlier in this same millisecond (its times are in nanoseconds) happened before this call.
    const now = (nowMs + 1) / 1000;
    const notes: string[] = [];
    // Both bounds keep the events shown with their millisecond (since and until are inclusive): paging back
    // with until = the oldest time shown repeats that event and skips none.
    const sinceMs = boundMs(input.since, nowMs, 'since') ?? 0;
    let untilMs = boundMs(input.until, nowMs, 'until') ?? nowMs;
    if (untilMs > nowMs) {
      untilMs = nowMs;
      notes.push('until is in the future: events up to now are shown (this tool does not wait for new events)');
    }
    // What the engine holds now (at most its latest 256 events, whatever their time), in one call that ends at
    // once (`until` is now, the engine waits at most the rest of this millisecond): the newest events even when
    // the server's own history has not read them yet, and everything while that history is down. Merged with
    // the history, each event once.
    const engine = await docker.events(1, now, signal);
    let view = history?.running ? history.view() : undefined;
    // An event the engine holds that the history has not read yet is usually just arriving on the stream:
    // it gets a moment (STALL_WAIT_MS) before the stream is judged stalled.
    for (const deadline = Date.now() + STALL_WAIT_MS; history && stalledSince(engine, view) !== undefined; ) {
      if (Date.now() >= deadline || signal.aborted) break;
      await new Promise((r) => setTimeout(r, 50));
      view = history.view();
    }
    const byKey = new Map<string, EngineEvent>();
    for (const e of [...(view?.events ?? []), ...engine.map(trimmed)]) byKey.set(keyOf(e), e);
    const filter: EventFilter = {
      actions: input.actions ? new Set(input.actions) : undefined,
      composeProject: input.composeProject,
    };
    let inWindow = [...byKey.values()]
      .filter((e) => eventMs(e) >= sinceMs && eventMs(e) <= untilMs && matches(e, filter))
      .sort((a, b) => eventTime(a) - eventTime(b));
    const ref = input.container;
    if (ref !== undefined) {
      const named = async () =>
        (await docker.listContainers({ name: [`^/?${ref}$`] }, signal)).some((c) => nameOf(c.Names) === ref);
      const about = await containerMatcher(ref, [...byKey.values()], named);
      const shown = inWindow.filter(about.test);
      notes.push(...about.notes(shown, inWindow));
      inWindow = shown;
    }
    const coverage = coverageOf(engine, view, sinceMs / 1000, (untilMs + 1) / 1000, input.actions, history?.bounds);
    // A stream that stalled without breaking is read again, so the next answers are whole again.
    if (stalledSince(engine, view) !== undefined)
      history?.resync('the engine holds newer events than the stream delivered');
    notes.push(...coverage.notes);
    let kept = inWindow.slice(-input.limit).map(eventOf);
    const limited = kept.length < inWindow.length;
    // The answer fits the output budget: the oldest events go first, and the answer says how many went.
    const room = maxOutputBytes - 1024;
    let size = jsonBytes(kept);
    let cut = 0;
    while (kept.length > 1 && size > room) {
      size -= jsonBytes(kept[0]) + 1;
      kept = kept.slice(1);
      cut++;
    }
    // Older events are one call away: until = the oldest time shown (inclusive, so nothing is skipped). When at
    // least a page of events share that millisecond, the same call would answer this page again: the note
    // says so and gives a call that gets past them instead.
    const oldest = inWindow[inWindow.length - kept.length];
    const sameMs = oldest ? inWindow.filter((e) => eventMs(e) === eventMs(oldest)).length : 0;
    let older = kept[0] ? `; older ones: repeat with until="${kept[0].time}" (it lists that event again)` : '';
    if (kept[0] && sameMs >= kept.length) {
      const wider = cut === 0 && sameMs < ENGINE_EVENTS_KEPT;
      older = `; ${sameMs} events share the time ${kept[0].time}, so until="${kept[0].time}" alone would list this page again: ${wider ? `repeat with it and limit=${Math.min(ENGINE_EVENTS_KEPT, sameMs + input.limit)}` : 'repeat with it'} and narrow the filters (container, actions) for the older ones`;
    }
    if (limited) {
      notes.push(
        `limit ${input.limit}: the newest ${kept.length + cut} of ${inWindow.length} events are shown${cut > 0 ? '' : older}`,
      );
    }
    if (cut > 0) {
      notes.push(
        `output budget: the ${cut} oldest of the events left out${older}, or narrow the window or the filters (container, actions)`,
      );
    }
    return {
      events: kept,
      matched: inWindow.length,
      returned: kept.length,
      truncated: kept.length < inWindow.length,
      ...(coverage.from !== undefined ? { completeFrom: iso(coverage.from) } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    };
  },
});

export const eventTools = [eventsList] as const;
