/**
 * The prelude the events_list suites share: one stdio session of the real bin on the Zitadel simulator, a
 * fresh service account to write events about, and a reader that follows `nextCursor` through every page.
 */
import { expect } from 'vitest';
import { callTool, useZitadelSession } from './harness.js';

/** One event as events_list shows it. */
export interface Ev {
  type: string;
  sequence: string;
  at: string;
  userId?: string;
  details?: Record<string, unknown>;
}

/** What tells two events apart, for an event shown (`at`) or one in the simulator's store (`creationDate`). */
export const eventKey = (e: { type: string; sequence: string | number; at?: string; creationDate?: string }) =>
  `${e.type}/${e.sequence}/${e.at ?? e.creationDate}`;

/** A session for the file (or describe block) it is called in, with the helpers bound to it. */
export function useEventsSession() {
  const session = useZitadelSession();

  /** A new service account, made through the server; its id. */
  async function account(username: string): Promise<string> {
    const made = await callTool(session.s, 'service_accounts_create', { username, name: username });
    return (made.data?.user as { id?: string } | undefined)?.id as string;
  }

  /**
   * Every page of a listing, none an error. `between` runs after each page that has a next one;
   * `truncatedSaid`: each page also says `truncated` exactly when it has a next one.
   */
  async function pages(
    args: Record<string, unknown>,
    opts: { between?: (page: number) => void; truncatedSaid?: boolean; maxPages?: number } = {},
  ): Promise<Ev[]> {
    const seen: Ev[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < (opts.maxPages ?? 60); page++) {
      const r = await callTool(session.s, 'events_list', { ...args, ...(cursor ? { cursor } : {}) });
      expect(r.text).not.toMatch(/^ERR_/);
      seen.push(...((r.data?.events ?? []) as Ev[]));
      cursor = r.data?.nextCursor as string | undefined;
      if (opts.truncatedSaid) expect(r.data?.truncated).toBe(cursor !== undefined);
      if (!cursor) return seen;
      opts.between?.(page);
    }
    throw new Error('events_list did not end');
  }

  return { session, account, pages };
}
