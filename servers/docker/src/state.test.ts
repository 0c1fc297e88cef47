import { describe, expect, it } from 'vitest';
import { COMMAND_MAX_CHARS, commandOf, portsOf } from './state.js';

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
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    expect(commandOf('x'.repeat(COMMAND_MAX_CHARS))).toBe('x'.repeat(COMMAND_MAX_CHARS));
  });
});
