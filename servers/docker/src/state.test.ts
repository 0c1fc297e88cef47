import { describe, expect, it } from 'vitest';
import { LONE_SURROGATE } from '../../../test/fixtures/unicode.js';
import { COMMAND_MAX_CHARS, commandOf, portsOf, redactCommand, stateOf } from './state.js';

describe('portsOf', () => {
  it('renders published and exposed ports as docker ps does', () => {
    // As dockerd 20.10 listed `docker run -p 127.0.0.1::8080 --expose 9090` on this machine.
    expect(
      portsOf([
        { IP: '127.0.0.1', PrivatePort: 8080, PublicPort: 32768, Type: 'tcp' },
        { PrivatePort: 9090, Type: 'tcp' } as never,
      ]),
    ).toEqual(['127.0.0.1:32768->8080/tcp', '9090/tcp']);
  });

  it('brackets IPv6 hosts, keeps protocols apart and lists identical entries once', () => {
    expect(
      portsOf([
        { IP: '0.0.0.0', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
        { IP: '::', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
        { IP: '0.0.0.0', PrivatePort: 53, PublicPort: 5353, Type: 'udp' },
        // The Engine API reference's ContainerSummary example has no IP.
        { PrivatePort: 2222, PublicPort: 3333, Type: 'tcp' } as never,
      ]),
    ).toEqual(['0.0.0.0:5353->53/udp', '[::]:5353->53/udp', '3333->2222/tcp']);
  });

  it('is an empty list when the engine reports none', () => {
    expect(portsOf(undefined)).toEqual([]);
    expect(portsOf([])).toEqual([]);
  });
});

describe('commandOf', () => {
  it('keeps a short command whole', () => {
    expect(commandOf('sleep 30')).toBe('sleep 30');
    expect(commandOf(undefined)).toBe('');
  });

  it('cuts a long command to the limit with an ellipsis, on code points', () => {
    const long = `sh -c '${'🐳'.repeat(200)}'`;
    const cut = commandOf(long);
    expect(Array.from(cut)).toHaveLength(COMMAND_MAX_CHARS);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut.startsWith("sh -c '🐳")).toBe(true);
    // No lone surrogate: the cut never splits a character.
    expect(cut).not.toMatch(LONE_SURROGATE);
    expect(commandOf('x'.repeat(COMMAND_MAX_CHARS))).toBe('x'.repeat(COMMAND_MAX_CHARS));
  });
});

describe('redactCommand', () => {
  it('never shows a password in a URL, a secret flag or variable, or mysql -p', () => {
    const cases: [string, string][] = [
      [
        "sh -c 'exec sleep 100000' postgres://app:S3cretPW@db/app",
        "sh -c 'exec sleep 100000' postgres://app:[redacted]@db/app",
      ],
      ['server --password=S3cretPW --port 80', 'server --password=[redacted] --port 80'],
      ['server --db-password S3cretPW -v', 'server --db-password [redacted] -v'],
      ['agent --api-key "S3cret PW" --token=S3cretPW', 'agent --api-key [redacted] --token=[redacted]'],
      [
        "sh -c 'DB_PASSWORD=S3cretPW PGPASSWORD=S3cretPW run'",
        "sh -c 'DB_PASSWORD=[redacted] PGPASSWORD=[redacted] run'",
      ],
      ['mysql -uroot -pS3cretPW app', 'mysql -uroot -p[redacted] app'],
    ];
    for (const [command, shown] of cases) {
      expect(redactCommand(command)).toBe(shown);
      expect(commandOf(command)).not.toContain('S3cret');
    }
  });

  it('finds a secret where a shell word starts: after &&, |, (, a backtick, in quotes, and bare', () => {
    const cases: [string, string][] = [
      ["sh -c 'cd /app&&DB_PASSWORD=S3cretPW run'", "sh -c 'cd /app&&DB_PASSWORD=[redacted] run'"],
      ["sh -c 'true|PGPASSWORD=S3cretPW psql'", "sh -c 'true|PGPASSWORD=[redacted] psql'"],
      ["sh -c '(API_KEY=S3cretPW run)'", "sh -c '(API_KEY=[redacted] run)'"],
      ['sh -c `TOKEN=S3cretPW run`', 'sh -c `TOKEN=[redacted] run`'],
      ["sh -c 'TOKEN=S3cretPW run'", "sh -c 'TOKEN=[redacted] run'"],
      [`sh -c "app '--password=S3cretPW'"`, `sh -c "app '--password=[redacted]'"`],
      [`sh -c 'app "--token" S3cretPW'`, `sh -c 'app "--token" [redacted]'`],
    ];
    for (const [command, shown] of cases) expect(redactCommand(command)).toBe(shown);
  });

  it('shows control characters of a command as U+FFFD, whitespace ones as a space', () => {
    expect(commandOf("sh -c '\u001b]8;;https://x/\u0007a\nb\u009b'")).toBe(
      "sh -c '\uFFFD]8;;https://x/\uFFFDa b\uFFFD'",
    );
  });

  it('leaves ordinary commands alone', () => {
    for (const c of [
      'nginx -g daemon off;',
      'server --password-file /run/secrets/pw --no-password --verbose',
      'ssh -p 22 host',
      'curl https://example.com/a@b',
      'sh -c cat /run/secrets/db&&TOKEN_FILE=/run/t run',
    ])
      expect(redactCommand(c)).toBe(c);
  });

  it('redacts before cutting, so no part of a long secret is shown', () => {
    const cut = commandOf(`${'x'.repeat(40)} --token=${'S3cret'.repeat(20)}`);
    expect(cut).not.toContain('S3c');
    expect(cut).toContain('[redac');
  });
});

describe('stateOf', () => {
  it('a paused container is not running', () => {
    const info = {
      Id: 'a'.repeat(64),
      Name: '/web',
      RestartCount: 0,
      State: {
        Status: 'paused',
        Running: true,
        Paused: true,
        Restarting: false,
        OOMKilled: false,
        ExitCode: 0,
        StartedAt: '2026-12-06T04:00:00Z',
        FinishedAt: '0001-01-01T00:00:00Z',
      },
    } as never;
    expect(stateOf(info)).toMatchObject({ state: 'paused', running: false });
  });
});
