// biome-ignore-all lint/suspicious/noTemplateCurlyInString: compose interpolation (${VAR:-default}) is what these files contain
import {
  checkSecret,
  checkValue,
  fileKind,
  generateValue,
  literalValue,
  looksSecret,
  maskValue,
  parseEntries,
  spiffeMatch,
} from '@ravenhelm/mcp-secrets';
import { describe, expect, it } from 'vitest';

const policy = { minLength: 16, minClasses: 3, maxAgeDays: 90, extraWeakDefaults: ['hunter2'] };
const issues = (v: string) => checkValue(v, policy).map((f) => f.issue);

describe('value checks', () => {
  it('tells empty, placeholder, weak default, weak and strong apart', () => {
    expect(issues('')).toEqual(['empty']);
    for (const p of [
      '__UNSET__',
      'CHANGE_ME',
      'change-me-now',
      'changeme',
      'TODO',
      'xxxx',
      '<your token>',
      'your_password',
    ]) {
      expect(issues(p), p).toEqual(['placeholder']);
    }
    for (const w of ['postgrespassword', 'RedisPassword', 'minioadmin', 'hunter2'])
      expect(issues(w), w).toEqual(['weak-default']);
    expect(checkValue('short1A', policy)).toEqual([{ issue: 'weak', detail: '7 chars < 16' }]);
    expect(checkValue('alllowercaseletters', policy)).toEqual([{ issue: 'weak', detail: '1 of 3 character classes' }]);
    expect(issues('Str0ng-and-long-enough')).toEqual([]);
  });

  it('checks the string fields of a JSON secret, non-secret fields only for placeholders', () => {
    const found = checkSecret(
      JSON.stringify({ username: 'admin', password: 'admin', host: 'TODO', port: 5432 }),
      policy,
    );
    expect(found).toEqual([
      { issue: 'weak-default', key: 'password' },
      { issue: 'placeholder', key: 'host' },
    ]);
  });

  it('recognises secret-looking key names', () => {
    for (const k of ['POSTGRES_PASSWORD', 'apiKey', 'JWT_SECRET', 'GITHUB_TOKEN', 'MINIO_SECRET_KEY', 'DATABASE_DSN']) {
      expect(looksSecret(k), k).toBe(true);
    }
    for (const k of ['PASSWORD_FILE', 'DB_HOST', 'POSTGRES_USER', 'TOKEN_TTL', 'LOG_LEVEL'])
      expect(looksSecret(k), k).toBe(false);
  });

  it('masks: kind, length, JSON keys and a keyed fingerprint that differs by key and by value', () => {
    const k1 = Buffer.from('k'.repeat(32));
    const k2 = Buffer.from('j'.repeat(32));
    const m = maskValue('{"a":"x","b":"y"}', k1);
    expect(m).toMatchObject({ kind: 'json', length: 17, jsonKeys: ['a', 'b'] });
    expect(m.fingerprint).toMatch(/^hmac:[0-9a-f]{16}$/);
    expect(maskValue('{"a":"x","b":"y"}', k2).fingerprint).not.toBe(m.fingerprint);
    expect(maskValue('{"a":"x","b":"z"}', k1).fingerprint).not.toBe(m.fingerprint);
    expect(JSON.stringify(maskValue('plain-secret-value', k1))).not.toContain('plain-secret-value');
  });
});

describe('file parsing', () => {
  it('knows .env files, compose files and their templates by name', () => {
    for (const n of ['.env', '.env.local', '.env.example', 'prod.env']) expect(fileKind(n), n).toBe('env');
    for (const n of [
      'docker-compose.yml',
      'compose.yaml',
      'compose.prod.yaml',
      'docker-compose.yml.template',
      'compose.yaml.tmpl',
    ]) {
      expect(fileKind(n), n).toBe('compose');
    }
    for (const n of ['environment.ts', 'compose.json', 'values.yaml', 'env']) expect(fileKind(n), n).toBeUndefined();
  });

  it('reads .env lines (export, quotes, comments) and compose environment entries', () => {
    const env = parseEntries('# c\nexport A=1\nB="two words"\nC=three # note\nnot a line\n', 'env');
    expect(env).toEqual([
      { line: 2, key: 'A', value: '1' },
      { line: 3, key: 'B', value: 'two words' },
      { line: 4, key: 'C', value: 'three' },
    ]);
    const compose = parseEntries(
      'services:\n  a:\n    environment:\n      X: "1"\n      - Y=2\n    command: |\n      - "Z=three"\n      "W": \'four\'\n',
      'compose',
    );
    expect(compose).toEqual([
      { line: 4, key: 'X', value: '1' },
      { line: 5, key: 'Y', value: '2' },
      { line: 7, key: 'Z', value: 'three' },
      { line: 8, key: 'W', value: 'four' },
    ]);
  });

  it('judges the default of ${VAR:-default} and treats ${VAR} as a reference', () => {
    expect(literalValue('${PW:-postgrespassword}')).toBe('postgrespassword');
    expect(literalValue('${PW-x}')).toBe('x');
    expect(literalValue('${PW}')).toBeUndefined();
    expect(literalValue('$PW')).toBeUndefined();
    expect(literalValue('${PW:?required}')).toBeUndefined();
    expect(literalValue('literal')).toBe('literal');
  });
});

describe('generation and reveal matching', () => {
  it('generates values of the stated length with every included class and none of the excluded characters', () => {
    for (let i = 0; i < 50; i++) {
      const v = generateValue(16, ['lower', 'digits', 'symbols'], 'abc0');
      expect(v).toHaveLength(16);
      expect(v).toMatch(/[a-z]/);
      expect(v).toMatch(/[0-9]/);
      expect(v).toMatch(/[^A-Za-z0-9]/);
      expect(v).not.toMatch(/[A-Zabc0]/);
    }
    expect(() => generateValue(2, ['lower', 'upper', 'digits'], '')).toThrow(/at least 3/);
    expect(() => generateValue(16, ['digits'], '0123456789')).toThrow(/no characters left/);
  });

  it('matches SPIFFE patterns exactly, one segment (/*) or any depth (/**)', () => {
    expect(spiffeMatch('spiffe://td/ops/a', 'spiffe://td/ops/a')).toBe(true);
    expect(spiffeMatch('spiffe://td/ops/*', 'spiffe://td/ops/a')).toBe(true);
    expect(spiffeMatch('spiffe://td/ops/*', 'spiffe://td/ops/a/b')).toBe(false);
    expect(spiffeMatch('spiffe://td/ops/**', 'spiffe://td/ops/a/b')).toBe(true);
    expect(spiffeMatch('spiffe://td/ops/*', 'spiffe://td/opsx/a')).toBe(false);
    expect(spiffeMatch('spiffe://td/ops/**', 'spiffe://td/ops/')).toBe(false);
  });
});
