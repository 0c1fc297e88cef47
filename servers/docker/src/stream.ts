/**
 * Docker's multiplexed stream format (logs and exec without a TTY): each frame is an 8-byte header
 * [stream type, 0, 0, 0, uint32 big-endian length] followed by the payload. Stream types (moby
 * `pkg/stdcopy`): 0 stdin, 1 stdout, 2 stderr, 3 systemerr (an error the engine met while streaming,
 * e.g. "Error grabbing logs: ..."). Containers with a TTY send raw bytes instead, passed through as stdout.
 * The engine says which a container sends (`Config.Tty`); readers pass it on, since raw output can begin
 * with bytes that look like a frame header. Only a reader that does not know sniffs the first bytes.
 */
import { sliceChars, stripTerminalControls, ToolError } from '@ravenhelm/kit';

export type StreamName = 'stdout' | 'stderr';

export interface Frame {
  stream: StreamName;
  data: Buffer;
}

/** How a stream is framed: 'raw' for a TTY container, 'multiplexed' without one, 'sniff' when not known. */
export type StreamFormat = 'raw' | 'multiplexed' | 'sniff';

export class Demuxer {
  #pending: Buffer = Buffer.alloc(0);
  #raw: boolean;
  readonly #format: StreamFormat;

  constructor(format: StreamFormat = 'sniff') {
    this.#format = format;
    this.#raw = format === 'raw';
  }

