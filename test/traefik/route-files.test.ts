/**
 * The route file read against a path that is swapped between the server's check and its open, through the
 * real bin over stdio (SDK Client): another process keeps replacing `swap.yaml` (atomic renames) with a FIFO
 * and with a regular file. A FIFO opened without O_NONBLOCK blocks the open until a writer comes (and a
 * libuv thread with it): the call hangs until its timeout. Opened with O_NONBLOCK and checked by fstat, every
 * call answers at once: the regular file's owner check, or a refusal of the non-regular file.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type Fixture, startFixture } from './harness.js';

let fx: Fixture;
let client: Client;
let swapper: ChildProcess | undefined;
let racy: string;

// Swaps `target` between the FIFO and the regular file (hard link + rename: the target always exists),
// for at most 60 s, and stops when its parent closes its stdin.
const SWAPPER = `
const fs = require('node:fs');
const [fifo, reg, tmp, target] = process.argv.slice(1);
let stop = false;
process.stdin.on('close', () => { stop = true; });
process.stdin.resume();
const deadline = Date.now() + 60000;
function burst() {
  for (let i = 0; i < 2000 && !stop; i++) {
    for (const src of [fifo, reg]) {
      try { fs.rmSync(tmp, { force: true }); fs.linkSync(src, tmp); fs.renameSync(tmp, target); } catch {}
    }
  }
  if (!stop && Date.now() < deadline) setImmediate(burst); else process.exit(0);
}
burst();
`;

beforeAll(async () => {
  fx = await startFixture();
  // Not the directory the simulator watches: its scan would read the FIFO too.
  racy = join(fx.scratch, 'racy');
  mkdirSync(racy);
  execFileSync('mkfifo', [join(racy, '.fifo')]);
  writeFileSync(join(racy, '.reg'), 'http: {}\n'); // someone else's file: routes_apply refuses it (ERR_CONFLICT)
  writeFileSync(join(racy, 'swap.yaml'), 'http: {}\n');
  // Up to 400 calls of a MEDIUM tool: above the default rate limit (60 per minute), which is not under test.
  client = await connectStdio({
    ...fx.env,
    TRAEFIK_DYNAMIC_DIR: racy,
    RAVENHELM_CALL_TIMEOUT_MS: '4000',
    RAVENHELM_RATE_LIMIT_POINTS: '1000',
  });
}, 60_000);

afterAll(async () => {
  swapper?.stdin?.end();
  swapper?.kill();
  // A reader stuck in open() on the FIFO (the defect) is released by a writer.
  for (let i = 0; i < 5; i++) {
    try {
      closeSync(openSync(join(racy, '.fifo'), constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      break;
    }
  }
  await client?.close();
  await fx?.close();
});

describe('a route file swapped for a FIFO between the check and the open', () => {
  it('every call answers at once, refusing the FIFO it opened (fstat), never hanging', async () => {
    swapper = spawn(
      process.execPath,
      ['-e', SWAPPER, join(racy, '.fifo'), join(racy, '.reg'), join(racy, '.tmp'), join(racy, 'swap.yaml')],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    const answers = new Map<string, number>();
    let raced = 0;
    const started = Date.now();
    // Bounded: at most 400 calls or 45 s; done once the race was hit three times.
    for (let i = 0; i < 400 && raced < 3 && Date.now() - started < 45_000; i++) {
      const res = await client.callTool({
        name: 'routes_apply',
        arguments: { name: 'swap', rule: 'Host(`swap.example.com`)', servers: ['http://10.0.0.1'] },
      });
      const text = (res.content as { text: string }[]).map((c) => c.text).join('\n');
      const kind = /was not written by this server/.test(text)
        ? 'regular file: not ours'
        : /exists and is not a regular file/.test(text)
          ? 'FIFO seen by the check'
          : /is not a regular file \(it was replaced while being opened\)/.test(text)
            ? 'FIFO seen on the opened descriptor'
            : `unexpected: ${text.slice(0, 200)}`;
      if (kind === 'FIFO seen on the opened descriptor') raced++;
      answers.set(kind, (answers.get(kind) ?? 0) + 1);
      expect(kind, JSON.stringify([...answers])).not.toMatch(/^unexpected/);
    }
    expect(raced, JSON.stringify([...answers])).toBeGreaterThan(0);
  }, 60_000);
});
