/**
 * The prelude the Traefik attack rounds share: the real bin over stdio with the SDK Client against a fresh
 * simulator for one describe block, and a wait for the simulator to see a file change.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { useSession } from '../fixtures/session.js';
import { connectStdio, type Fixture, startFixture } from '../traefik/harness.js';

export type TraefikSessionOptions = Parameters<typeof startFixture>[0] & {
  /** Runs after the simulator starts and before the bin connects. */
  seed?: (fx: Fixture) => Promise<void> | void;
};

/** The real bin over stdio against a fresh simulator, for one describe block; `seed` runs before it connects. */
export function traefikSession(opts: TraefikSessionOptions = {}) {
  const { seed, ...start } = opts;
  return useSession<Fixture, Client>({
    name: 'Traefik',
    start: () => startFixture(start),
    ...(seed ? { seed } : {}),
    connect: (fx) => connectStdio(fx.env),
    stop: (fx) => fx.close(),
    disconnect: (c) => c.close(),
    timeoutMs: 60_000,
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 25 ms until it holds; throws after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(25);
  }
}
