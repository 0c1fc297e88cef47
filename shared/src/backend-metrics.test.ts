import { describe, expect, it } from 'vitest';
import { BackendCall, type BackendSeries, backendLabel, outcomeOfError, outcomeOfStatus } from './backend-metrics.js';
import { ToolError } from './errors.js';
import { Metrics } from './metrics.js';
import { Semaphore } from './semaphore.js';

async function sample(m: Metrics, name: string): Promise<number | undefined> {
  const metric = m.registry.getSingleMetric(name);
  return metric ? (await metric.get()).values[0]?.value : undefined;
}

describe('backend metrics', () => {
  it('maps statuses and tool errors onto the closed outcome set', () => {
    expect([200, 204, 304, 302, 404, 429, 500, 503].map(outcomeOfStatus)).toEqual([
      'ok',
      'ok',
      'ok',
      'error',
      'http_4xx',
      'http_4xx',
      'http_5xx',
      'http_5xx',
    ]);
    expect(outcomeOfError(new ToolError('ERR_BACKEND_TIMEOUT', 'x'))).toBe('timeout');
    expect(outcomeOfError(new ToolError('ERR_BACKEND_TIMEOUT', 'x'), true)).toBe('cancelled');
    expect(outcomeOfError(new ToolError('ERR_CANCELLED', 'x'))).toBe('cancelled');
    expect(outcomeOfError(new ToolError('ERR_OUTPUT_TOO_LARGE', 'x'))).toBe('too_large');
    expect(outcomeOfError(new ToolError('ERR_BACKEND_UNAVAILABLE', 'x'))).toBe('unavailable');
    // an AWS 5xx is ERR_BACKEND_UNAVAILABLE with the status it got: an answer, not a lost connection
    expect(outcomeOfError(new ToolError('ERR_BACKEND_UNAVAILABLE', 'x', { status: 503 }))).toBe('http_5xx');
    expect(outcomeOfError(new ToolError('ERR_NOT_FOUND', 'x', { status: 404 }))).toBe('http_4xx');
    expect(outcomeOfError(new ToolError('ERR_BACKEND_ERROR', 'x'))).toBe('error');
    expect(outcomeOfError(new Error('boom'))).toBe('error');
  });

  it('derives short stable backend names and refuses anything else', () => {
    expect(['Prometheus', 'Traefik API', 'GitLab', 'Secrets Manager', '!!!'].map(backendLabel)).toEqual([
      'prometheus',
      'traefik_api',
      'gitlab',
      'secrets_manager',
      'backend',
    ]);
    const m = new Metrics('t');
    expect(() => m.backends.backend('https://gitlab.example/api/v4/projects/1')).toThrow(RangeError);
    expect(m.backends.backend('gitlab')).toBe(m.backends.backend('gitlab'));
  });

  it('reads the slot gauges from the semaphores at scrape time, each semaphore once', async () => {
    const m = new Metrics('t');
    const shared = new Semaphore(2);
    const share = new Semaphore(1);
    m.backends.watchSlots(shared);
    m.backends.watchSlots(shared);
    m.backends.watchSlots(share, 'share');
    const held = [await shared.acquire(undefined, 'a'), await shared.acquire(undefined, 'a')];
    const queued = shared.acquire(undefined, 'b');
    const shareHeld = await share.acquire();
    const shareQueued = share.acquire();
    expect(await sample(m, 'ravenhelm_backend_slots_limit')).toBe(2);
    expect(await sample(m, 'ravenhelm_backend_slots_in_use')).toBe(2);
    expect(await sample(m, 'ravenhelm_backend_slots_waiting')).toBe(2);
    for (const r of held) r();
    (await queued)();
    shareHeld();
    (await shareQueued)();
    expect(await sample(m, 'ravenhelm_backend_slots_in_use')).toBe(0);
    expect(await sample(m, 'ravenhelm_backend_slots_waiting')).toBe(0);
  });

  it('records a call once under its outcome, with its backend time and slot wait', async () => {
    const m = new Metrics('t');
    const s = m.backends.backend('loki');
    s.waited(0.2);
    s.done('http_5xx', 0.05);
    s.done('queue_timeout');
    const requests = (await m.backends.requests.get()).values.filter((v) => v.value > 0);
    expect(requests.map((v) => [v.labels.outcome, v.value])).toEqual([
      ['http_5xx', 1],
      ['queue_timeout', 1],
    ]);
    const counts = async (h: typeof m.backends.duration) =>
      (await h.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value;
    expect(await counts(m.backends.duration)).toBe(1);
    expect(await counts(m.backends.slotWait)).toBe(1);
  });

  it('a call clock records the slot wait once, then the outcome with the time on the backend only', async () => {
    const log: string[] = [];
    const series: BackendSeries = {
      waited: (sec) => log.push(`waited ${sec >= 0.04 ? '>=40ms' : '<40ms'}`),
      done: (outcome, sec) => log.push(sec === undefined ? outcome : `${outcome} ${sec < 0.04 ? '<40ms' : '>=40ms'}`),
    };
    const slow = () => new Promise((r) => setTimeout(r, 50));

    const served = new BackendCall(series);
    await slow(); // waiting for a slot
    served.sent();
    served.done('ok'); // at once: the 50 ms of waiting is not backend time
    expect(served.recording).toBe(true);

    const timedOut = new BackendCall(series);
    await slow();
    timedOut.gaveUp(true);
    expect(timedOut.waitedMs()).toBeGreaterThanOrEqual(45);
    new BackendCall(series).gaveUp(false);

    expect(log).toEqual(['waited >=40ms', 'ok <40ms', 'waited >=40ms', 'queue_timeout', 'waited <40ms', 'cancelled']);

    // without metrics nothing is recorded, and the wait is still known for the error message
    const unrecorded = new BackendCall(undefined);
    expect(unrecorded.recording).toBe(false);
    unrecorded.gaveUp(true);
    unrecorded.sent();
    unrecorded.done('error');
    expect(unrecorded.waitedMs()).toBeGreaterThanOrEqual(0);
  });
});
