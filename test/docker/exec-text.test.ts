/**
 * exec_run shows what an allowlisted command wrote as a terminal would show it: control sequences (an OSC 52
 * clipboard write, a window title, colours, a screen erase, a carriage-return rewrite) removed and counted,
 * bytes that are not UTF-8 replaced and counted, binary output not shown but described, and a tail cut
 * inside a character not mistaken for bad output. Real engine, busybox printf writing the bytes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';
import { call, makeServices, tool } from './harness.js';

const fx = new DockerFixture('exectext');
const services = makeServices();
let box: string;

// busybox printf: \033 is ESC, \007 BEL, \ooo any byte, %% a percent sign
const FILES: Record<string, string> = {
  esc: String.raw`\033]52;c;ZXZpbC1jbGlwYm9hcmQ=\007\033]0;pwned-title\007\033[31mred\033[0m \033[2Jline\r\nprogress 10%%\rprogress 100%%\n`,
  bad: String.raw`caf\351 ok \377\n`,
  bin: String.raw`\000\001\002ELF\000\000\n`,
  // 300 two-byte characters and a newline: 601 bytes, so the last 256 begin inside a character
  long: `${'é'.repeat(300)}\\n`,
};

const rules = Object.keys(FILES).map((f) => ({ argv: ['cat', `/tmp/${f}`] }));
const run = (file: string, extra: Record<string, unknown> = {}) =>
  call(tool('exec_run'), { container: box, argv: ['cat', `/tmp/${file}`], ...extra }, services, {
    options: { allow: rules },
  });

beforeAll(async () => {
  await ensureImage();
  const writes = Object.entries(FILES).map(
    ([f, body]) => `printf '${body}' > /tmp/${f}.part && mv /tmp/${f}.part /tmp/${f}`,
  );
  box = await fx.start({ name: 'box', script: `${writes.join('; ')}; sleep 600` });
  await fx.waitFor('the files to be written', async () => {
    const res = await run('long');
    return res.exitCode === 0;
  });
});

afterAll(async () => {
  await fx.cleanup();
});

describe('exec_run output as text', () => {
  it('removes terminal control sequences (OSC 52, title, colours, erase, CR rewrite) and says how many', async () => {
    const res = await run('esc');
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toBe('red line\nprogress 100%\n');
    expect(res.stdout).not.toMatch(/ZXZp|pwned|progress 10%/);
    // the command's own byte count is kept
    expect(res.stdoutBytes).toBe(
      Buffer.byteLength(
        '\x1b]52;c;ZXZpbC1jbGlwYm9hcmQ=\x07\x1b]0;pwned-title\x07\x1b[31mred\x1b[0m \x1b[2Jline\r\nprogress 10%\rprogress 100%\n',
      ),
    );
    expect(res.notes).toEqual([
      'stdout: 6 terminal control sequences (colours, cursor moves, erases, titles, clipboard writes, hyperlinks) removed, as a terminal shows the text',
    ]);
  });

  it('shows bytes that are not UTF-8 as U+FFFD and counts them', async () => {
    const res = await run('bad');
    expect(res.stdout).toBe('caf\uFFFD ok \uFFFD\n');
    expect(res.notes).toEqual(['stdout is not valid UTF-8: 2 byte sequences are shown as U+FFFD (\uFFFD)']);
  });

  it('does not show binary output, and says what it was', async () => {
    const res = await run('bin');
    expect(res.stdout).toBe('');
    expect(res.stdoutBytes).toBe(9);
    expect(res.notes).toEqual([
      'stdout is binary (3 NUL bytes in the 9 bytes written), so it is not shown: as text it would be noise; run a command that prints it as text (e.g. od or base64) if the allowlist has one',
    ]);
  });

  it('NUL-separated text (/proc/1/cmdline) stays text, each NUL shown as U+2400', async () => {
    const res = await call(tool('exec_run'), { container: box, argv: ['cat', '/proc/1/cmdline'] }, services, {
      options: { allow: [{ argv: ['cat', '/proc/1/cmdline'] }] },
    });
    // --init: tini runs `sh -c <script>`
    expect(res.stdout.startsWith('/sbin/docker-init\u2400--\u2400sh\u2400-c\u2400printf')).toBe(true);
    expect(res.stdout).not.toContain('\0');
    expect(res.notes).toEqual(['stdout has 5 NUL bytes, shown as \u2400 (U+2400)']);
  });

  it('a tail kept from inside a character is not reported as bad UTF-8', async () => {
    const res = await run('long', { maxOutputBytes: 256 });
    expect(res.stdoutBytes).toBe(601);
    expect(res.stdoutTruncated).toBe(true);
    // whole characters only (the JSON budget of 256 bytes may keep one fewer than the 255 bytes read)
    expect(res.stdout).toMatch(/^é{126,127}\n$/);
    expect(res.notes ?? []).toEqual([]);
  });

  it('plain text comes back unchanged and without notes', async () => {
    const res = await call(tool('exec_run'), { container: box, argv: ['echo', 'plain\ttext'] }, services, {
      options: { allow: [{ argv: ['echo', 'plain\ttext'] }] },
    });
    expect(res.stdout).toBe('plain\ttext\n');
    expect(res.notes).toBeUndefined();
  });
});
