/**
 * The AWS SDK side of the key store, imported on its first write (see `SecretsKeyStore`): a server that
 * never stores a key does not load it.
 */
export { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
