/**
 * The AWS SDK side of the backend, imported on the first Secrets Manager call (see `SecretsBackend`): the
 * client, its middleware stack and credential chain stay off the start-up path of an idle server.
 */
export {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
