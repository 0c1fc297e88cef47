import { describe, expect, it } from 'vitest';
import { spiffeAllowed, spiffeMatches } from './spiffe-pattern.js';

const TD = 'spiffe://ravenhelm.local';

describe('spiffeMatches', () => {
  it.each([
    // exact
    [`${TD}/agent/oncall`, `${TD}/agent/oncall`, true],
    [`${TD}/agent/oncall`, `${TD}/agent/oncall2`, false],
    [`${TD}/agent/oncall`, `${TD}/agent/oncall/sub`, false],
    // /* is exactly one segment
    [`${TD}/agent/*`, `${TD}/agent/oncall`, true],
    [`${TD}/agent/*`, `${TD}/agent/oncall/sub`, false],
    [`${TD}/agent/*`, `${TD}/agent`, false],
    [`${TD}/agent/*`, `${TD}/agent/`, false],
    [`${TD}/agent/*`, `${TD}/agents/x`, false],
    [`${TD}/agent/*`, 'spiffe://other.local/agent/oncall', false],
    // /** is one or more segments
    [`${TD}/agent/**`, `${TD}/agent/oncall`, true],
    [`${TD}/agent/**`, `${TD}/agent/oncall/sub/deeper`, true],
    [`${TD}/agent/**`, `${TD}/agent`, false],
    [`${TD}/agent/**`, `${TD}/agent/`, false],
    [`${TD}/agent/**`, `${TD}/agent//x`, false],
    [`${TD}/agent/**`, `${TD}/agent/x/`, false],
    [`${TD}/agent/**`, `${TD}/agentx/y`, false],
    [`${TD}/**`, `${TD}/anything/at/all`, true],
  ])('%s matches %s: %s', (pattern, id, expected) => {
    expect(spiffeMatches(pattern, id)).toBe(expected);
  });
});

describe('spiffeAllowed', () => {
  it('needs an ID and at least one matching pattern', () => {
    expect(spiffeAllowed([`${TD}/agent/*`], undefined)).toBe(false);
    expect(spiffeAllowed([], `${TD}/agent/oncall`)).toBe(false);
    expect(spiffeAllowed([`${TD}/ci/*`, `${TD}/agent/*`], `${TD}/agent/oncall`)).toBe(true);
  });
});
