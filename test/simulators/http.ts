/** The loopback HTTP plumbing every vendor simulator shares: routing, JSON/text replies, slow and failing modes. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type Reply = { status: number; json: unknown } | { status: number; text: string };

export interface SimRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Knobs a test turns to make a simulator misbehave. */
export interface SimControl {
  /** Delay before every answer (a slow backend). */
  delayMs: number;
  /** When set, every request gets this answer instead (a failing backend). */
  fail: Reply | undefined;
  /** Requests seen, newest last (bounded). */
  requests: SimRequest[];
}

export interface SimServer {
  url: string;
  control: SimControl;
  close(): Promise<void>;
}

export interface Listening {
  url: string;
  close(): Promise<void>;
}

/** A plain loopback HTTP server on a free port; close() also drops kept-alive connections. */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const MAX_BODY = 8 * 1024 * 1024;
const MAX_LOGGED = 200;

export async function serve(route: (req: SimRequest) => Reply | Promise<Reply>): Promise<SimServer> {
  const control: SimControl = { delayMs: 0, fail: undefined, requests: [] };
  const timers = new Set<NodeJS.Timeout>();
  const listening = await listen((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const sim: SimRequest = {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', 'http://sim'),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      control.requests.push(sim);
      if (control.requests.length > MAX_LOGGED) control.requests.shift();
      const answer = async () => {
        let reply: Reply;
        try {
          reply = control.fail ?? (await route(sim));
        } catch (err) {
          reply = { status: 500, text: `simulator error: ${(err as Error).message}` };
        }
        if (res.destroyed) return;
        if ('json' in reply) {
          res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.json));
        } else {
          res.writeHead(reply.status, { 'content-type': 'text/plain; charset=utf-8' }).end(reply.text);
        }
      };
      if (control.delayMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          void answer();
        }, control.delayMs);
        timers.add(t);
      } else void answer();
    });
  });
  return {
    url: listening.url,
    control,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await listening.close();
    },
  };
}

/** A small tokenizer for the query languages the simulators accept: identifiers, strings, operators. */
export interface Token {
  kind: 'ident' | 'string' | 'op' | 'punct' | 'number';
  text: string;
  col: number;
}

export function tokenize(src: string, ops: readonly string[]): Token[] | { error: string; col: number } {
  const out: Token[] = [];
  let i = 0;
  const sortedOps = [...ops].sort((a, b) => b.length - a.length);
  while (i < src.length) {
    const ch = src[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const col = i + 1;
    if (ch === '"' || ch === '`') {
      let j = i + 1;
      let text = '';
      while (j < src.length && src[j] !== ch) {
        if (src[j] === '\\' && ch === '"' && j + 1 < src.length) {
          text += src[j + 1];
          j += 2;
        } else text += src[j++];
      }
      if (j >= src.length) return { error: 'unterminated string', col };
      out.push({ kind: 'string', text, col });
      i = j + 1;
      continue;
    }
    const op = sortedOps.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ kind: 'op', text: op, col });
      i += op.length;
      continue;
    }
    if ('{}(),'.includes(ch)) {
      out.push({ kind: 'punct', text: ch, col });
      i++;
      continue;
    }
    const num = /^\d+(\.\d+)?(ns|us|ms|s|m|h)?/.exec(src.slice(i));
    if (num) {
      out.push({ kind: 'number', text: num[0], col });
      i += num[0].length;
      continue;
    }
    const id = /^[a-zA-Z_][a-zA-Z0-9_.]*/.exec(src.slice(i));
    if (id) {
      out.push({ kind: 'ident', text: id[0], col });
      i += id[0].length;
      continue;
    }
    return { error: `unexpected character "${ch}"`, col };
  }
  return out;
}
