// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose interpolation (${VAR:-default}) is what these files contain
/** A scan root with .env files and compose templates, a symlink out of the root and a huge file. */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** Plain-text values in the tree: none of them may ever leave the server. */
export const FILE_VALUES = {
  apiToken: 'tok_9f8e7d6c5b4a3f2e1d0c',
  minio: 's3cr3t-Minio-Key-2f9a81',
  outside: 'outside-Value-123abc-never-read',
  ignored: 'zzz-In-node-modules-77',
  huge: 'huge-File-Secret-4411aa',
} as const;

export interface Tree {
  base: string;
  root: string;
  outside: string;
}

export function makeTree(): Tree {
  const base = mkdtempSync(join(tmpdir(), 'secrets-files-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  const write = (path: string, text: string) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  };
  write(
    join(root, 'app', '.env'),
    [
      '# application settings',
      'POSTGRES_PASSWORD=postgrespassword',
      'REDIS_PASSWORD=__UNSET__',
      `API_TOKEN="${FILE_VALUES.apiToken}"`,
      'JWT_SECRET=CHANGE_ME_PLEASE',
      'DB_HOST=db',
      'ADMIN_EMAIL=CHANGE_ME',
      'SMTP_PASSWORD=',
      'PASSWORD_FILE=/run/secrets/pw',
      '',
    ].join('\n'),
  );
  write(join(root, 'app', '.env.example'), 'POSTGRES_PASSWORD=changeme\n');
  write(
    join(root, 'deploy', 'docker-compose.yml'),
    [
      'services:',
      '  db:',
      '    image: postgres:16',
      '    environment:',
      '      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-postgrespassword}',
      '      POSTGRES_USER: app',
      '  cache:',
      '    environment:',
      '      - REDIS_PASSWORD=${REDIS_PASSWORD}',
      `      - MINIO_SECRET_KEY=${FILE_VALUES.minio}`,
      '',
    ].join('\n'),
  );
  write(
    join(root, 'deploy', 'docker-compose.prod.yml.template'),
    'services:\n  grafana:\n    environment:\n      GF_SECURITY_ADMIN_PASSWORD: CHANGE_ME_BEFORE_DEPLOY\n',
  );
  write(join(root, 'node_modules', 'x', '.env'), `SECRET=${FILE_VALUES.ignored}\n`);
  write(join(root, 'big', '.env'), `BIG_PASSWORD=${FILE_VALUES.huge}\n${'# padding\n'.repeat(40_000)}`);
  write(join(outside, '.env'), `OUTSIDE_SECRET=${FILE_VALUES.outside}\n`);
  mkdirSync(join(root, 'linked'), { recursive: true });
  symlinkSync(join(outside, '.env'), join(root, 'linked', '.env'));
  symlinkSync(outside, join(root, 'escape'));
  return { base, root, outside };
}
