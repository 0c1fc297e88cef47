import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';
import { call, callError, makeServices, tool } from './harness.js';

const fx = new DockerFixture('logs');
const services = makeServices();
let talker: string;
let bulk: string;
let longLines: string;
let phases: string;

// Lines: plain stdout, a colored stdout line, stderr lines, and a numbered run to test tail and truncation.
// The engine copies stdout and stderr on separate pipes, so lines are spaced out where the stream changes.
const SCRIPT = [
  'echo "hello from stdout"',
  'printf "\\033[31mERROR\\033[0m red alert \\033[1;32mgreen\\033[0m\\n"',
  'sleep 0.2',
  'echo "warning: disk almost full" >&2',
  'echo "request 17 failed with 500" >&2',
  'sleep 0.2',
  'echo "request 18 ok"',
  'echo "done"',
  'sleep 600',
].join('; ');

beforeAll(async () => {
  await ensureImage();
  [talker, longLines, bulk, phases] = await Promise.all([
    fx.start({ name: 'talker', script: SCRIPT }),
    // 200 lines of 64 "a": (.|.)*Z takes about 2^64 steps per line on the JS engine
    fx.start({ name: 'long', script: `for i in $(seq 1 200); do echo ${'a'.repeat(64)}; done; echo end; sleep 600` }),
    fx.start({
      name: 'bulk',
      script: "seq 0 2999 | sed 's/.*/bulk line & padding-padding-padding/'; echo last-line; sleep 600",
    }),
    // two phases 2.5 s apart: until reaches the first without grep
    fx.start({
      name: 'phases',
      script:
        'for i in $(seq 1 20); do echo early-$i; done; sleep 2.5; for i in $(seq 1 20); do echo late-$i; done; sleep 600',
    }),
  ]);
  await fx.waitFor('logs to be written', async () => {
    const res = await call(tool('logs_get'), { container: bulk, tail: 1 }, services);
    return res.text === 'last-line\n';
  });
  await fx.waitFor(
    'talker logs',
    async () => (await call(tool('logs_get'), { container: talker }, services)).lines === 6,
  );
});

afterAll(async () => {
  await fx.cleanup();
});

