import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  type SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { awsError, type SecretsBin, sdkFor, startBin } from './harness.js';

// A tag key is data: "__proto__" is a valid one (API reference, Tag: Key 1-128 characters, Value 0-256; User Guide,
// "Tag restrictions": letters, digits, spaces and _ . : / = + - @). z.record drops it without a word.
const sim = new SecretsManagerSimulator();
let sdk: SecretsManagerClient;
let bin: SecretsBin;

beforeAll(async () => {
  await sim.start();
  sdk = sdkFor(sim);
  bin = await startBin({ sim });
}, 60_000);
afterAll(async () => {
  sdk.destroy();
  await bin?.close();
  await sim.close();
});

describe('a tag named __proto__', () => {
  it('is written through the AWS SDK and read back through the MCP client by secrets_describe and secrets_list', async () => {
    await sdk.send(
      new CreateSecretCommand({
        Name: 'tags/proto',
        SecretString: 'tag-proto-value-Aa1!',
        Tags: [
          { Key: '__proto__', Value: 'owner-team' },
          { Key: 'env', Value: 'prod' },
        ],
      }),
    );
    await sdk.send(new TagResourceCommand({ SecretId: 'tags/proto', Tags: [{ Key: 'constructor', Value: 'c' }] }));
    const d = await sdk.send(new DescribeSecretCommand({ SecretId: 'tags/proto' }));
    expect(d.Tags).toEqual(
      expect.arrayContaining([
        { Key: '__proto__', Value: 'owner-team' },
        { Key: 'constructor', Value: 'c' },
      ]),
    );

    const described = await bin.call('secrets_describe', { name: 'tags/proto' });
    expect(described.isError, described.text).toBe(false);
    const tags = described.structured?.tags as Record<string, string>;
    expect(Object.hasOwn(tags, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(tags, '__proto__')?.value).toBe('owner-team');
    expect(Object.getPrototypeOf(tags)).toBe(Object.prototype);
    expect(Object.keys(tags).sort()).toEqual(['__proto__', 'constructor', 'env']);
    // the text is the same data (clients that forward only text see it too)
    expect(Object.keys(JSON.parse(described.text).tags).sort()).toEqual(['__proto__', 'constructor', 'env']);

    const listed = await bin.call('secrets_list', { tagKey: '__proto__', tagValue: 'owner-team' });
    expect(listed.isError, listed.text).toBe(false);
    expect(listed.structured?.secrets).toHaveLength(1);
    expect(Object.getOwnPropertyDescriptor(listed.structured?.secrets[0].tags, '__proto__')?.value).toBe('owner-team');
  });

  it('the simulator holds tags to the service bounds: key 1-128 characters, value at most 256', async () => {
    const long = await awsError(
      sdk.send(
        new CreateSecretCommand({ Name: 'tags/long', SecretString: 'v', Tags: [{ Key: 'k'.repeat(129), Value: '' }] }),
      ),
    );
    expect(long.name).toBe('ValidationException');
    const value = await awsError(
      sdk.send(new TagResourceCommand({ SecretId: 'tags/proto', Tags: [{ Key: 'k', Value: 'v'.repeat(257) }] })),
    );
    expect(value.name).toBe('ValidationException');
    const empty = await awsError(
      sdk.send(new TagResourceCommand({ SecretId: 'tags/proto', Tags: [{ Key: '', Value: 'v' }] })),
    );
    expect(empty.name).toBe('ValidationException');
    const ok = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: ['__proto__'] }] }));
    expect(ok.SecretList?.map((s) => s.Name)).toEqual(['tags/proto']);
  });
});
