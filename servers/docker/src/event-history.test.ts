import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { silentLogger } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { EventHistory, type EventSource } from './event-history.js';
import { eventOf } from './tools/events.js';

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

describe('EventHistory', () => {
  it('decodes a character split across two chunks (an exec command in the action is any text)', async () => {
    const { source, streams } = handSource();
    const history = new EventHistory(source, { maxEvents: 10, maxExecEvents: 10, logger: silentLogger() });
    history.start();
    await waitFor(() => streams.length === 1);
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
    const { source, streams } = handSource();
    const history = new EventHistory(source, {
      maxEvents: 10,
      maxExecEvents: 10,
      logger: silentLogger(),
      retryMinMs: 10,
      retryMaxMs: 20,
    });
    history.start();
    await waitFor(() => streams.length === 1);
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
