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

describe('audit fixes: exact bounds, long lines, unreadable logs, budget', () => {
  const DATA_BUDGET = 26_009; // the data share of the default 64 KiB output budget
  const project = `${fx.prefix}-proj`;
  const SERVICES = Array.from(
    { length: 14 },
    (_, i) => `payments-settlement-reconciliation-batch-exporter-worker-${String(i).padStart(2, '0')}`,
  );
  let ticks: string;
  let big: string;
  let nolog: string;

  beforeAll(async () => {
    const compose = (service: string) => ({
      'com.docker.compose.project': project,
      'com.docker.compose.service': service,
    });
    let started: string[];
    [ticks, big, ...started] = await Promise.all([
      fx.start({ name: 'ticks', script: 'for i in $(seq 0 14); do echo tick$i; sleep 0.2; done; sleep 600' }),
      // one 40,000-byte line: the engine stores it as 16 KiB partial entries
      fx.start({
        name: 'big',
        script: "echo before; head -c 40000 /dev/zero | tr '\\0' 'A'; echo; echo after; sleep 600",
      }),
      ...SERVICES.map((service, i) =>
        fx.start({
          name: `proj-${i}`,
          script: 'for i in $(seq 1 40); do echo "event $i happened in the settlement pipeline"; done; sleep 600',
          labels: compose(service),
        }),
      ),
      fx.start({
        name: 'proj-nolog',
        script: 'echo hi; sleep 600',
        labels: compose('nolog'),
        logDriver: 'none',
        init: false,
      }),
    ]);
    nolog = started.at(-1) as string;
    await fx.waitFor('all ticks', async () => {
      const res = await call(tool('logs_get'), { container: ticks }, services);
      return res.text.endsWith('tick14\n');
    });
    await fx.waitFor('the long line', async () => {
      const res = await call(tool('logs_get'), { container: big }, services);
      return res.text.endsWith('after\n');
    });
  }, 90_000);

  it('since and until are exact to the nanosecond: since keeps the bound line, until stops right before it', async () => {
    const stamped = await call(tool('logs_get'), { container: ticks, timestamps: true }, services);
    const rows = stamped.text.trimEnd().split('\n') as string[];
    expect(rows).toHaveLength(15);
    const tsOf = (row: string) => row.split(' ')[0] as string;
    // a tick with an earlier tick in the same whole second: rounding the bound to seconds shows
    const pivot = rows.findIndex(
      (row, i) => i > 0 && tsOf(row).slice(0, 19) === tsOf(rows[i - 1] as string).slice(0, 19),
    );
    expect(pivot).toBeGreaterThan(0);
    const bound = tsOf(rows[pivot] as string);
    const ticksFrom = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `tick${from + i}\n`).join('');

    const since = await call(tool('logs_get'), { container: ticks, since: bound }, services);
    expect(since.text).toBe(ticksFrom(pivot, 15));
    expect(since.scannedLines).toBe(15 - pivot);

    const until = await call(tool('logs_get'), { container: ticks, until: bound }, services);
    expect(until.text).toBe(ticksFrom(0, pivot));

    // paging back: tail counts back from until, and the line at until takes no tail slot
    const page = await call(tool('logs_get'), { container: ticks, until: bound, tail: 1 }, services);
    expect(page).toMatchObject({ text: `tick${pivot - 1}\n`, scannedLines: 1, matchedLines: 1 });
  }, 30_000);

  it('a line over 16 KiB comes back as one line, without engine timestamps inside, its cut stated', async () => {
    const res = await call(tool('logs_get'), { container: big, timestamps: true }, services);
    const rows = res.text.trimEnd().split('\n') as string[];
    expect(rows).toHaveLength(3);
    expect(res.matchedLines).toBe(3);
    expect(rows[0]).toMatch(/Z before$/);
    expect(rows[2]).toMatch(/Z after$/);
    const m = /^(\S+Z) (A+)… \[line cut: (\d+) more bytes not shown\]$/.exec(rows[1] as string);
    expect(m).not.toBeNull();
    // nothing lost but what the cut states, and one timestamp only
    expect((m?.[2] ?? '').length + Number(m?.[3])).toBe(40_000);
    expect((rows[1] as string).match(/\d{4}-\d{2}-\d{2}T\d{2}:/g)).toHaveLength(1);

    // the engine's tail counts 16 KiB pieces: tail 2 must still give the whole long line, not its last piece
    const tail = await call(tool('logs_get'), { container: big, tail: 2 }, services);
    const t = /^(A+)… \[line cut: (\d+) more bytes not shown\]\nafter\n$/.exec(tail.text);
    expect(t).not.toBeNull();
    expect((t?.[1] ?? '').length + Number(t?.[2])).toBe(40_000);
    expect(tail).toMatchObject({ scannedLines: 2, matchedLines: 2, lines: 2 });
  });

  it('a default answer fits the budget without a "lowered" note; an explicit maxBytes still gets one', async () => {
    const res = await call(tool('logs_get'), { container: bulk, tail: 3001 }, services, {
      maxOutputBytes: DATA_BUDGET,
    });
    expect(res.truncated).toBe(true);
    expect(res.notes.join('\n')).not.toMatch(/lowered/);
    expect(res.notes.join('\n')).toMatch(/to stay within 24985 bytes/);
    const explicit = await call(tool('logs_get'), { container: bulk, tail: 3001, maxBytes: 32_768 }, services, {
      maxOutputBytes: DATA_BUDGET,
    });
    expect(explicit.notes[0]).toMatch(/^maxBytes 32768 lowered to 24985/);
  });

  it('compose_get_logs states a container whose log cannot be read as a gap and returns the others', async () => {
    const res = await call(tool('compose_get_logs'), { project, tail: 5 }, services);
    expect(res.services).toEqual(['nolog', ...SERVICES]);
    expect(res.matchedLines).toBe(5 * SERVICES.length);
    expect(res.text).toContain(`${SERVICES[0]} | event 40 happened in the settlement pipeline`);
    expect(res.notes).toContain(
      `no logs from ${nolog} (service nolog): its log driver keeps no logs the engine can read (e.g. --log-driver none)`,
    );
    expect(JSON.stringify(res)).not.toMatch(/[0-9a-f]{64}/);
  });

  it('compose_get_logs fits the whole answer, services and notes included, into the budget', async () => {
    const budget = 4000;
    const res = await call(tool('compose_get_logs'), { project }, services, { maxOutputBytes: budget });
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(budget);
    expect(res.services).toHaveLength(SERVICES.length + 1);
    expect(res.truncated).toBe(true);
    expect(res.lines).toBeGreaterThan(0);
  });
});

