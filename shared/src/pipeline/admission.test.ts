import { describe, expect, it } from 'vitest';
import type { RavenhelmError } from '../errors.js';
import { CallAdmission } from './admission.js';

const refusal = (fn: () => void): RavenhelmError => {
  try {
    fn();
  } catch (err) {
    return err as RavenhelmError;
  }
  throw new Error('expected a refusal');
};

describe('CallAdmission', () => {
  it('admits up to the per-caller bound, refuses the next with what to do, and admits again after a release', () => {
    const a = new CallAdmission({ maxInFlight: 10, maxInFlightPerCaller: 2 });
    a.admit('agent-a');
    a.admit('agent-a');
    const e = refusal(() => a.admit('agent-a'));
    expect(e.code).toBe('ERR_TOO_MANY_CALLS');
    expect(e.mapping.kind).toBe('tool');
    expect(e.message).toMatch(/^2 of your tool calls are still running.*wait for one to finish, then call again$/);
    expect(e.details).toMatchObject({ running: 2, limit: 2 });
    // Another caller is not held back by agent-a's bound.
    a.admit('agent-b');
    expect(a.running).toBe(3);
    a.release('agent-a');
    a.admit('agent-a');
    expect(a.runningFor('agent-a')).toBe(2);
  });

  it('refuses over the process bound with ERR_SERVER_BUSY, whoever calls', () => {
    const a = new CallAdmission({ maxInFlight: 3, maxInFlightPerCaller: 2 });
    a.admit('a');
    a.admit('a');
    a.admit('b');
    const e = refusal(() => a.admit('c'));
    expect(e.code).toBe('ERR_SERVER_BUSY');
    expect(e.message).toBe('the server is running 3 tool calls, its limit; try again in a few seconds');
    a.release('b');
    a.admit('c');
    expect(a.running).toBe(3);
  });

  it('a refused call takes nothing, and extra releases never go below zero or free another caller', () => {
    const a = new CallAdmission({ maxInFlight: 5, maxInFlightPerCaller: 1 });
    a.admit('a');
    refusal(() => a.admit('a'));
    expect(a.running).toBe(1);
    a.release('a');
    a.release('a');
    a.release('nobody');
    expect(a.running).toBe(0);
    expect(a.runningFor('a')).toBe(0);
    a.admit('b');
    expect(a.running).toBe(1);
  });

  it('refuses nonsensical bounds', () => {
    expect(() => new CallAdmission({ maxInFlight: 0, maxInFlightPerCaller: 1 })).toThrow(/maxInFlight must be/);
    expect(() => new CallAdmission({ maxInFlight: 1, maxInFlightPerCaller: 1.5 })).toThrow(/maxInFlightPerCaller/);
  });
});
