/**
 * A labelled walk through the secrets server for a new user, with no AWS account:
 *   node --conditions=@ravenhelm/source --import tsx test/secrets/demo.ts
 * Against the bundled Secrets Manager SIMULATOR by default; against a real endpoint (LocalStack) when
 * AWS_ENDPOINT_URL is set (it then creates and force-deletes secrets under `ravenhelm-demo/`).
 */

import { rmSync } from 'node:fs';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  ListSecretsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { makeTree } from './fixture-tree.js';
import { policyFor, startBin } from './harness.js';

const endpoint = process.env.AWS_ENDPOINT_URL;
const sim = endpoint ? undefined : await new SecretsManagerSimulator().start();
const target = endpoint
  ? {
      url: endpoint,
      region: process.env.AWS_REGION ?? 'us-east-1',
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    }
  : (sim as SecretsManagerSimulator);
console.log(endpoint ? `== REAL ENDPOINT ${endpoint} (LocalStack?)` : `== SIMULATOR at ${target.url} (no AWS needed)`);

const sdk = new SecretsManagerClient({
  endpoint: target.url,
  region: target.region,
  credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
});
const PREFIX = 'ravenhelm-demo/';
const seeds: [string, string][] = [
  [`${PREFIX}db`, JSON.stringify({ username: 'app', password: 'Demo-Db-Pass-0c8e51' })],
  [`${PREFIX}redis`, 'redispassword'],
  [`${PREFIX}smtp`, '__UNSET__'],
];
for (const [Name, SecretString] of seeds) await sdk.send(new CreateSecretCommand({ Name, SecretString }));
const tree = makeTree();

const bin = await startBin({
  sim: (sim ?? target) as SecretsManagerSimulator,
  policy: policyFor({ revealTo: ['ops'] }),
  env: { SECRETS_FILE_ROOTS: tree.root },
});
const show = (label: string, r: { isError: boolean; text: string }) =>
  console.log(`\n-- ${label}${r.isError ? ' (error)' : ''}\n${r.text.slice(0, 1200)}`);
try {
  show('secrets_list: metadata only', await bin.call('secrets_list', { namePrefix: PREFIX }));
  show('store_audit: names and findings', await bin.call('store_audit', { namePrefix: PREFIX }));
  show('files_audit: file, line, key', await bin.call('files_audit', { limit: 8 }));
  show('secrets_get: masked', await bin.call('secrets_get', { name: `${PREFIX}db`, jsonKey: 'password' }));
  show(
    'secrets_rotate (confirmed): version ids only',
    await bin.confirmed('secrets_rotate', { name: `${PREFIX}redis`, length: 32 }),
  );
  show('secrets_describe: stages after rotation', await bin.call('secrets_describe', { name: `${PREFIX}redis` }));
} finally {
  await bin.close();
  if (endpoint) {
    const listed = await sdk.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [PREFIX] }] }));
    for (const s of listed.SecretList ?? []) {
      await sdk.send(new DeleteSecretCommand({ SecretId: s.ARN, ForceDeleteWithoutRecovery: true }));
    }
  }
  sdk.destroy();
  await sim?.close();
  rmSync(tree.base, { recursive: true, force: true });
}