describe('logs_get', () => {
  it('returns both streams in time order, stderr marked, ANSI colors stripped', async () => {
    const res = await call(tool('logs_get'), { container: talker }, services);
    expect(res.text).toBe(
      [
        'hello from stdout',
        'ERROR red alert green',
        '[stderr] warning: disk almost full',
        '[stderr] request 17 failed with 500',
        'request 18 ok',
        'done',
        '',
      ].join('\n'),
    );
    expect(res).toMatchObject({ lines: 6, scannedLines: 6, matchedLines: 6, truncated: false });
  });

  it('adds the engine timestamps when asked', async () => {
    const res = await call(
      tool('logs_get'),
      { container: talker, timestamps: true, streams: 'stdout', tail: 1 },
      services,
    );
    expect(res.text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z done\n$/);
  });

  it('selects stderr only, unmarked', async () => {
    const res = await call(tool('logs_get'), { container: talker, streams: 'stderr' }, services);
    expect(res.text).toBe('warning: disk almost full\nrequest 17 failed with 500\n');
  });

  it('selects stdout only', async () => {
    const res = await call(tool('logs_get'), { container: talker, streams: 'stdout' }, services);
    expect(res.text).not.toContain('disk almost full');
    expect(res.text).toContain('request 18 ok');
  });

  it('greps by substring (case-insensitive) and by regex', async () => {
    const sub = await call(tool('logs_get'), { container: talker, grep: 'REQUEST', ignoreCase: true }, services);
    expect(sub.text).toBe('[stderr] request 17 failed with 500\nrequest 18 ok\n');
    expect(sub).toMatchObject({ matchedLines: 2, scannedLines: 6 });
    const re = await call(
      tool('logs_get'),
      { container: talker, grep: 'request \\d+ failed', grepMode: 'regex' },
      services,
    );
    expect(re.text).toBe('[stderr] request 17 failed with 500\n');
    const colored = await call(tool('logs_get'), { container: talker, grep: 'ERROR red alert' }, services);
    expect(colored.lines).toBe(1);
  });

  it('refuses an invalid regex and an unparseable since with ERR_INVALID_INPUT', async () => {
    expect(
      (await callError(tool('logs_get'), { container: talker, grep: '(open', grepMode: 'regex' }, services)).code,
    ).toBe('ERR_INVALID_INPUT');
    const since = await callError(tool('logs_get'), { container: talker, since: 'last tuesday' }, services);
    expect(since.code).toBe('ERR_INVALID_INPUT');
    expect(since.message).toMatch(/since/);
    expect((await callError(tool('logs_get'), { container: talker, tail: 0 }, services)).code).toBe(
      'ERR_INVALID_INPUT',
    );
  });

  it('runs catastrophic-backtracking patterns in linear time (regression: a 24-char line took 1.8 s)', async () => {
    await fx.waitFor('long lines', async () => {
      const res = await call(tool('logs_get'), { container: longLines, tail: 1 }, services);
      return res.text === 'end\n';
    });
    for (const grep of ['(.|.)*Z', '(\\w|\\d)+!']) {
      const res = await call(tool('logs_get'), { container: longLines, tail: 500, grep, grepMode: 'regex' }, services);
      expect(res).toMatchObject({ text: '', matchedLines: 0, scannedLines: 201 });
    }
    const hit = await call(
      tool('logs_get'),
      { container: longLines, tail: 500, grep: '^(a|aa)+$', grepMode: 'regex' },
      services,
    );
    expect(hit.matchedLines).toBe(200);
  }, 30_000);

  it('refuses a pattern RE2 cannot express, naming the construct', async () => {
    const err = await callError(
      tool('logs_get'),
      { container: talker, grep: '(?<!x)request', grepMode: 'regex' },
      services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/^grep: .*lookbehind/);
  });

  it('since in the future returns nothing; since an hour ago returns everything', async () => {
    const future = await call(
      tool('logs_get'),
      { container: talker, since: new Date(Date.now() + 3_600_000).toISOString() },
      services,
    );
    expect(future).toMatchObject({ text: '', lines: 0 });
    const hour = await call(tool('logs_get'), { container: talker, since: '1h' }, services);
    expect(hour.lines).toBe(6);
  });

  it('tail reads only the latest lines', async () => {
    const res = await call(tool('logs_get'), { container: bulk, tail: 3 }, services);
    expect(res.text).toBe(
      'bulk line 2998 padding-padding-padding\nbulk line 2999 padding-padding-padding\nlast-line\n',
    );
    expect(res.scannedLines).toBe(3);
  });

  it('caps the output at maxBytes, keeps the newest lines and says it truncated', async () => {
    const res = await call(tool('logs_get'), { container: bulk, tail: 3001, maxBytes: 1024 }, services);
    expect(res.truncated).toBe(true);
    expect(Buffer.byteLength(res.text)).toBeLessThanOrEqual(1024);
    expect(res.text.endsWith('last-line\n')).toBe(true);
    expect(res.text.startsWith('bulk line ')).toBe(true); // cut at a line boundary
    expect(res.scannedLines).toBe(3001);
    expect(res.totalBytes).toBeGreaterThan(100_000);
  });

  it('stays within the server output budget even when maxBytes is larger', async () => {
    const res = await call(tool('logs_get'), { container: bulk, tail: 3001, maxBytes: 1024 * 1024 }, services, {
      maxOutputBytes: 8 * 1024,
    });
    expect(res.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(8 * 1024);
  });

  it('totalBytes is exact: the bytes of every matching line as the answer would show them', async () => {
    const all = Array.from({ length: 3000 }, (_, i) => `bulk line ${i} padding-padding-padding\n`).join('');
    const expected = Buffer.byteLength(`${all}last-line\n`);
    const capped = await call(tool('logs_get'), { container: bulk, tail: 3001, maxBytes: 1024 }, services);
    expect(capped.totalBytes).toBe(expected); // regression: counted engine timestamps of dropped lines (+34%)
    const whole = await call(tool('logs_get'), { container: bulk, tail: 3001, maxBytes: 512 * 1024 }, services, {
      maxOutputBytes: 1024 * 1024,
    });
    expect(whole).toMatchObject({ truncated: false, totalBytes: expected });
    expect(whole.notes).toBeUndefined();
    const stamped = await call(
      tool('logs_get'),
      { container: bulk, tail: 3001, maxBytes: 1024, timestamps: true },
      services,
    );
    const full = await call(
      tool('logs_get'),
      { container: bulk, tail: 3001, maxBytes: 512 * 1024, timestamps: true },
      services,
      {
        maxOutputBytes: 1024 * 1024,
      },
    );
    expect(stamped.totalBytes).toBe(Buffer.byteLength(full.text));
  });

  it('every clamp says what it clamped to and why', async () => {
    const res = await call(tool('logs_get'), { container: bulk, tail: 3001, maxBytes: 1024 * 1024 }, services, {
      maxOutputBytes: 64 * 1024,
    });
    expect(res.truncated).toBe(true);
    expect(res.notes[0]).toBe(
      "maxBytes 1048576 lowered to 64512: every answer fits the server's output budget of 65536 bytes (limits.maxOutputBytes)",
    );
    expect(res.notes[1]).toMatch(
      new RegExp(
        `^kept the newest ${res.lines} of 3001 matching lines \\(\\d+ of ${res.totalBytes} bytes\\) to stay within 64512 bytes; reach older lines with until, since or grep$`,
      ),
    );
  });

  it('until reaches older lines without grep; tail counts back from it', async () => {
    await fx.waitFor('the second phase', async () => {
      const res = await call(tool('logs_get'), { container: phases, tail: 1 }, services);
      return res.text === 'late-20\n';
    });
    const stamped = await call(
      tool('logs_get'),
      { container: phases, tail: 40, timestamps: true, grep: 'early-20' },
      services,
    );
    const at = Date.parse(stamped.text.split(' ')[0]);
    const until = new Date(Math.floor(at / 1000) * 1000 + 1000).toISOString();
    const res = await call(tool('logs_get'), { container: phases, until, tail: 3 }, services);
    expect(res.text).toBe('early-18\nearly-19\nearly-20\n');
    expect(res).toMatchObject({ scannedLines: 3, matchedLines: 3, lines: 3, truncated: false });
    const window = await call(
      tool('logs_get'),
      {
        container: phases,
        until,
        since: new Date(Math.floor(at / 1000) * 1000 - 60_000).toISOString(),
        grep: 'early-1',
      },
      services,
    );
    expect(window.matchedLines).toBe(11); // early-1 and early-10..19
    const bad = await callError(tool('logs_get'), { container: phases, since: '1h', until: '2h' }, services);
    expect(bad.code).toBe('ERR_INVALID_INPUT');
    expect(bad.message).toMatch(/until \(2h\) must be later than since \(1h\)/);
  }, 30_000);

  it('an unknown container is ERR_NOT_FOUND naming it', async () => {
    const err = await callError(tool('logs_get'), { container: `${fx.prefix}-missing` }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toContain(`${fx.prefix}-missing`);
  });
});
