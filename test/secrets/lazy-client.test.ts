/**
 * The AWS SDK is loaded, and the Secrets Manager client built, by the first call, not at start (issue 14:
 * idle RSS): building the backend sends nothing; concurrent first calls share one client and all work
 * against the simulator. A missing SDK chunk in the bundle is covered by test/e2e/bundle.test.ts.
 */
import { SecretsBackend } from '@ravenhelm/mcp-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

const sim = new SecretsManagerSimulator();
const saved = { ...process.env };

beforeAll(async () => {
  await sim.start();
  // The SDK's own credential chain, as the server uses it: from the environment, nothing from this machine.
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: sim.accessKeyId,
    AWS_SECRET_ACCESS_KEY: sim.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  });
});
afterAll(async () => {
  process.env = saved;
  await sim.close();
});

describe('the Secrets Manager client, loaded on first use', () => {
  it('sends nothing when the backend is built; concurrent first calls share one client and all work', async () => {
    const backend = () =>
      new SecretsBackend({ region: sim.region, endpoint: sim.url, timeoutMs: 5000, maxAttempts: 1 });
    const idle = backend();
    const before = sim.control.operations.length;
    const clients = await Promise.all([idle.client(), idle.client(), idle.client()]);
    expect(clients[0]).toBe(clients[1]);
    expect(clients[1]).toBe(clients[2]);
    expect(sim.control.operations.length).toBe(before);
    idle.destroy();

    const fresh = backend();
    const lists = await Promise.all([1, 2, 3].map(() => fresh.list({ maxResults: 5 }, AbortSignal.timeout(5000))));
    for (const l of lists) expect(Array.isArray(l.SecretList)).toBe(true);
    expect(sim.control.operations.slice(before)).toEqual(['ListSecrets', 'ListSecrets', 'ListSecrets']);
    expect(await fresh.client()).toBe(await fresh.client());
    fresh.destroy();
    // Never built: nothing to close, and no error.
    expect(() => backend().destroy()).not.toThrow();
  });
});
