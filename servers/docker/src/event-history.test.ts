import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { invokeTool, silentLogger } from '@ravenhelm/kit';
import { describe, expect, it, vi } from 'vitest';
import type { DockerBackend, EngineEvent } from './backend.js';
import { EventHistory, type EventSource } from './event-history.js';
import type { DockerServices } from './tools/define.js';
import { eventOf, eventsList } from './tools/events.js';

/** An event source whose streams the test writes by hand, byte by byte if it likes. */
function handSource() {
  const streams: PassThrough[] = [];
  const source: EventSource = {
    async eventStream(_since, signal) {
      const s = new PassThrough();
      signal.addEventListener('abort', () => s.destroy(signal.reason as Error), { once: true });
      streams.push(s);
      return s as unknown as IncomingMessage;
    },
  };
  return { source, streams };
}

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

/** A started history on a hand source, its first stream open. */
async function started(retry: { retryMinMs?: number; retryMaxMs?: number } = {}) {
  const { source, streams } = handSource();
  const history = new EventHistory(source, { maxEvents: 10, maxExecEvents: 10, logger: silentLogger(), ...retry });
  history.start();
  await waitFor(() => streams.length === 1);
  return { history, streams };
}

/** What a tool handler gets from the pipeline, for calls made here directly with invokeTool. */
const toolContext = () => ({
  signal: new AbortController().signal,
  logger: silentLogger(),
  principal: { subject: 't', scopes: [], roles: [], source: 'stdio' as const },
  requestId: 't',
  maxOutputBytes: 64 * 1024,
  options: {},
});
describe('EventHistory', () => {
  it('decodes a character split across two chunks (an exec command in the action is any text)', async () => {
    const { history, streams } = await started();
    const now = Date.now() / 1000;
    const line = Buffer.from(
      `${JSON.stringify({ Type: 'container', Action: 'exec_start: echo grüße', Actor: { ID: 'a'.repeat(64), Attributes: { name: 'web' } }, time: Math.floor(now), timeNano: Math.floor(now * 1e9) })}\n`,
    );
    const cut = line.indexOf(Buffer.from('ü')) + 1; // inside the two bytes of ü
    streams[0]?.write(line.subarray(0, cut));
    await new Promise((r) => setTimeout(r, 20)); // read as a chunk of its own
    streams[0]?.write(line.subarray(cut));
    await waitFor(() => history.view().events.length === 1);
    expect(eventOf(history.view().events[0] as never).detail).toBe('echo grüße');
    history.close();
  });

  it('resync ends a stream that stalled and reads again at once; it does nothing while the stream is down', async () => {
    const { history, streams } = await started({ retryMinMs: 10, retryMaxMs: 20 });
    history.resync('stalled');
    await waitFor(() => streams.length === 2);
    expect(streams[0]?.destroyed).toBe(true);
    expect(history.view().downSince).toBeUndefined();
    history.close();
    history.resync('after close');
    await new Promise((r) => setTimeout(r, 50));
    expect(streams).toHaveLength(2);
  });
});

describe('events_list and a stream that lags by a moment', () => {
  const at = (seconds: number, action: string): EngineEvent => ({
    Type: 'container',
    Action: action,
    Actor: { ID: 'b'.repeat(64), Attributes: { name: 'api' } },
    time: Math.floor(seconds),
    timeNano: Math.round(seconds * 1e9),
  });
  const line = (e: EngineEvent) => `${JSON.stringify(e)}\n`;

  it('waits for an event the engine already holds to arrive on the stream instead of calling the stream stalled', async () => {
    const { history, streams } = await started();
    const now = Date.now() / 1000;
    const old = at(now - 60, 'start');
    streams[0]?.write(line(old));
    await waitFor(() => history.view().lastSeen !== undefined);
    // a container dies; the engine has the event, the stream delivers it 300 ms later
    const died = at(now, 'die');
    const docker = { events: async () => [old, died] } as unknown as DockerBackend;
    setTimeout(() => streams[0]?.write(line(died)), 300);
    const res = (await invokeTool(
      eventsList,
      { since: '10m' },
      { docker, events: history } as unknown as DockerServices,
      toolContext(),
      { timeoutMs: 10_000 },
    )) as { events: { action: string }[] };
    expect(res.events.map((e) => e.action)).toEqual(['start', 'die']);
    // the healthy stream was kept: no second stream was opened
    await new Promise((r) => setTimeout(r, 100));
    expect(streams).toHaveLength(1);
    expect(streams[0]?.destroyed).toBe(false);
    history.close();
  });
});

