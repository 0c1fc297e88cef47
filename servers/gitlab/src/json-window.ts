/**
 * One string field of a JSON object read from a stream in a byte window of its value: GitLab sends some
 * texts only inside JSON (a wiki page's `content`: the wikis API has no raw form), and reading all of a
 * large one to show a window of it would cost the whole transfer and memory. The object's other
 * top-level strings (title, slug...) are kept, each up to a few KiB; nested values are skipped.
 */

export interface JsonWindowSpec {
  /** The top-level field whose string value is windowed. */
  field: string;
  /** Bytes [offset, offset + bytes) of its value, decoded to UTF-8. */
  offset: number;
  bytes: number;
  /** Other top-level fields to see before reading may stop (when they come after the windowed one). */
  wants: readonly string[];
}

export interface JsonWindowRead {
  window: Buffer;
  /** The other top-level string fields, each cut at SMALL_FIELD_BYTES. */
  fields: Record<string, string>;
  /** The field's whole size in UTF-8 bytes: known only when its string ended in what was read. */
  total: number | undefined;
  /** JSON bytes read before reading stopped. */
  received: number;
}

const SMALL_FIELD_BYTES = 4096;
const KEY_BYTES = 256;

type Target = 'key' | 'window' | 'small';
type State = 'begin' | 'key' | 'keyOrEnd' | 'colon' | 'value' | 'string' | 'scalar' | 'after' | 'nested' | 'end';

export class JsonFieldWindow {
  readonly #spec: JsonWindowSpec;
  #state: State = 'begin';
  /** What the string being read is: a key, the windowed value, or another value kept (cut short). */
  #target: Target = 'key';
  #key = '';
  #buf: Buffer[] = [];
  #bufBytes = 0;
  #escape = false;
  #hex = '';
  #inHex = false;
  #high = 0;
  #depth = 0;
  #nestedString = false;
  #nestedEscape = false;
  readonly #window: Buffer[] = [];
  #fieldBytes = 0;
  #fieldDone = false;
  readonly #fields: Record<string, string> = {};
  #received = 0;

  constructor(spec: JsonWindowSpec) {
    this.#spec = spec;
  }

  /** The top-level object has closed. */
  get ended(): boolean {
    return this.#state === 'end';
  }

