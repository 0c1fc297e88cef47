import { pino } from 'pino';

export type Logger = pino.Logger;

/** Paths that may hold secrets anywhere in a log record; pino replaces their values. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'clientSecret',
  '*.clientSecret',
  'SecretString',
  '*.SecretString',
  'apiKey',
  '*.apiKey',
  // A Zitadel application key file's JSON (auth.introspection.key, private_key_jwt).
  'introspection.key',
  '*.introspection.key',
];

/** Structured JSON logs to stderr (stdout belongs to the stdio transport). */
export function createLogger(opts: { name: string; level?: string }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { server: opts.name },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
