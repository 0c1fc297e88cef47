import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, startBin } from './harness.js';

// secrets_rotate's last step takes AWSPENDING off the version it made current. Another rotation (a second agent, a
// Lambda) staging AWSPENDING on its own version in between makes that step fail: UpdateSecretVersionStage refuses a
// RemoveFromVersionId that does not hold the label (API reference, UpdateSecretVersionStage RemoveFromVersionId: "If
// the label is attached and you ... the version ID does not match, then the operation fails"). The rotation itself
// had succeeded: AWSCURRENT was on the new value. Before the fix the tool answered ERR_INVALID_INPUT, "fix the
// argument the service names": an agent told its rotation failed rotates again, or reports a credential unchanged
// that every reader already uses. Found in the December 2026 attack round.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
const OLD = 'value-race-old-Aa1!xyzxyzxyz';
const OTHER = 'value-race-other-Aa1!xyzxyz';

beforeAll(async () => {
  await sim.start();
  sim.seed('race/two', OLD);
  sim.seed('race/later', OLD);
  bin = await startBin({ sim, policy: policyFor({ confirm: false }) });
}, 60_000);

afterAll(async () => {
  await bin?.close();
  await sim.close();
});

describe('another rotation staging AWSPENDING while secrets_rotate finishes', () => {
  it('the rotation that made its value current says so, with the versions as they are', async () => {
    let other = '';
    // just before the move of AWSCURRENT: another writer stages its own AWSPENDING (taking it off ours)
    sim.control.beforeNext = {
      operation: 'UpdateSecretVersionStage',
      run: () => {
        other = sim.putValue('race/two', OTHER, ['AWSPENDING']);
      },
    };
    const r = await bin.call('secrets_rotate', { name: 'race/two', length: 24 });
    const stages = sim.stagesOf('race/two');
    const ours = Object.keys(stages).find((id) => stages[id]?.includes('AWSCURRENT')) as string;
    expect(sim.valueOf('race/two')).not.toBe(OLD);
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.versionId).toBe(ours);
    // the other writer's AWSPENDING is left where it put it, and the answer shows it
    expect(stages[other]).toEqual(['AWSPENDING']);
    expect(r.structured?.versions?.[other]).toEqual(['AWSPENDING']);
    expect(r.structured?.versions?.[ours]).toEqual(['AWSCURRENT']);
  });

  it('a value made current and then replaced by another writer is still an error that says what happened', async () => {
    let other = '';
    sim.control.beforeNext = {
      operation: 'UpdateSecretVersionStage',
      run: () => {
        // after our AWSCURRENT move, before our AWSPENDING removal: another put takes AWSCURRENT and AWSPENDING
        sim.control.beforeNext = {
          operation: 'UpdateSecretVersionStage',
          run: () => {
            other = sim.putValue('race/later', OTHER, ['AWSCURRENT', 'AWSPENDING']);
          },
        };
      },
    };
    const r = await bin.call('secrets_rotate', { name: 'race/later', length: 24 });
    expect(sim.valueOf('race/later')).toBe(OTHER);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_CONFLICT: /);
    expect(r.text).toContain(`now version ${other}`);
  });

  it('no value in any answer, log or audit record', () => {
    assertNowhere([OLD, OTHER], { results: bin.results(), stderr: bin.stderr(), audit: bin.auditText() });
  });
});
