import type { Principal } from '@ravenhelm/auth';
import { describe, expect, it } from 'vitest';
import type { CancelCall } from './multiplex.js';
import { OwnCalls } from './own-calls.js';

const who = (subject: string, clientId?: string): Principal =>
  ({ subject, clientId, scopes: [], roles: [], source: 'oauth' }) as unknown as Principal;

function call(): CancelCall & { stopped: string[] } {
  const stopped: string[] = [];
  return Object.assign((why?: string) => stopped.push(why ?? 'disconnected'), { stopped });
}

describe('OwnCalls', () => {
  it("cancels the caller's one call under that exact id, and nobody else's", () => {
    const calls = new OwnCalls();
    const mine = call();
    const theirs = call();
    const otherClient = call();
    calls.add(who('a'), 5, mine);
    calls.add(who('b'), 5, theirs);
    calls.add(who('a', 'cli-2'), 5, otherClient);
    expect(calls.cancel(who('a'), '5')).toBe(false); // "5" is not 5
    expect(calls.cancel(who('a'), 6)).toBe(false);
    expect(calls.cancel(who('a'), 5)).toBe(true);
    expect(mine.stopped).toEqual(['cancelled']);
    expect(theirs.stopped).toEqual([]);
    expect(otherClient.stopped).toEqual([]);
  });

  it('cancels none when the id is ambiguous, and forgets calls that ended', () => {
    const calls = new OwnCalls();
    const one = call();
    const two = call();
    calls.add(who('a'), 'x', one);
    calls.add(who('a'), 'x', two);
    expect(calls.cancel(who('a'), 'x')).toBe(false);
    calls.remove(who('a'), 'x', one);
    expect(calls.cancel(who('a'), 'x')).toBe(true);
    expect(two.stopped).toEqual(['cancelled']);
    calls.remove(who('a'), 'x', two);
    expect(calls.callers).toBe(0);
    // ids no notification can name are not tracked
    calls.add(who('a'), null, call());
    calls.add(who('a'), { id: 1 }, call());
    expect(calls.callers).toBe(0);
  });
});
