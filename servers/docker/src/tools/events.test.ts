import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../backend.js';
import { containerMatcher } from './events.js';

const ev = (id: string, name: string): EngineEvent => ({
  Type: 'container',
  Action: 'start',
  Actor: { ID: id.padEnd(64, '0'), Attributes: { name } },
  timeNano: 1,
});

describe('containerMatcher (events_list container filter)', () => {
  const a = ev('deadbeef11', 'web');
  const b = ev('deadbeef22', 'worker');
  const named = ev('0123456789', 'deadbeef');

  it('a hex ref that names a container now (no events of it kept) is the name, not an id prefix', async () => {
    const m = await containerMatcher('deadbeef', [a, b], async () => true);
    expect([a, b].filter(m.test)).toEqual([]);
    expect(m.notes([], [a, b]).join(' ')).toMatch(
      /"deadbeef" is a container's name, so only its events are shown; 2 events of 2 other containers whose id starts with "deadbeef" \(deadbeef1100, deadbeef2200\) are not/,
    );
  });

  it('a hex ref no container is named is an id prefix; several containers sharing it are said', async () => {
    const m = await containerMatcher('deadbeef', [a, b], async () => false);
    const shown = [a, b, named].filter(m.test);
    expect(shown).toEqual([a, b]);
    expect(m.notes(shown, [a, b, named]).join(' ')).toContain(
      '"deadbeef" is the start of the ids of 2 containers (deadbeef1100, deadbeef2200): the events of all of them are shown',
    );
    const one = await containerMatcher('deadbeef11', [a, b], async () => false);
    expect(one.notes([a, b].filter(one.test), [a, b])).toEqual([]);
  });

  it('a name in the kept events wins without asking the engine; a full id is the id', async () => {
    let asked = false;
    const m = await containerMatcher('deadbeef', [named, a], async () => {
      asked = true;
      return false;
    });
    expect(asked).toBe(false);
    expect([named, a, b].filter(m.test)).toEqual([named]);
    const full = await containerMatcher(a.Actor?.ID as string, [], async () => true);
    expect([named, a, b].filter(full.test)).toEqual([a]);
  });
});
