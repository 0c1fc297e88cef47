import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ToolError } from './errors.js';
import { invokeTool, parseToolInput } from './invoke.js';
import { silentLogger } from './logging.js';
import { createToolDefiner } from './tool.js';

const defineTool = createToolDefiner<{ seen: AbortSignal[] }>();
const slow = defineTool({
  name: 'slow_wait',
  title: 'Wait',
  description: 'Waits; ignores its signal on purpose unless told otherwise.',
  toolset: 'slow',
  tier: 'LOW',
  scopes: ['mcp:test:read'],
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ ms: z.number().int().max(10_000) }),
  output: z.object({ done: z.boolean() }),
  handler: async ({ ms }, { seen, signal }) => {
    seen.push(signal);
    await new Promise((r) => setTimeout(r, ms));
    return { done: true };
  },
});

const base = (signal = new AbortController().signal) => ({
  signal,
  logger: silentLogger(),
  principal: { subject: 't', scopes: [], roles: [], source: 'stdio' as const },
  requestId: 'r',
  maxOutputBytes: 1024,
  options: {},
});

describe('invokeTool', () => {
  it('returns ERR_BACKEND_TIMEOUT at the deadline even if the handler ignores its signal, and aborts the signal', async () => {
    const services = { seen: [] as AbortSignal[] };
    const started = Date.now();
    await expect(invokeTool(slow, { ms: 5000 }, services, base(), { timeoutMs: 150 })).rejects.toMatchObject({
      code: 'ERR_BACKEND_TIMEOUT',
    });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(services.seen[0]?.aborted).toBe(true);
  });

  it('passes the caller cancellation through to the handler signal', async () => {
    const services = { seen: [] as AbortSignal[] };
    const caller = new AbortController();
    const pending = invokeTool(slow, { ms: 5000 }, services, base(caller.signal), { timeoutMs: 10_000 });
    caller.abort(new Error('client went away'));
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    expect(services.seen[0]?.aborted).toBe(true);
  });

  it("gives the handler the call's deadline (epoch ms), so it can answer with what it got done before it", async () => {
    const seen: number[] = [];
    const timed = defineTool({
      ...slow,
      name: 'sees_deadline',
      handler: async (_input, { deadline }) => {
        seen.push(deadline);
        return { done: true };
      },
    });
    const before = Date.now();
    await invokeTool(timed, { ms: 1 }, { seen: [] }, base(), { timeoutMs: 4321 });
    expect(seen[0]).toBeGreaterThanOrEqual(before + 4321);
    expect(seen[0]).toBeLessThanOrEqual(Date.now() + 4321);
  });

  it('names every mistake at once: unknown arguments and the known ones that are wrong', async () => {
    const err = await invokeTool(slow, { ms: 'soon', bogus: 1 }, { seen: [] }, base(), { timeoutMs: 1000 }).then(
      () => undefined,
      (e: ToolError) => e,
    );
    expect(err?.code).toBe('ERR_INVALID_INPUT');
    expect(err?.message).toMatch(
      /^invalid arguments for slow_wait: unknown argument\(s\) bogus; expected: ms; ms: Invalid input: expected number/,
    );
  });

  it('reads null for an optional argument that does not take null as absent (strict-mode clients send it)', () => {
    const tool = createToolDefiner<object>()({
      name: 'opt_args',
      title: 'Optional arguments',
      description: 'Echoes its parsed arguments.',
      toolset: 'opt',
      tier: 'LOW',
      scopes: ['mcp:test:read'],
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      input: z.object({
        required: z.string(),
        name: z.string().optional(),
        limit: z.number().int().default(5),
        note: z.string().nullable().optional(),
      }),
      output: z.object({}),
      handler: async () => ({}),
    });
    expect(parseToolInput(tool, { required: 'x', name: null, limit: null, note: null })).toEqual({
      required: 'x',
      limit: 5,
      note: null, // an argument that takes null keeps it
    });
    // a required argument sent as null is still refused, by name
    expect(() => parseToolInput(tool, { required: null, name: null })).toThrow(
      /^invalid arguments for opt_args: required: Invalid input: expected string, received null$/,
    );
  });

  it('answers in time when the handler is fast', async () => {
    await expect(invokeTool(slow, { ms: 1 }, { seen: [] }, base(), { timeoutMs: 1000 })).resolves.toEqual({
      done: true,
    });
  });

  it("with the call's own controller: the deadline aborts that one signal, and a cancel is still ERR_CANCELLED", async () => {
    const timed = new AbortController();
    const services = { seen: [] as AbortSignal[] };
    const pending = invokeTool(slow, { ms: 5000 }, services, base(timed.signal), {
      timeoutMs: 100,
      ownController: timed,
    });
    await expect(pending).rejects.toMatchObject({ code: 'ERR_BACKEND_TIMEOUT' });
    expect(services.seen[0]).toBe(timed.signal); // no second controller
    expect(timed.signal.aborted).toBe(true);

    const cancelled = new AbortController();
    const running = invokeTool(slow, { ms: 5000 }, { seen: [] }, base(cancelled.signal), {
      timeoutMs: 10_000,
      ownController: cancelled,
    });
    cancelled.abort('client disconnected');
    await expect(running).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
  });

  it('a tool that changes something, stopped while it ran, answers ERR_OUTCOME_UNKNOWN (not "cancelled" or "try again")', async () => {
    const change = defineTool({
      ...slow,
      name: 'slow_change',
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    });
    const caller = new AbortController();
    const cancelled = invokeTool(change, { ms: 5000 }, { seen: [] }, base(caller.signal), { timeoutMs: 10_000 });
    caller.abort(new Error('client went away'));
    await expect(cancelled).rejects.toMatchObject({
      code: 'ERR_OUTCOME_UNKNOWN',
      message: expect.stringMatching(
        /cancelled while it ran .* may or may not have taken effect: check the current state/,
      ),
    });
    const late = invokeTool(change, { ms: 5000 }, { seen: [] }, base(), { timeoutMs: 100 });
    await expect(late).rejects.toMatchObject({
      code: 'ERR_OUTCOME_UNKNOWN',
      message: expect.stringMatching(/did not finish within 100 ms; it may or may not have taken effect/),
    });
    // The handler's own cancellation error is no proof that nothing happened either.
    const own = defineTool({
      ...change,
      name: 'own_cancel',
      handler: async (_input, { signal }) => {
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        throw new ToolError('ERR_CANCELLED', 'cancelled while trying to stop it');
      },
    });
    const stopping = new AbortController();
    const ownRun = invokeTool(own, { ms: 1 }, { seen: [] }, base(stopping.signal), { timeoutMs: 10_000 });
    stopping.abort('gone');
    await expect(ownRun).rejects.toMatchObject({ code: 'ERR_OUTCOME_UNKNOWN' });
    // Not run at all: still plainly cancelled.
    const gone = new AbortController();
    gone.abort('gone');
    await expect(
      invokeTool(change, { ms: 1 }, { seen: [] }, base(gone.signal), { timeoutMs: 1000 }),
    ).rejects.toMatchObject({ code: 'ERR_CANCELLED', message: expect.stringMatching(/was not run/) });
  });

  it('ignores an ownController that is not behind the caller signal', async () => {
    const other = new AbortController();
    const services = { seen: [] as AbortSignal[] };
    await invokeTool(slow, { ms: 1 }, services, base(), { timeoutMs: 1000, ownController: other });
    expect(services.seen[0]).not.toBe(other.signal);
  });
});