describe('events_list and the millisecond it is called in', () => {
  /** The engine's buffered events, returned as the engine does: none stamped after `until` (in nanoseconds). */
  const engineOf = (held: EngineEvent[]) =>
    ({
      events: async (_since: number, until: number) => held.filter((e) => (e.timeNano ?? 0) <= until * 1e9),
    }) as unknown as DockerBackend;
  const ctx = toolContext();
  const exec = (nanos: number, i: number): EngineEvent => ({
    Type: 'container',
    Action: 'exec_create: true',
    Actor: { ID: 'c'.repeat(64), Attributes: { name: 'svc', n: String(i) } },
    time: Math.floor(nanos / 1e9),
    timeNano: nanos,
  });

  it('lists an event stamped earlier in the same millisecond, and counts it towards the engine buffer being full', async () => {
    const nowMs = Date.now();
    // 256 events, the newest 0.4 ms into the millisecond Date.now() reports (which drops the fraction)
    const held = Array.from({ length: 256 }, (_, i) => exec(nowMs * 1e6 - (255 - i) * 1e6 + 400_000, i));
    vi.spyOn(Date, 'now').mockReturnValue(nowMs);
    try {
      const res = (await invokeTool(
        eventsList,
        { since: '1h', limit: 256 },
        { docker: engineOf(held) } as unknown as DockerServices,
        ctx,
        { timeoutMs: 10_000 },
      )) as { matched: number; notes?: string[] };
      expect(res.matched).toBe(256);
      expect(res.notes?.join(' ')).toContain('the engine keeps only its latest 256 events');
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('pages back without a gap: until takes the millisecond an event is shown with, and the note gives it', async () => {
    const second = Math.floor(Date.now() / 1000) - 600;
    // five events inside one second, and one a second earlier
    const held = [0, 100, 300, 500, 700, 900].map((ms, i) =>
      exec((second * 1000 + ms - (i === 0 ? 1000 : 0)) * 1e6 + 250, i),
    );
    const docker = engineOf(held);
    const list = async (args: Record<string, unknown>) =>
      (await invokeTool(eventsList, args, { docker } as unknown as DockerServices, ctx, { timeoutMs: 10_000 })) as {
        events: { time: string }[];
        notes?: string[];
      };
    const newest = await list({ since: '1h', limit: 2 });
    expect(newest.events.map((e) => e.time.slice(-5))).toEqual(['.700Z', '.900Z']);
    const until = /until="([^"]+)"/.exec(newest.notes?.join(' ') ?? '')?.[1];
    expect(until).toBe(newest.events[0]?.time);
    const older = await list({ since: '1h', until });
    expect(older.events.map((e) => e.time.slice(-5))).toEqual(['.000Z', '.100Z', '.300Z', '.500Z', '.700Z']);
    // since is as exact: from the .300 event on
    const from = await list({ since: older.events[2]?.time, until });
    expect(from.events).toHaveLength(3);
  });

  it('more events in one millisecond than a page: the note does not send the agent round in a loop', async () => {
    const ms = (Math.floor(Date.now() / 1000) - 600) * 1000;
    // one older event, then 8 in the same millisecond (a compose down stamps many in one go)
    const held = [exec((ms - 5000) * 1e6, 0), ...Array.from({ length: 8 }, (_, i) => exec(ms * 1e6 + i * 1000, i + 1))];
    const docker = engineOf(held);
    const list = async (args: Record<string, unknown>) =>
      (await invokeTool(eventsList, args, { docker } as unknown as DockerServices, ctx, { timeoutMs: 10_000 })) as {
        events: { time: string; detail?: string }[];
        notes?: string[];
      };
    const first = await list({ since: '1h', limit: 5 });
    const note = first.notes?.join(' ') ?? '';
    expect(note).toContain('8 events share the time');
    // following the note reaches the older event; following plain until= would not have
    const until = /until="([^"]+)"/.exec(note)?.[1];
    const limit = Number(/limit=(\d+)/.exec(note)?.[1]);
    expect(limit).toBeGreaterThan(8);
    const again = await list({ since: '1h', until, limit: 5 });
    expect(again.events.map((e) => e.time)).toEqual(first.events.map((e) => e.time));
    const next = await list({ since: '1h', until, limit });
    expect(next.events).toHaveLength(9);
    expect((next.events[0]?.time ?? '') < (first.events[0]?.time ?? '')).toBe(true);
  });
});
