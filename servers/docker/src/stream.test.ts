import { RavenhelmError } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { Demuxer, LastLines, type Line, LineSplitter, shownLine, TailWindow } from './stream.js';

const plain = (lines: Line[]) => lines.map(({ stream, text }) => ({ stream, text }));

function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('Demuxer', () => {
  it('splits stdout and stderr frames, even when chunks cut headers and payloads', () => {
    const wire = Buffer.concat([frame(1, 'hello\n'), frame(2, 'oops\n'), frame(1, 'bye\n')]);
    const d = new Demuxer();
    const frames = [];
    for (let i = 0; i < wire.length; i += 3) frames.push(...d.push(wire.subarray(i, i + 3)));
    frames.push(...d.end());
    expect(frames.map((f) => [f.stream, f.data.toString()])).toEqual([
      ['stdout', 'hello\n'],
      ['stderr', 'oops\n'],
      ['stdout', 'bye\n'],
    ]);
  });

  it('passes raw (TTY) output through as stdout', () => {
    const d = new Demuxer();
    const frames = [...d.push(Buffer.from('plain text from a tty\n')), ...d.push(Buffer.from('more\n')), ...d.end()];
    expect(frames.map((f) => f.data.toString()).join('')).toBe('plain text from a tty\nmore\n');
    expect(frames.every((f) => f.stream === 'stdout')).toBe(true);
  });

  it("ends the read with ERR_BACKEND_ERROR and the engine's text on a systemerr (type 3) frame", () => {
    const d = new Demuxer();
    expect(d.push(frame(1, 'ok\n')).map((f) => f.data.toString())).toEqual(['ok\n']);
    let err: unknown;
    try {
      d.push(Buffer.concat([frame(3, 'Error grabbing logs: log message is too large'), frame(2, 'later\n')]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RavenhelmError);
    expect((err as RavenhelmError).code).toBe('ERR_BACKEND_ERROR');
    expect((err as RavenhelmError).message).toContain('Error grabbing logs: log message is too large');
  });

  it('handles an empty payload frame', () => {
    const d = new Demuxer();
    expect(d.push(Buffer.concat([frame(1, ''), frame(2, 'x')])).map((f) => f.data.toString())).toEqual(['', 'x']);
  });

  it('a raw (TTY) stream is never split, even when it begins like a frame header', () => {
    const wire = frame(2, 'hello\n');
    const d = new Demuxer('raw');
    const frames = [...d.push(wire.subarray(0, 5)), ...d.push(wire.subarray(5)), ...d.end()];
    expect(Buffer.concat(frames.map((f) => f.data))).toEqual(wire);
    expect(frames.every((f) => f.stream === 'stdout')).toBe(true);
  });

  it('a multiplexed stream with a malformed header is an error, not raw output', () => {
    const d = new Demuxer('multiplexed');
    expect(d.push(frame(1, 'ok\n')).map((f) => f.data.toString())).toEqual(['ok\n']);
    let err: unknown;
    try {
      d.push(Buffer.from('plain text, no header'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RavenhelmError);
    expect((err as RavenhelmError).code).toBe('ERR_BACKEND_ERROR');
    expect((err as Error).message).toMatch(/malformed frame header \(706c61696e207465\).*Retry/);
  });
});

describe('LineSplitter', () => {
  it('joins lines spanning frames, per stream, and drops CR', () => {
    const s = new LineSplitter();
    const out = [
      ...s.push({ stream: 'stdout', data: Buffer.from('par') }),
      ...s.push({ stream: 'stderr', data: Buffer.from('err line\r\n') }),
      ...s.push({ stream: 'stdout', data: Buffer.from('tial\nnext') }),
      ...s.end(),
    ];
    expect(plain(out)).toEqual([
      { stream: 'stderr', text: 'err line' },
      { stream: 'stdout', text: 'partial' },
      { stream: 'stdout', text: 'next' },
    ]);
  });

  it('cuts runaway lines, saying how much was not shown', () => {
    const s = new LineSplitter(10);
    const out = [...s.push({ stream: 'stdout', data: Buffer.from('x'.repeat(25)) }), ...s.end()];
    expect(out.map((l) => l.text)).toEqual([`${'x'.repeat(10)}… [line cut: 15 more bytes not shown]`]);
  });

  it("joins the engine's 16 KiB partial entries into one line, dropping their repeated timestamps", () => {
    // dockerd splits a long line into partial entries, one frame each, each with its own timestamp
    const s = new LineSplitter(64 * 1024);
    const a = 'a'.repeat(16 * 1024);
    const b = '库'.repeat(2000);
    const out = plain([
      ...s.push({ stream: 'stdout', data: Buffer.from('2026-12-06T04:40:39.000000001Z before\n') }),
      ...s.push({ stream: 'stdout', data: Buffer.from(`2026-12-06T04:40:39.023096308Z ${a}`) }),
      ...s.push({ stream: 'stderr', data: Buffer.from('2026-12-06T04:40:39.023096400Z err\n') }),
      ...s.push({ stream: 'stdout', data: Buffer.from(`2026-12-06T04:40:39.023096500Z ${b}`) }),
      ...s.push({ stream: 'stdout', data: Buffer.from('2026-12-06T04:40:39.023096600Z end\n') }),
      ...s.push({ stream: 'stdout', data: Buffer.from('2026-12-06T04:40:39.100000000Z after\n') }),
      ...s.end(),
    ]);
    expect(out).toEqual([
      { stream: 'stdout', text: '2026-12-06T04:40:39.000000001Z before' },
      { stream: 'stderr', text: '2026-12-06T04:40:39.023096400Z err' },
      { stream: 'stdout', text: `2026-12-06T04:40:39.023096308Z ${a}${b}end` },
      { stream: 'stdout', text: '2026-12-06T04:40:39.100000000Z after' },
    ]);
  });

  it('a cut long line still ends where its newline is: the next line is whole', () => {
    const s = new LineSplitter(100);
    const out = plain([
      ...s.push({ stream: 'stdout', data: Buffer.from(`2026-12-06T04:40:39.1Z ${'x'.repeat(150)}`) }),
      ...s.push({ stream: 'stdout', data: Buffer.from(`2026-12-06T04:40:39.2Z ${'y'.repeat(150)}\n`) }),
      ...s.push({ stream: 'stdout', data: Buffer.from('2026-12-06T04:40:39.3Z next\n') }),
    ]);
    expect(out).toHaveLength(2);
    expect(out[0]?.text).toBe(`2026-12-06T04:40:39.1Z ${'x'.repeat(77)}… [line cut: 223 more bytes not shown]`);
    expect(out[1]?.text).toBe('2026-12-06T04:40:39.3Z next');
  });
});

describe('shownLine', () => {
  it('strips terminal controls and keeps the note of a cut line, even with a control string left open', () => {
    expect(shownLine('\u001b[31mred\u001b[0m')).toBe('red');
    const s = new LineSplitter(40);
    const [cut] = s.push({ stream: 'stdout', data: Buffer.from(`start \u001b]8;;https://x/${'y'.repeat(60)}\n`) });
    expect(shownLine(cut?.text ?? '')).toBe('start … [line cut: 41 more bytes not shown]');
  });
});

describe('TailWindow', () => {
  it('keeps the newest items within the byte budget and counts the rest', () => {
    const w = new TailWindow<string>(10, (s) => s.length);
    for (const s of ['aaaa', 'bbbb', 'cccc', 'dd']) w.push(s);
    expect(w.items()).toEqual(['bbbb', 'cccc', 'dd']);
    expect(w.seen).toBe(4);
    expect(w.dropped).toBe(1);
    expect(w.droppedBytes).toBe(4);
  });

  it('always keeps the latest item even when it alone is over budget', () => {
    const w = new TailWindow<string>(3, (s) => s.length);
    w.push('abcdef');
    expect(w.items()).toEqual(['abcdef']);
  });

  it('stays bounded over many pushes', () => {
    const w = new TailWindow<number>(100, () => 1);
    for (let i = 0; i < 10_000; i++) w.push(i);
    expect(w.items()).toHaveLength(100);
    expect(w.items()[0]).toBe(9_900);
  });
});

describe('LastLines', () => {
  const line = (text: string) => ({ stream: 'stdout' as const, text });
  const size = (l: { text: string }) => l.text.length + 1;

  it('keeps matching lines newest first within the byte cap and counts the dropped ones exactly', () => {
    const w = new LastLines(100, 10, size);
    for (const t of ['aaaa', 'skip', 'bbbb', 'cccc']) w.push(line(t), t !== 'skip');
    expect(w.lines().map((l) => l.text)).toEqual(['bbbb', 'cccc']);
    expect({ scanned: w.scanned, matched: w.matched, dropped: w.dropped, droppedBytes: w.droppedBytes }).toEqual({
      scanned: 4,
      matched: 3,
      dropped: 1,
      droppedBytes: 5,
    });
  });

  it('counts only the last maxLines scanned lines (tail applied after until)', () => {
    const w = new LastLines(3, 1000, size);
    for (let i = 1; i <= 10; i++) w.push(line(`l${i}`), i % 2 === 0);
    expect(w.lines().map((l) => l.text)).toEqual(['l8', 'l10']);
    expect({ scanned: w.scanned, matched: w.matched, dropped: w.dropped }).toEqual({
      scanned: 3,
      matched: 2,
      dropped: 0,
    });
  });

  it('a line dropped for bytes and then pushed out of the tail leaves every count', () => {
    const w = new LastLines(2, 6, size);
    for (const t of ['aaaa', 'bbbb', 'cccc', 'dddd']) w.push(line(t), true);
    expect(w.lines().map((l) => l.text)).toEqual(['dddd']);
    expect({ scanned: w.scanned, matched: w.matched, dropped: w.dropped, droppedBytes: w.droppedBytes }).toEqual({
      scanned: 2,
      matched: 2,
      dropped: 1,
      droppedBytes: 5,
    });
  });

  it('stays correct over many lines (compaction)', () => {
    const w = new LastLines(50, 40, size);
    for (let i = 0; i < 5000; i++) w.push(line(`x${i % 10}`), i % 3 === 0);
    const kept = w.lines();
    expect(w.scanned).toBe(50);
    expect(w.matched).toBe(kept.length + w.dropped);
    expect(kept.reduce((n, l) => n + size(l), 0)).toBeLessThanOrEqual(40);
  });
});