  /** Feeds a chunk; returns the complete frames it finished. */
  push(chunk: Buffer): Frame[] {
    if (this.#raw) return [{ stream: 'stdout', data: chunk }];
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      if (this.#pending.length < 8) break;
      const type = this.#pending[0];
      const header = this.#pending;
      if (
        (type !== 0 && type !== 1 && type !== 2 && type !== 3) ||
        header[1] !== 0 ||
        header[2] !== 0 ||
        header[3] !== 0
      ) {
        if (this.#format === 'multiplexed') throw badHeader(header);
        // Not a multiplexed stream (TTY container): everything from here on is raw output.
        this.#raw = true;
        frames.push({ stream: 'stdout', data: this.#pending });
        this.#pending = Buffer.alloc(0);
        break;
      }
      const length = header.readUInt32BE(4);
      if (this.#pending.length < 8 + length) break;
      const data = this.#pending.subarray(8, 8 + length);
      this.#pending = this.#pending.subarray(8 + length);
      if (type === 3) throw systemError(data);
      frames.push({ stream: type === 2 ? 'stderr' : 'stdout', data });
    }
    return frames;
  }

  /** What is left when the stream ends: a partial frame is returned as-is so no output is lost. */
  end(): Frame[] {
    if (this.#pending.length === 0) return [];
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return [{ stream: 'stdout', data: this.#raw || rest.length < 8 ? rest : rest.subarray(8) }];
  }
}

/** A multiplexed stream that stops being one cannot be split into streams any further. */
function badHeader(header: Buffer): ToolError {
  return new ToolError(
    'ERR_BACKEND_ERROR',
    `the Docker Engine's multiplexed stream had a malformed frame header (${header.subarray(0, 8).toString('hex')}); the read was stopped rather than mixing the rest up. Retry; if it repeats, check dockerd (or a proxy in front of it)`,
  );
}

/** The engine's systemerr frame ends the read: what was streamed so far may be incomplete. */
function systemError(data: Buffer): ToolError {
  const text = sliceChars(stripTerminalControls(data.toString('utf8')).replace(/\s+/g, ' ').trim(), 300);
  return new ToolError(
    'ERR_BACKEND_ERROR',
    `the Docker Engine reported an error while streaming and ended the stream: ${text || '(no message)'}; check dockerd's log, then retry`,
  );
}

/** The note #finish appends to a line cut at maxLineBytes. */
const CUT_NOTE = /… \[line cut: \d+ more bytes not shown\]$/;

/**
 * A log line as a terminal shows it (stripTerminalControls), the note of a cut line kept: a control string
 * left open where the line was cut runs to the end of the line and would take the note with it.
 */
export function shownLine(text: string): string {
  const note = CUT_NOTE.exec(text);
  return note ? `${stripTerminalControls(text.slice(0, note.index))}${note[0]}` : stripTerminalControls(text);
}

export interface Line {
  stream: StreamName;
  text: string;
  /** Sort key (the engine timestamp, normalised) once a line has been rendered for an answer. */
  key?: string;
  /** Which read (LineSplitter) the line came from: a reader that retries can tell its reads apart. */
  read?: number;
  /** How many engine log entries (frames) the line was joined from: more than 1 for a line over 16 KiB. */
  pieces?: number;
  /** Position of the line in its read (0 = oldest), set by readers that need it. */
  seq?: number;
}

let reads = 0;

interface PartialLine {
  chunks: Buffer[];
  /** Bytes kept in `chunks` (at most maxLineBytes). */
  kept: number;
  /** Bytes past maxLineBytes, counted and not kept. */
  cutBytes: number;
  /** The line's first piece began with an engine timestamp (logs read with timestamps=true). */
  timestamped: boolean;
  /** Frames that contributed to the line. */
  pieces: number;
}

// RFC 3339 (nano) as the engine writes it before each log entry with timestamps=true, and the space after it.
const ENGINE_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}) /;

/**
 * Splits demultiplexed frames into lines per stream (a line may span frames). The engine stores a line
 * over 16 KiB as several partial entries and sends each as its own frame, with its own timestamp when
 * timestamps were asked for: a frame that does not end a line continues in the next frame of the same
 * stream, whose repeated timestamp is dropped, so the line comes back whole and is counted once. Lines
 * longer than `maxLineBytes` keep their first `maxLineBytes` (one runaway line cannot exhaust memory)
 * and say how much was not shown.
 */
export class LineSplitter {
  readonly #partial: Record<StreamName, PartialLine> = { stdout: emptyPartial(), stderr: emptyPartial() };
  readonly #maxLineBytes: number;
  readonly #read = ++reads;

  constructor(maxLineBytes = 16 * 1024) {
    this.#maxLineBytes = maxLineBytes;
  }

  push(frame: Frame): Line[] {
    const p = this.#partial[frame.stream];
    p.pieces++;
    let data = frame.data;
    if (p.timestamped && p.kept + p.cutBytes > 0) {
      const ts = ENGINE_TIMESTAMP.exec(data.subarray(0, 48).toString('latin1'));
      if (ts) data = data.subarray(ts[0].length);
    }
    const lines: Line[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
      this.#append(p, data.subarray(start, nl));
      lines.push({ stream: frame.stream, ...this.#finish(p), read: this.#read });
      // the rest of this frame starts the next line
      if (nl + 1 < data.length) p.pieces = 1;
      start = nl + 1;
    }
    if (start < data.length) this.#append(p, data.subarray(start));
    return lines;
  }

  end(): Line[] {
    const lines: Line[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const p = this.#partial[stream];
      if (p.kept + p.cutBytes > 0) lines.push({ stream, ...this.#finish(p), read: this.#read });
    }
    return lines;
  }

  #append(p: PartialLine, piece: Buffer): void {
    if (p.kept + p.cutBytes === 0 && piece.length > 0)
      p.timestamped = ENGINE_TIMESTAMP.test(piece.subarray(0, 48).toString('latin1'));
    const room = Math.max(0, this.#maxLineBytes - p.kept);
    if (piece.length > room) {
      p.cutBytes += piece.length - room;
      piece = piece.subarray(0, room);
    }
    if (piece.length > 0) {
      // copy: the frame's buffer is reused by the reader
      p.chunks.push(Buffer.from(piece));
      p.kept += piece.length;
    }
  }

  #finish(p: PartialLine): { text: string; pieces: number } {
    let text = Buffer.concat(p.chunks, p.kept).toString('utf8');
    if (p.cutBytes > 0) {
      // a cut inside a multi-byte character leaves a replacement character
      text = `${text.replace(/\uFFFD$/, '')}… [line cut: ${p.cutBytes} more bytes not shown]`;
    } else text = text.replace(/\r$/, '');
    const pieces = Math.max(1, p.pieces);
    Object.assign(p, emptyPartial());
    return { text, pieces };
  }
}

function emptyPartial(): PartialLine {
  return { chunks: [], kept: 0, cutBytes: 0, timestamped: false, pieces: 0 };
}

/** Keeps the newest items within a byte budget while a stream is read; counts everything seen. */
export class TailWindow<T> {
  readonly #items: T[] = [];
  #head = 0;
  #bytes = 0;
  seen = 0;
  dropped = 0;
  droppedBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {}

  push(item: T): void {
    this.seen++;
    this.#items.push(item);
    this.#bytes += this.sizeOf(item);
    while (this.#bytes > this.maxBytes && this.#items.length - this.#head > 1) {
      const size = this.sizeOf(this.#items[this.#head] as T);
      this.#bytes -= size;
      this.droppedBytes += size;
      this.#head++;
      this.dropped++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
  }

  items(): T[] {
    return this.#items.slice(this.#head);
  }
}

type Slot = { line: Line | undefined; matched: boolean; size: number };

/**
 * The last `maxLines` lines scanned (the engine applies `tail` before `until`, so with `until` the
 * server reads the log up to `until` and keeps the tail itself), of which the matching ones are kept
 * newest-first within `maxBytes`. Matching lines that no longer fit are counted (and their bytes), so
 * totals stay exact; lines pushed out of the last `maxLines` leave every count.
 */
export class LastLines {
  readonly #slots: Slot[] = [];
  #head = 0;
  /** Index of the oldest slot that may still hold a kept line. */
  #keptFrom = 0;
  #keptBytes = 0;
  matched = 0;
  dropped = 0;
  droppedBytes = 0;

  constructor(
    private readonly maxLines: number,
    private readonly maxBytes: number,
    private readonly sizeOf: (line: Line) => number,
  ) {}

  get scanned(): number {
    return this.#slots.length - this.#head;
  }

  push(line: Line, matched: boolean): void {
    const size = matched ? this.sizeOf(line) : 0;
    this.#slots.push({ line: matched ? line : undefined, matched, size });
    if (matched) {
      this.matched++;
      this.#keptBytes += size;
    }
    if (this.scanned > this.maxLines) this.#evictOldest();
    // keep at least the newest matching line, however large
    while (this.#keptBytes > this.maxBytes && this.#keptFrom < this.#slots.length - 1) {
      const slot = this.#slots[this.#keptFrom++] as Slot;
      if (slot.line === undefined) continue;
      slot.line = undefined;
      this.#keptBytes -= slot.size;
      this.dropped++;
      this.droppedBytes += slot.size;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#slots.length) {
      this.#slots.splice(0, this.#head);
      this.#keptFrom = Math.max(0, this.#keptFrom - this.#head);
      this.#head = 0;
    }
  }

  #evictOldest(): void {
    const slot = this.#slots[this.#head++] as Slot;
    if (this.#keptFrom < this.#head) this.#keptFrom = this.#head;
    if (!slot.matched) return;
    this.matched--;
    if (slot.line !== undefined) this.#keptBytes -= slot.size;
    else {
      this.dropped--;
      this.droppedBytes -= slot.size;
    }
  }

  lines(): Line[] {
    const out: Line[] = [];
    for (let i = this.#head; i < this.#slots.length; i++) {
      const line = (this.#slots[i] as Slot).line;
      if (line !== undefined) out.push(line);
    }
    return out;
  }
}

/** Sort key for the engine's RFC 3339 nano timestamps, whose fraction has a variable number of digits. */
export function timestampKey(ts: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(ts);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}` : ts;
}

/** Splits the engine's leading timestamp (logs requested with timestamps=true) from the line. */
export function withoutTimestamp(text: string): { ts: string; rest: string } {
  const sp = text.indexOf(' ');
  if (sp > 0 && /^\d{4}-\d{2}-\d{2}T/.test(text)) return { ts: text.slice(0, sp), rest: text.slice(sp + 1) };
  return { ts: '', rest: text };
}