describe('logs the engine keeps differently: a TTY, a log driver it cannot read', () => {
  it('a TTY container: its stderr is logged as stdout, and the answer says so instead of an empty stderr', async () => {
    const tty = await fx.start({ name: 'tty', script: 'echo out-line; echo err-line >&2; sleep 600', tty: true });
    await fx.waitFor(
      'the TTY log',
      async () => (await call(tool('logs_get'), { container: tty }, services)).lines === 2,
    );
    const both = await call(tool('logs_get'), { container: tty }, services);
    // the engine has no stderr for it: both lines come as stdout, the terminal's CR dropped
    expect(both.text).toBe('out-line\nerr-line\n');
    expect(both.notes).toEqual([
      `container "${tty}" has a TTY: the engine logs all it writes, stderr included, as stdout, so none of its lines is marked [stderr]`,
    ]);
    const stderr = await call(tool('logs_get'), { container: tty, streams: 'stderr' }, services);
    expect(stderr).toMatchObject({ text: '', lines: 0 });
    expect(stderr.notes.join(' ')).toContain('so streams "stderr" finds nothing from it; use streams "both"');
    // a container without a TTY gets no such note
    expect((await call(tool('logs_get'), { container: talker }, services)).notes).toBeUndefined();
  });

  it('a container with --log-driver none: logs_get says its log is kept nowhere, not an engine failure to retry', async () => {
    const none = await fx.start({ name: 'none', script: 'echo hi; sleep 600', logDriver: 'none', init: false });
    const err = await callError(tool('logs_get'), { container: none }, services);
    expect(err.code).toBe('ERR_CONFLICT');
    expect(err.message).toContain(`the log of container "${none}" cannot be read: its log driver "none" keeps no log`);
    expect(err.message).toContain('configured logging driver does not support reading');
    expect(err.message).toContain('recreated with a log driver such as json-file');
    expect(err.details).toMatchObject({ status: 501, logDriver: 'none' });
  });
});