  /** Nothing more is needed: the window is filled (or the field ended) and the wanted fields were seen. */
  get enough(): boolean {
    const filled = this.#fieldDone || this.#fieldBytes >= this.#spec.offset + this.#spec.bytes;
    return this.ended || (filled && this.#spec.wants.every((k) => k in this.#fields));
  }

  result(): JsonWindowRead {
    return {
      window: Buffer.concat(this.#window),
      fields: { ...this.#fields },
      total: this.#fieldDone ? this.#fieldBytes : undefined,
      received: this.#received,
    };
  }

  /** Reads one chunk; throws SyntaxError on what is not a JSON object. */
  push(chunk: Buffer): void {
    this.#received += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      const c = chunk[i] as number;
      switch (this.#state) {
        case 'string': {
          if (!this.#escape && !this.#inHex && this.#high === 0) {
            // a run of plain bytes up to the next quote or backslash goes out in one piece
            let j = i;
            while (j < chunk.length && chunk[j] !== 0x22 && chunk[j] !== 0x5c) j++;
            if (j > i) {
              this.#emit(chunk.subarray(i, j));
              i = j;
              continue;
            }
          }
          this.#stringByte(c);
          i++;
          continue;
        }
        case 'nested':
          this.#nestedByte(c);
          i++;
          continue;
        default:
          break;
      }
      i++;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        if (this.#state === 'scalar') this.#state = 'after';
        continue;
      }
      switch (this.#state) {
        case 'begin':
          if (c !== 0x7b) throw new SyntaxError('not a JSON object');
          this.#state = 'keyOrEnd';
          break;
        case 'keyOrEnd':
        case 'key':
          if (c === 0x7d && this.#state === 'keyOrEnd') this.#state = 'end';
          else if (c === 0x22) this.#startString('key');
          else throw new SyntaxError('expected a key');
          break;
        case 'colon':
          if (c !== 0x3a) throw new SyntaxError('expected ":"');
          this.#state = 'value';
          break;
        case 'value':
          if (c === 0x22) this.#startString(this.#key === this.#spec.field ? 'window' : 'small');
          else if (c === 0x7b || c === 0x5b) {
            this.#state = 'nested';
            this.#depth = 1;
          } else this.#state = 'scalar';
          break;
        case 'scalar':
        case 'after':
          if (c === 0x2c) this.#state = 'key';
          else if (c === 0x7d) this.#state = 'end';
          else if (this.#state === 'after') throw new SyntaxError('expected "," or "}"');
          break;
        case 'end':
          throw new SyntaxError('text after the JSON object');
      }
    }
  }

  #startString(target: Target) {
    this.#state = 'string';
    this.#target = target;
    this.#buf = [];
    this.#bufBytes = 0;
  }

  #stringByte(c: number) {
    if (this.#inHex) {
      this.#hex += String.fromCharCode(c);
      if (this.#hex.length < 4) return;
      this.#inHex = false;
      const unit = Number.parseInt(this.#hex, 16);
      if (Number.isNaN(unit)) throw new SyntaxError('bad \\u escape');
      if (this.#high !== 0 && unit >= 0xdc00 && unit <= 0xdfff) {
        this.#emit(Buffer.from(String.fromCharCode(this.#high, unit), 'utf8'));
        this.#high = 0;
        return;
      }
      this.#loneHigh();
      if (unit >= 0xd800 && unit <= 0xdbff) this.#high = unit;
      // a lone low surrogate: what JSON.parse keeps and Buffer.from(text) writes as U+FFFD
      else this.#emit(Buffer.from(String.fromCharCode(unit), 'utf8'));
      return;
    }
    if (this.#escape) {
      this.#escape = false;
      if (c === 0x75) {
        this.#inHex = true;
        this.#hex = '';
        return;
      }
      this.#loneHigh();
      const simple = ESCAPES[c];
      if (simple === undefined) throw new SyntaxError('bad escape');
      this.#emit(Buffer.from([simple]));
      return;
    }
    if (c === 0x5c) {
      this.#escape = true;
      return;
    }
    this.#loneHigh();
    if (c === 0x22) this.#endString();
    else this.#emit(Buffer.from([c]));
  }

  /** A high surrogate not followed by a low one stands alone: U+FFFD in UTF-8, as Buffer.from writes it. */
  #loneHigh() {
    if (this.#high === 0) return;
    this.#high = 0;
    this.#emit(Buffer.from([0xef, 0xbf, 0xbd]));
  }

  #emit(bytes: Buffer) {
    switch (this.#target) {
      case 'window': {
        const from = this.#spec.offset;
        const to = from + this.#spec.bytes;
        const at = this.#fieldBytes;
        if (at + bytes.length > from && at < to)
          this.#window.push(Buffer.from(bytes.subarray(Math.max(0, from - at), to - at)));
        this.#fieldBytes += bytes.length;
        return;
      }
      default: {
        const cap = this.#target === 'key' ? KEY_BYTES : SMALL_FIELD_BYTES;
        if (this.#bufBytes >= cap) return;
        const kept = bytes.subarray(0, cap - this.#bufBytes);
        this.#buf.push(Buffer.from(kept));
        this.#bufBytes += kept.length;
      }
    }
  }

  #endString() {
    const text = Buffer.concat(this.#buf).toString('utf8');
    if (this.#target === 'key') {
      this.#key = text;
      this.#state = 'colon';
      return;
    }
    if (this.#target === 'window') this.#fieldDone = true;
    else if (this.#target === 'small') this.#fields[this.#key] = text;
    this.#state = 'after';
  }

  #nestedByte(c: number) {
    if (this.#nestedString) {
      if (this.#nestedEscape) this.#nestedEscape = false;
      else if (c === 0x5c) this.#nestedEscape = true;
      else if (c === 0x22) this.#nestedString = false;
      return;
    }
    if (c === 0x22) this.#nestedString = true;
    else if (c === 0x7b || c === 0x5b) this.#depth++;
    else if ((c === 0x7d || c === 0x5d) && --this.#depth === 0) this.#state = 'after';
  }
}

/** JSON's one-letter escapes and the byte each stands for. */
const ESCAPES: Record<number, number> = {
  34: 0x22,
  92: 0x5c,
  47: 0x2f,
  98: 0x08,
  102: 0x0c,
  110: 0x0a,
  114: 0x0d,
  116: 0x09,
};
