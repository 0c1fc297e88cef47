import { ToolError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { RestartBudget } from './restart-budget.js';

describe('RestartBudget', () => {
  it('defaults to 3 restarts in 600 s', () => {
    expect(new RestartBudget().options).toEqual({ maxRestarts: 3, windowSeconds: 600 });
  });

  it('refuses after maxRestarts within the window with ERR_RESTART_BUDGET asking for a human', () => {
    let now = 1_000_000;
    const b = new RestartBudget({ maxRestarts: 2, windowSeconds: 60 }, () => now);
    b.check('web');
    b.record('web');
    now += 1000;
    b.check('web');
    expect(b.record('web')).toMatchObject({ used: 2, remaining: 0 });
    let caught: unknown;
    try {
      b.check('web', 'container "web"');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ToolError);
    expect((caught as ToolError).code).toBe('ERR_RESTART_BUDGET');
    expect((caught as ToolError).message).toMatch(/container "web".*escalate to a human/);
    expect((caught as ToolError).details).toMatchObject({
      used: 2,
      maxRestarts: 2,
      windowSeconds: 60,
      retryAfterSeconds: 59,
    });
  });

  it('keeps containers apart', () => {
    const b = new RestartBudget({ maxRestarts: 1, windowSeconds: 60 });
    b.record('a');
    expect(() => b.check('a')).toThrow(ToolError);
    expect(() => b.check('b')).not.toThrow();
  });

  it('slides: old restarts leave the window', () => {
    let now = 0;
    const b = new RestartBudget({ maxRestarts: 2, windowSeconds: 10 }, () => now);
    b.record('x');
    now = 5_000;
    b.record('x');
    expect(() => b.check('x')).toThrow(ToolError);
    now = 10_001; // the first restart is now older than 10 s
    expect(b.status('x')).toEqual({ used: 1, remaining: 1, retryAfterSeconds: 0 });
    expect(() => b.check('x')).not.toThrow();
    now = 20_000;
    expect(b.status('x').used).toBe(0);
  });
});
