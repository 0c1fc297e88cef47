import { silentLogger } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage } from './fixture.js';
import { call, callError, makeServices, principal, tool } from './harness.js';

const fx = new DockerFixture('exec');
const services = makeServices();
let box: string;
let other: string;
let stopped: string;

const allow = (rules: unknown[]) => ({ options: { allow: rules } });

beforeAll(async () => {
  await ensureImage();
  [box, other, stopped] = await Promise.all([
    fx.start({ name: 'box', script: 'echo -n secret-ish > /tmp/value; sleep 600' }),
    fx.start({ name: 'other', script: 'sleep 600' }),
    fx.start({ name: 'stopped', script: 'exit 0' }),
  ]);
  await fx.waitFor('the file to be written', async () => {
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['cat', '/tmp/value'] },
      services,
      allow([{ argv: ['cat', '/tmp/value'] }]),
    );
    return res.stdout === 'secret-ish';
  });
});

afterAll(async () => {
  await fx.cleanup();
});

describe('exec_run', () => {
  it('runs an allowed argv and returns its output and exit code', async () => {
    const rules = [{ container: `${fx.prefix}-b*`, argv: ['echo'], rest: { pattern: '[a-z]+' } }];
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['echo', 'hello', 'world'] },
      services,
      allow(rules),
    );
    expect(res).toMatchObject({
      container: box,
      exitCode: 0,
      timedOut: false,
      stillRunning: false,
      stdout: 'hello world\n',
      stderr: '',
      stdoutTruncated: false,
    });
    expect(res.allowedBy).toEqual({ container: `${fx.prefix}-b*`, argv: ['echo', '.../[a-z]+/ (up to 8)'] });
  });

  it('returns a non-zero exit code and stderr', async () => {
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['ls', '/nope'] },
      services,
      allow([{ argv: ['ls', { pattern: '/[a-z]+' }] }]),
    );
    expect(res.exitCode).not.toBe(0);
    expect(res.exitCode).not.toBeNull();
    expect(res.stderr).toMatch(/nope/);
    expect(res.stdout).toBe('');
  });

  it('passes argv without a shell: metacharacters are plain arguments', async () => {
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['echo', '$(id)', ';', 'rm', '-rf', '/'] },
      services,
      allow([{ argv: ['echo', '$(id)', ';', 'rm', '-rf', '/'] }]),
    );
    expect(res.stdout).toBe('$(id) ; rm -rf /\n');
    const still = await call(
      tool('exec_run'),
      { container: box, argv: ['cat', '/tmp/value'] },
      services,
      allow([{ argv: ['cat', '/tmp/value'] }]),
    );
    expect(still.stdout).toBe('secret-ish');
  });

  it('refuses every command when the allowlist is empty or missing, telling the operator what to add', async () => {
    for (const opts of [{ options: {} }, allow([])]) {
      const err = await callError(tool('exec_run'), { container: box, argv: ['echo', 'hi'] }, services, opts);
      expect(err.code).toBe('ERR_NOT_ALLOWED');
      expect(err.message).toMatch(/servers\.docker\.tools\.exec_run\.options\.allow/);
    }
  });

  it('refuses an argv not on the list, another container, and extra args on an exact rule', async () => {
    const rules = [{ container: box, argv: ['cat', '/tmp/value'], exact: true }];
    const notListed = await callError(
      tool('exec_run'),
      { container: box, argv: ['sh', '-c', 'id'] },
      services,
      allow(rules),
    );
    expect(notListed.code).toBe('ERR_NOT_ALLOWED');
    expect(notListed.message).toContain('"sh"');
    const otherContainer = await callError(
      tool('exec_run'),
      { container: other, argv: ['cat', '/tmp/value'] },
      services,
      allow(rules),
    );
    expect(otherContainer.code).toBe('ERR_NOT_ALLOWED');
    const extra = await callError(
      tool('exec_run'),
      { container: box, argv: ['cat', '/tmp/value', '/etc/passwd'] },
      services,
      allow(rules),
    );
    expect(extra.code).toBe('ERR_NOT_ALLOWED');
    await expect(
      call(tool('exec_run'), { container: box, argv: ['cat', '/tmp/value'] }, services, allow(rules)),
    ).resolves.toMatchObject({ exitCode: 0 });
  });

  it('rules are exact: a listed file does not let the caller append other files (regression)', async () => {
    const rules = [{ argv: ['cat', '/tmp/value'] }];
    for (const argv of [
      ['cat', '/tmp/value', '/proc/1/environ'],
      ['cat', '/tmp/value', '/etc/passwd'],
      ['cat', '/proc/1/environ'],
    ]) {
      const err = await callError(tool('exec_run'), { container: box, argv }, services, allow(rules));
      expect(err.code).toBe('ERR_NOT_ALLOWED');
      expect(err.message).toMatch(/exactly the arguments they list/);
    }
    const res = await call(tool('exec_run'), { container: box, argv: ['cat', '/tmp/value'] }, services, allow(rules));
    expect(res.stdout).toBe('secret-ish');
  });

  it('a { pattern } argument admits only whole matches on the real engine', async () => {
    const rules = [{ argv: ['ls', { pattern: '/tmp(/[a-z]+)?' }] }];
    const ok = await call(tool('exec_run'), { container: box, argv: ['ls', '/tmp/value'] }, services, allow(rules));
    expect(ok.stdout).toBe('/tmp/value\n');
    for (const argv of [
      ['ls', '/tmp/../etc'],
      ['ls', '/tmp/value', '/etc'],
      ['ls', 'x/tmp'],
    ]) {
      const err = await callError(tool('exec_run'), { container: box, argv }, services, allow(rules));
      expect(err.code).toBe('ERR_NOT_ALLOWED');
    }
  });

  it('an interpreter rule with a variable argument is refused as an invalid allowlist', async () => {
    const err = await callError(tool('exec_run'), { container: box, argv: ['sh', '-c', 'id'] }, services, {
      options: { allow: [{ argv: ['sh', '-c', { pattern: '.*' }] }] },
    });
    expect(err.code).toBe('ERR_NOT_ALLOWED');
    expect(err.message).toMatch(/runs code or other programs/);
  });

  it('refuses a malformed allowlist (operator error) with ERR_NOT_ALLOWED', async () => {
    const err = await callError(tool('exec_run'), { container: box, argv: ['echo'] }, services, {
      options: { allow: 'echo' },
    });
    expect(err.code).toBe('ERR_NOT_ALLOWED');
    expect(err.message).toMatch(/invalid/);
  });

  it('honours the timeout and returns promptly with timedOut', async () => {
    const started = Date.now();
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['sleep', '30'], timeoutSeconds: 1 },
      services,
      allow([{ argv: ['sleep', { pattern: '\\d+' }] }]),
    );
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(res).toMatchObject({ timedOut: true, exitCode: null, stillRunning: true });
  });

  it('caps output per stream, keeping the last bytes, and reports the full size', async () => {
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['seq', '1', '20000'], maxOutputBytes: 1024 },
      services,
      allow([{ argv: ['seq', '1', '20000'] }]),
    );
    expect(res.exitCode).toBe(0);
    expect(res.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(res.stdout)).toBeLessThanOrEqual(1024);
    expect(res.stdout.endsWith('19999\n20000\n')).toBe(true);
    expect(res.stdoutBytes).toBe(Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('').length);
  });

  it('says when the server output budget lowered maxOutputBytes', async () => {
    const rules = allow([{ argv: ['seq', '1', '20000'] }]);
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['seq', '1', '20000'], maxOutputBytes: 64 * 1024 },
      services,
      { ...rules, maxOutputBytes: 16 * 1024 },
    );
    expect(res.notes).toEqual([
      "maxOutputBytes 65536 lowered to 7168 per stream: both streams fit the server's output budget of 16384 bytes (limits.maxOutputBytes)",
    ]);
    expect(Buffer.byteLength(res.stdout)).toBeLessThanOrEqual(7168);
    const roomy = await call(tool('exec_run'), { container: box, argv: ['seq', '1', '20000'] }, services, rules);
    expect(roomy.notes).toBeUndefined();
  });

  it('bad input is ERR_INVALID_INPUT: a shell string, an empty argv, NUL bytes', async () => {
    const opts = allow([{ argv: ['echo'], rest: { pattern: '.*' } }]);
    expect((await callError(tool('exec_run'), { container: box, argv: 'echo hi' }, services, opts)).code).toBe(
      'ERR_INVALID_INPUT',
    );
    expect((await callError(tool('exec_run'), { container: box, argv: [] }, services, opts)).code).toBe(
      'ERR_INVALID_INPUT',
    );
    expect((await callError(tool('exec_run'), { container: box, argv: ['echo', 'a\0b'] }, services, opts)).code).toBe(
      'ERR_INVALID_INPUT',
    );
    expect(
      (await callError(tool('exec_run'), { container: box, argv: ['echo'], timeoutSeconds: 0 }, services, opts)).code,
    ).toBe('ERR_INVALID_INPUT');
  });

  it('a wrapper rule with rest .* is refused; a vouched-for one cannot be handed a shell (audit #8)', async () => {
    // the audit's rule: ionice -c3 + anything ran `sh -c 'echo $DB_PASSWORD'`
    const wrapper = await callError(
      tool('exec_run'),
      { container: box, argv: ['ionice', '-c3', 'sh', '-c', 'cat /tmp/value'] },
      services,
      allow([{ argv: ['ionice', '-c3'], rest: { pattern: '.*', max: 8 } }]),
    );
    expect(wrapper.code).toBe('ERR_NOT_ALLOWED');
    expect(wrapper.message).toMatch(/"ionice" runs code or other programs/);
    const vouched = allow([{ argv: ['tr', 'a'], rest: { pattern: '.*', max: 2 }, runsPrograms: false }]);
    const ok = await call(tool('exec_run'), { container: box, argv: ['tr', 'a', 'b'] }, services, vouched);
    expect(ok.exitCode).toBe(0);
    for (const argv of [
      ['tr', 'a', 'sh'],
      ['tr', 'a', '/bin/busybox.static'],
      ['tr', 'a', '/lib/ld-musl-x86_64.so.1'],
    ]) {
      const err = await callError(tool('exec_run'), { container: box, argv }, services, vouched);
      expect(err.code, argv[2]).toBe('ERR_NOT_ALLOWED');
      expect(err.message).toMatch(
        /argument 2 names "(sh|busybox\.static|ld-musl-x86_64\.so\.1)", a shell, interpreter, loader or wrapper/,
      );
    }
  });

  it('a command outliving the call timeout comes back as timedOut with its output, not a retryable error (audit #7)', async () => {
    const started = Date.now();
    const res = await call(
      tool('exec_run'),
      { container: box, argv: ['sh', '-c', 'echo started; sleep 40'], timeoutSeconds: 60 },
      services,
      { ...allow([{ argv: ['sh', '-c', 'echo started; sleep 40'] }]), timeoutMs: 30_000 },
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(res).toMatchObject({ timedOut: true, stillRunning: true, exitCode: null, stdout: 'started\n' });
    expect(res.notes).toEqual([
      expect.stringMatching(/^timeoutSeconds 60 lowered to 2[0-5](\.\d)?: .*limits\.callTimeoutMs/),
    ]);
  }, 45_000);

  it('a refused argv is quoted bounded, however long (audit #11)', async () => {
    const argv = ['cat', ...Array.from({ length: 63 }, () => 'x'.repeat(4096))];
    const err = await callError(
      tool('exec_run'),
      { container: box, argv },
      services,
      allow([{ argv: ['cat', '/tmp/value'] }]),
    );
    expect(err.code).toBe('ERR_NOT_ALLOWED');
    expect(JSON.stringify({ message: err.message, details: err.details }).length).toBeLessThan(2_000);
    expect(err.message).toMatch(/64 arguments, 258051 characters in all/);
    expect(err.message).toMatch(/ask an operator to add an entry for it/);
  });

  it('the plan names the resolved container by name and id, and refuses what will not run (audit #3)', async () => {
    const rules = allow([{ argv: ['cat', '/tmp/value'] }]);
    const target = await fx.start({ name: 'planned', script: 'sleep 600' });
    const plan = async (argv: string[]) => {
      const t = tool('exec_run');
      const ctx = {
        ...services,
        signal: AbortSignal.timeout(10_000),
        deadline: Date.now() + 10_000,
        logger: silentLogger(),
        principal,
        requestId: 'plan',
        maxOutputBytes: 64 * 1024,
        ...rules,
      };
      const made = await t.plan?.(t.input.parse({ container: target, argv }), ctx);
      return typeof made === 'string' ? made : made?.text;
    };
    const id = (await fx.inspect(target)).Id;
    const first = await plan(['cat', '/tmp/value']);
    expect(first).toBe(`run ["cat","/tmp/value"] (no shell) inside container "${target}" (id ${id.slice(0, 12)})`);
    // another container takes the name: the plan (whose digest the confirmation token carries) changes
    await docker(['rm', '-f', target]);
    await fx.start({ name: 'planned', script: 'sleep 600' });
    const second = await plan(['cat', '/tmp/value']);
    expect(second).not.toBe(first);
    expect(second).toContain(`(id ${(await fx.inspect(target)).Id.slice(0, 12)})`);
    // no confirmation is handed out for a command the allowlist refuses
    await expect(plan(['cat', '/etc/passwd'])).rejects.toMatchObject({ code: 'ERR_NOT_ALLOWED' });
  });

  it('an unknown container is ERR_NOT_FOUND; a stopped one is ERR_CONFLICT', async () => {
    const opts = allow([{ argv: ['echo'] }]);
    const missing = await callError(
      tool('exec_run'),
      { container: `${fx.prefix}-gone`, argv: ['echo'] },
      services,
      opts,
    );
    expect(missing.code).toBe('ERR_NOT_FOUND');
    expect(missing.message).toContain(`${fx.prefix}-gone`);
    const notRunning = await callError(tool('exec_run'), { container: stopped, argv: ['echo'] }, services, opts);
    expect(notRunning.code).toBe('ERR_CONFLICT');
    expect(notRunning.message).toBe(
      `nothing was run: container "${stopped}" is exited, not running: start it with containers_start first`,
    );
  });

  it('a paused container: refused by name, saying it is paused and that unpausing is not one of these tools', async () => {
    const frozen = await fx.start({ name: 'frozen', script: 'sleep 600' });
    await docker(['pause', frozen]);
    const opts = allow([{ argv: ['echo'] }]);
    const err = await callError(tool('exec_run'), { container: frozen, argv: ['echo'] }, services, opts);
    expect(err.code).toBe('ERR_CONFLICT');
    expect(err.message).toContain(`nothing was run: container "${frozen}" is paused (its processes are frozen)`);
    expect(err.message).toContain('`docker unpause`, which is not one of these tools');
    // the engine's own refusal named the 64-hex id and told to unpause
    expect(err.message).not.toMatch(/[0-9a-f]{64}/);
    expect(err.details).toMatchObject({ state: 'paused' });
  });
});
