/**
 * The prelude the secrets attack rounds share: a Secrets Manager simulator and the real bin over stdio in front
 * of it, started for the file (the simulator seeded before the bin starts) and closed after it.
 */
import { afterAll, beforeAll } from 'vitest';
import { type SecretsBin, startBin } from '../secrets/harness.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

export function useSecretsBin(
  opts: Omit<Parameters<typeof startBin>[0] & object, 'sim'> & {
    seed?: (sim: SecretsManagerSimulator) => void;
  },
): { readonly sim: SecretsManagerSimulator; readonly bin: SecretsBin } {
  const { seed, ...start } = opts;
  const sim = new SecretsManagerSimulator();
  let bin: SecretsBin | undefined;
  beforeAll(async () => {
    await sim.start();
    seed?.(sim);
    bin = await startBin({ sim, ...start });
  }, 60_000);
  afterAll(async () => {
    await bin?.close();
    await sim.close();
  });
  return {
    sim,
    get bin() {
      if (!bin) throw new Error('the secrets bin is not started (read it inside a test)');
      return bin;
    },
  };
}
