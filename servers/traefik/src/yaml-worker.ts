/**
 * Hand-written YAML (files of the route directory this server did not write) is parsed in a worker thread with
 * a heap cap and a time limit. The yaml library (2.9) builds an Error, stack and all, for every syntax error and
 * slows down with their number: 64 KiB of stray "]" took 16 s and 214 MB on the main thread, 256 KiB (the file
 * bound) minutes, holding the event loop (every call of the server) the whole time. A worker that passes its
 * limit is terminated and the caller is told the file was not checked. Nesting that makes V8 abort the whole
 * process (a fatal error no worker contains) is refused before any of this, by yamlTooComplex.
 *
 * The worker runs `serve` from its source text, with the yaml library imported by URL: in the bundle and the
 * workspace build, from this module (which re-exports what it uses; the bundle emits it as a chunk of its own,
 * being loaded with `import()` only), so the bundle needs no extra entry point; from the TypeScript sources
 * (development, tests), from node_modules, so the worker needs no TypeScript loader (Node 20 workers do not
 * inherit tsx's hooks, and loading it there took seconds).
 */
import { type MessagePort, Worker } from 'node:worker_threads';

export { isMap, isScalar, parseDocument } from 'yaml';

/**
 * What one parse may take: 256 KiB of ordinary YAML took 0.6 s (block style) to 1.9 s (flow style, 4,000
 * routers) here, on a loaded machine; the 256 KiB of stray "]" above, minutes.
 */
export const PARSE_MS = 4000;
/** How long a parse may wait for the worker (busy with another file) before the caller goes on without it. */
const WAIT_MS = 5000;
const HEAP_MB = 64;
/** What the worker's start may take. */
const STARTUP_MS = 10_000;
/** A worker left idle this long is ended (it holds its own heap); the next parse starts another. */
const IDLE_MS = 30_000;
/** The aliases a document may expand (the library's default for parse()); more is an alias bomb. */
const MAX_ALIASES = 100;

/**
 * What the parser made of a text: its value and the kind of its top level; or that it is not YAML (the first
 * error's position only: the library's message may quote the file); or that it was not parsed here (`why`).
 */
export type YamlOutcome =
  | { kind: 'value'; value: unknown; top: 'map' | 'empty' | 'other' }
  | { kind: 'invalid'; line?: number; col?: number }
  | { kind: 'limit'; why: string };

type YamlLib = Pick<typeof import('yaml'), 'isMap' | 'isScalar' | 'parseDocument'>;

/**
 * The worker's program: answers each text it is sent with a YamlOutcome. Run from its source text (see
 * `program`), so it uses nothing but its arguments.
 */
function serve(yaml: YamlLib, port: MessagePort, maxAliases: number): void {
  port.on('message', ({ id, text }: { id: number; text: string }) => {
    let outcome: YamlOutcome;
    try {
      const doc = yaml.parseDocument(text, { prettyErrors: false });
      const err = doc.errors[0];
      if (err) {
        const before = text.slice(0, err.pos[0]);
        outcome = { kind: 'invalid', line: before.split('\n').length, col: before.length - before.lastIndexOf('\n') };
      } else {
        const c = doc.contents;
        const empty = c === null || (yaml.isScalar(c) && (c.value === null || c.value === ''));
        const top = yaml.isMap(c) ? 'map' : empty ? 'empty' : 'other';
        // toJS throws past maxAliases (an alias bomb)
        outcome = { kind: 'value', value: doc.toJS({ maxAliasCount: maxAliases }), top };
      }
    } catch {
      outcome = { kind: 'invalid' };
    }
    try {
      port.postMessage({ id, outcome });
    } catch {
      port.postMessage({ id, outcome: { kind: 'invalid' } }); // a value that cannot be cloned
    }
  });
  port.postMessage({ ready: true });
}

/** The worker's code: `serve` with the yaml library (see the top of this file for where it comes from). */
function program(): string {
  const self = import.meta.url;
  const lib = self.endsWith('.ts') ? import.meta.resolve('yaml') : self;
  return [
    // tsx compiles with keepNames, which wraps inner functions in __name(): a no-op here
    'const __name = (f) => f;',
    "const { parentPort } = require('node:worker_threads');",
    `import(${JSON.stringify(lib)}).then((lib) => (${serve.toString()})(lib.parseDocument ? lib : lib.default, parentPort, ${MAX_ALIASES}));`,
  ].join('\n');
}

interface Job {
  id: number;
  text: string;
  timeoutMs: number;
  resolve: (outcome: YamlOutcome) => void;
  timer?: NodeJS.Timeout;
}

