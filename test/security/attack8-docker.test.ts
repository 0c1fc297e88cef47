/**
 * Eighth round against the Docker server, from outside, through the MCP SDK client and the real engine.
 * What a container's owner controls (its command line, its labels, and so the engine's own error text and
 * events) is hostile input. Each case is a defect found in this round, kept as a regression test:
 * - a credential in a shell command after `&&`, `|` or `(`, a secret flag in quotes, or a variable named by
 *   the secret word alone (`TOKEN=`, `API_KEY=`) was shown in containers_list and events_list (the
 *   redaction looked after whitespace or `;` only, and for at least one character before the word);
 * - terminal control strings (an OSC 8 link's hidden URL, ESC, BEL, C1) in a container's command, in its
 *   compose labels as events carry them, and in the engine's error text about it (a command naming a
 *   file that does not exist: the engine quotes it raw) reached the answers; compose labels in events were
 *   not bounded either;
 * - containers_start named a container the engine refused to start by its 64-hex id, not by its name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultRig, startFaultRig } from '../docker/fault-rig.js';
import { DockerFixture, docker, ensureImage, RUN_LABEL, TEST_IMAGE, TEST_LABEL } from '../docker/fixture.js';
import type { ToolAnswer } from '../fixtures/fault-server.js';

const fx = new DockerFixture('attack8');
let rig: FaultRig;

const E = '\x1b';
const LINK = `${E}]8;;https://evil.example/hidden\x07`;
// biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none is left
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** Every string of an answer (its text and its structured content), for checks over all of it. */
function stringsOf(a: ToolAnswer): string[] {
  const out: string[] = [a.text];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        walk(k);
        walk(x);
      }
    }
  };
  walk(a.structured);
  return out;
}

function noControls(a: ToolAnswer): void {
  for (const s of stringsOf(a)) expect(s, JSON.stringify(s).slice(0, 300)).not.toMatch(CONTROL);
}

const SECRETS = ['hunter2a', 'hunter2b', 'hunter2c', 'hunter2d', 'hunter2e', 'hunter2f'];

beforeAll(async () => {
  await ensureImage();
  const project = `${fx.prefix}-p`;
  await Promise.all([
    // credentials where a shell takes an assignment or a flag: after &&, |, (, and a flag in quotes
    fx.start({ name: 'sec-and', init: false, script: 'cd /tmp&&DB_PASSWORD=hunter2a sleep 600' }),
    fx.start({ name: 'sec-pipe', init: false, script: 'true|API_KEY=hunter2b sleep 600' }),
    fx.start({ name: 'sec-sub', init: false, script: '(PGPASSWORD=hunter2c sleep 600)' }),
    fx.start({ name: 'sec-quote', init: false, script: `: "--token" hunter2d; sleep 600` }),
    fx.start({ name: 'sec-quote2', init: false, script: `: '--password=hunter2e'; sleep 600` }),
    // a variable named just for its secret: TOKEN=, with nothing before the secret word
    fx.start({ name: 'sec-bare', init: false, script: 'TOKEN=hunter2f sleep 600' }),
    // a command line with a hidden link and C1 controls in it
    fx.start({ name: 'ctl-cmd', init: false, script: `: '${LINK}x\u009b31m'; sleep 600` }),
    // a line over the 16 KiB a line keeps, whose hidden link is still open where it is cut
    fx.start({
      name: 'ctl-long',
      script: String.raw`printf 'start \033]8;;https://evil.example/'; head -c 20000 /dev/zero | tr '\0' x; printf '\033\\link\n'; echo next; sleep 600`,
    }),
    // compose labels with controls, one of them huge
    fx.start({
      name: 'ctl-label',
      script: 'sleep 600',
      labels: {
        'com.docker.compose.project': `${project}${LINK}`,
        'com.docker.compose.service': `web${E}[2J${'s'.repeat(20_000)}`,
      },
    }),
  ]);
  // a container whose command names a file that does not exist: the engine's error quotes it raw
  const broken = fx.nameOf('ctl-error');
  fx.names.push(broken);
  await docker([
    'create',
    '--network',
    'none',
    '--name',
    broken,
    '--label',
    `${TEST_LABEL}=1`,
    '--label',
    `${RUN_LABEL}=${fx.prefix}`,
    TEST_IMAGE,
    `/bin/${LINK}missing`,
  ]);
  await docker(['start', broken]).catch(() => undefined);
  // no engine fault here: calls get the time a loaded machine needs
  rig = await startFaultRig('attack8', { callTimeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  await rig?.close();
  await fx.cleanup();
});

describe('credentials in container commands', () => {
  it('containers_list redacts a secret after &&, |, (, in a quoted flag and in a bare TOKEN=', async () => {
    const a = await rig.calls.call('containers_list', { name: fx.nameOf('sec-'), limit: 20 });
    expect(a.isError, a.text).toBe(false);
    const rows = a.structured?.containers as { name: string; command: string }[];
    expect(rows).toHaveLength(6);
    for (const r of rows) expect(r.command, r.name).toContain('[redacted]');
    for (const s of SECRETS) expect(JSON.stringify(a)).not.toContain(s);
  });
});

describe('terminal controls in what a container owner controls', () => {
  it('containers_list: a command with a hidden link and C1 controls shows no control character', async () => {
    const a = await rig.calls.call('containers_list', { name: fx.nameOf('ctl-cmd') });
    expect(a.isError, a.text).toBe(false);
    expect(a.structured?.containers).toHaveLength(1);
    noControls(a);
  });

  it('events_list: compose labels carried by events show no control character and are bounded', async () => {
    const a = await rig.calls.call('events_list', { container: fx.nameOf('ctl-label'), since: '10m' });
    expect(a.isError, a.text).toBe(false);
    const events = a.structured?.events as { service?: string; composeProject?: string }[];
    expect(events.length).toBeGreaterThan(0);
    noControls(a);
    for (const e of events) {
      expect(e.composeProject).toMatch(new RegExp(`^${fx.prefix}-p`));
      expect((e.service ?? '').length).toBeLessThanOrEqual(201);
    }
  });

  it("containers_diagnose: the engine's error quoting the command shows no control character", async () => {
    const d = await rig.calls.call('containers_diagnose', { container: fx.nameOf('ctl-error') });
    expect(d.isError, d.text).toBe(false);
    expect(((d.structured?.findings ?? []) as string[]).join(' ')).toMatch(/engine error: .*no such file/);
    noControls(d);
  });

  it("containers_start: the engine's refusal quoting the command shows no control character", async () => {
    const s = await rig.calls.call('containers_start', { container: fx.nameOf('ctl-error'), waitSeconds: 1 });
    expect(s.isError).toBe(true);
    expect(s.text).toMatch(/no such file/);
    noControls(s);
    // named as the caller knows it, not by the 64-hex id the engine call used
    expect(s.text).toContain(`"${fx.nameOf('ctl-error')}"`);
    expect(s.text).not.toMatch(/[0-9a-f]{64}/);
  });
});

describe('terminal controls in log lines over 16 KiB', () => {
  it('logs_get: a hidden link left open by the cut does not hide that the line was cut', async () => {
    const name = fx.nameOf('ctl-long');
    let a: ToolAnswer | undefined;
    await fx.waitFor('the long line to be logged', async () => {
      a = await rig.calls.call('logs_get', { container: name });
      return a.structured?.lines === 2;
    });
    if (!a) throw new Error('no answer');
    noControls(a);
    const [first, second] = String(a.structured?.text).split('\n');
    expect(first).toMatch(/^start … \[line cut: \d+ more bytes not shown\]$/);
    expect(second).toBe('next');
  });
});
