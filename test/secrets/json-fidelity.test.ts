import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';
import { assertNowhere, policyFor, type SecretsBin, startBin } from './harness.js';

// JSON secrets hold numbers a JavaScript number cannot hold exactly (an account id of 20 digits, 1e400). The tools
// that change one key (secrets_rotate, files_migrate with jsonKey) rewrote the whole object with JSON.stringify, and
// secrets_get of one key showed it the same way: other keys silently changed, and a reveal gave other digits than
// the ones stored. Found in the December 2026 attack round.
const sim = new SecretsManagerSimulator();
let bin: SecretsBin;
let dir: string;
const PASSWORD = 'Fid3lity-Horse-Battery-9xK2!';
const BIG = '12345678901234567890';
const LOSSY = `{"password":"${PASSWORD}","accountId":${BIG},"limits":{"max":1e400}}`;
const EXACT = `{"password": "${PASSWORD}", "port": 5432, "ratio": 1.50, "tiny": 1e-7}`;
const FILE_VALUE = 'Mig-Fidelity-Token-77aa9c';

beforeAll(async () => {
  await sim.start();
  sim.seed('fid/lossy', LOSSY);
  sim.seed('fid/exact', EXACT);
  sim.seed('fid/migrate', LOSSY);
  sim.seed('fid/pin', `{"user":"app","pin":${BIG}}`);
  sim.seed('fid/numeric-password', '{"username":"app","db_password":123456,"api_token":null}');
  sim.seed('fid/numeric-nested', '{"db":{"host":"db","password":"postgres"},"clients":[{"id":"a","secret":"short"}]}');
  dir = mkdtempSync(join(tmpdir(), 'secrets-fidelity-'));
  mkdirSync(join(dir, 'app'));
  writeFileSync(join(dir, 'app', '.env'), `API_TOKEN=${FILE_VALUE}\n`);
  bin = await startBin({
    sim,
    policy: policyFor({ confirm: false, revealTo: ['ops'] }),
    env: { SECRETS_FILE_ROOTS: dir },
  });
}, 60_000);

afterAll(async () => {
  await bin?.close();
  await sim.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('JSON numbers a double cannot hold', () => {
  it('secrets_rotate of one key never rewrites another key: refused, naming the key, nothing stored', async () => {
    const before = sim.stagesOf('fid/lossy');
    const r = await bin.call('secrets_rotate', { name: 'fid/lossy', jsonKey: 'password' });
    // before the fix: stored {"password":"<new>","accountId":12345678901234567000,"limits":{"max":null}}
    expect(sim.valueOf('fid/lossy')).toBe(LOSSY);
    expect(sim.stagesOf('fid/lossy')).toEqual(before);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_CONFLICT: /);
    expect(r.text).toContain('"accountId"');
    expect(r.text).toContain('"limits"');
    expect(r.text).not.toContain(BIG);
  });

  it('secrets_rotate of the key that holds such a number replaces it, and keeps exact numbers as they were', async () => {
    const r = await bin.call('secrets_rotate', { name: 'fid/pin', jsonKey: 'pin' });
    expect(r.isError, r.text).toBe(false);
    const now = JSON.parse(sim.valueOf('fid/pin') as string) as Record<string, unknown>;
    expect(now.user).toBe('app');
    expect(typeof now.pin).toBe('string');

    const e = await bin.call('secrets_rotate', { name: 'fid/exact', jsonKey: 'password' });
    expect(e.isError, e.text).toBe(false);
    const after = JSON.parse(sim.valueOf('fid/exact') as string) as Record<string, unknown>;
    expect(after).toMatchObject({ port: 5432, ratio: 1.5, tiny: 1e-7 });
    expect(after.password).not.toBe(PASSWORD);
  });

  it('files_migrate into a key of such a secret is refused before anything is stored', async () => {
    const before = sim.stagesOf('fid/migrate');
    const r = await bin.call('files_migrate', {
      file: 'app/.env',
      key: 'API_TOKEN',
      name: 'fid/migrate',
      jsonKey: 'api_token',
      mode: 'update',
    });
    expect(sim.valueOf('fid/migrate')).toBe(LOSSY);
    expect(sim.stagesOf('fid/migrate')).toEqual(before);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^ERR_CONFLICT: /);
    expect(r.text).toContain('"accountId"');
  });

  it('secrets_get of such a key reveals the digits stored, and masks their true length', async () => {
    const first = await bin.call('secrets_get', { name: 'fid/lossy', jsonKey: 'accountId', reveal: true });
    expect(first.isError, first.text).toBe(false);
    expect(first.structured?.length).toBe(BIG.length);
    const r = await bin.call('secrets_get', {
      name: 'fid/lossy',
      jsonKey: 'accountId',
      reveal: true,
      revealToken: first.structured?.revealToken,
    });
    expect(r.isError, r.text).toBe(false);
    expect(r.structured?.value).toBe(BIG);
    const nested = await bin.call('secrets_get', { name: 'fid/lossy', jsonKey: 'limits', reveal: true });
    const shown = await bin.call('secrets_get', {
      name: 'fid/lossy',
      jsonKey: 'limits',
      reveal: true,
      revealToken: nested.structured?.revealToken,
    });
    expect(JSON.stringify(shown.structured?.value)).toContain('1e400');
  });

  it('store_audit judges a numeric, null or nested password, not only top-level strings', async () => {
    const a = await bin.call('store_audit', { namePrefix: 'fid/numeric' });
    expect(a.isError, a.text).toBe(false);
    const rows = JSON.stringify(a.structured);
    expect(rows).toContain('db_password');
    expect(rows).toContain('api_token');
    // inside objects and arrays too, by path; their non-secret fields are not judged
    expect(a.structured?.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'fid/numeric-nested', key: 'db.password', issue: 'weak-default' }),
        expect.objectContaining({ name: 'fid/numeric-nested', key: 'clients[0].secret', issue: 'weak' }),
      ]),
    );
    expect(rows).not.toContain('db.host');
    expect(rows).not.toContain('123456');
  });

  it('no value in any answer, log or audit record', () => {
    assertNowhere([PASSWORD, FILE_VALUE], { results: bin.results(), stderr: bin.stderr(), audit: bin.auditText() });
  });
});