interface Parser {
  worker: Worker;
  ready: boolean;
  /** The job it parses. */
  job?: Job;
  timer?: NodeJS.Timeout;
}

const queue: Job[] = [];
let parser: Parser | undefined;
let ids = 0;

function finish(job: Job, outcome: YamlOutcome): void {
  clearTimeout(job.timer);
  const at = queue.indexOf(job);
  if (at >= 0) queue.splice(at, 1);
  if (parser?.job === job) parser.job = undefined;
  job.resolve(outcome);
}

/** Ends the worker; its job, and the jobs queued while it never became ready, get `why`. */
function stop(p: Parser, why: string): void {
  if (parser !== p) return;
  parser = undefined;
  clearTimeout(p.timer);
  void p.worker.terminate();
  if (p.job) finish(p.job, { kind: 'limit', why });
  if (!p.ready) for (const job of [...queue]) finish(job, { kind: 'limit', why });
  pump();
}

function spawn(): Parser {
  // stdout kept from the process's own (over stdio it is the MCP stream) and never read: nothing here writes to
  // it, and a stream being read would keep the process alive (worker.unref() notwithstanding)
  const worker = new Worker(program(), {
    eval: true,
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 16, stackSizeMb: 4 },
    stdout: true,
  });
  const p: Parser = { worker, ready: false };
  p.timer = setTimeout(() => stop(p, `the YAML parser did not start within ${STARTUP_MS} ms`), STARTUP_MS);
  worker.on('message', (m: { ready?: true; id?: number; outcome?: YamlOutcome }) => {
    if (m.ready) {
      p.ready = true;
      clearTimeout(p.timer);
    } else if (p.job && p.job.id === m.id && m.outcome) {
      clearTimeout(p.timer);
      finish(p.job, m.outcome);
    }
    pump();
  });
  worker.on('error', (err: NodeJS.ErrnoException) =>
    stop(
      p,
      err.code === 'ERR_WORKER_OUT_OF_MEMORY'
        ? `parsing it needs more than ${HEAP_MB} MB`
        : `the YAML parser failed (${err.code ?? err.name})`,
    ),
  );
  worker.on('exit', () => stop(p, 'the YAML parser stopped'));
  worker.unref(); // after the listeners: adding a 'message' listener refs the worker again
  return p;
}

function pump(): void {
  if (parser && (!parser.ready || parser.job)) return;
  const job = queue.shift();
  if (!job) {
    const p = parser;
    if (p) {
      clearTimeout(p.timer);
      p.timer = setTimeout(() => stop(p, 'idle'), IDLE_MS).unref();
    }
    return;
  }
  if (!parser) {
    queue.unshift(job);
    try {
      parser = spawn();
    } catch (err) {
      for (const j of [...queue])
        finish(j, { kind: 'limit', why: `the YAML parser did not start (${(err as Error).message})` });
    }
    return;
  }
  const p = parser;
  clearTimeout(job.timer);
  clearTimeout(p.timer);
  p.job = job;
  p.timer = setTimeout(() => stop(p, `parsing it takes more than ${job.timeoutMs} ms`), job.timeoutMs);
  p.worker.postMessage({ id: job.id, text: job.text });
}

/** Starts the worker ahead of a parse likely to come (it takes tens of milliseconds to start). */
export function warm(): void {
  if (parser) return;
  try {
    parser = spawn();
  } catch {
    // the parse will say so
  }
}

/**
 * Parses YAML in the worker: at most `timeoutMs` (PARSE_MS at most) of parsing and HEAP_MB of heap, after at most
 * WAIT_MS in line behind other files (and the worker's start, STARTUP_MS at most). Never rejects: a parse beyond
 * the limits is `{ kind: 'limit' }`.
 */
export function parseYaml(text: string, timeoutMs = PARSE_MS): Promise<YamlOutcome> {
  return new Promise((resolve) => {
    const job: Job = { id: ++ids, text, timeoutMs: Math.max(1, Math.min(timeoutMs, PARSE_MS)), resolve };
    const waited = () => {
      if (!queue.includes(job)) return;
      // the worker's start has its own limit: wait for it
      if (parser && !parser.ready) job.timer = setTimeout(waited, WAIT_MS);
      else finish(job, { kind: 'limit', why: `the YAML parser was busy with other files for ${WAIT_MS} ms` });
    };
    job.timer = setTimeout(waited, WAIT_MS);
    queue.push(job);
    pump();
  });
}
