import type { Principal } from '@ravenhelm/auth';
import type { CancelCall } from './multiplex.js';

type Id = string | number;

/**
 * The calls running here by their caller's own JSON-RPC id, so that a caller's notifications/cancelled can
 * stop its own call and nobody else's: looked up by principal (subject, client id, SPIFFE ID) first, then
 * by the id exactly as sent (5 and "5" are different ids, as Map keys are).
 */
export class OwnCalls {
  readonly #byCaller = new Map<string, Map<Id, Set<CancelCall>>>();

  /** Registers a running call; ids no notification can name (null, objects) are not tracked. */
  add(principal: Principal, id: unknown, cancel: CancelCall): void {
    if (!isId(id)) return;
    const key = callerKey(principal);
    let ids = this.#byCaller.get(key);
    if (!ids) {
      ids = new Map();
      this.#byCaller.set(key, ids);
    }
    const calls = ids.get(id);
    if (calls) calls.add(cancel);
    else ids.set(id, new Set([cancel]));
  }

  remove(principal: Principal, id: unknown, cancel: CancelCall): void {
    if (!isId(id)) return;
    const key = callerKey(principal);
    const ids = this.#byCaller.get(key);
    const calls = ids?.get(id);
    if (!ids || !calls) return;
    calls.delete(cancel);
    if (calls.size === 0) ids.delete(id);
    if (ids.size === 0) this.#byCaller.delete(key);
  }

  /**
   * Stops the one call of `principal` running under `id`. Nothing happens for an id that names no call,
   * or more than one (the same principal on two clients that reuse ids: which one is meant cannot be told).
   */
  cancel(principal: Principal, id: unknown): boolean {
    if (!isId(id)) return false;
    const calls = this.#byCaller.get(callerKey(principal))?.get(id);
    if (calls?.size !== 1) return false;
    for (const stop of calls) stop('cancelled');
    return true;
  }

  /** Callers with calls tracked now (for tests: nothing may stay behind). */
  get callers(): number {
    return this.#byCaller.size;
  }
}

const isId = (id: unknown): id is Id => typeof id === 'number' || typeof id === 'string';

/** NUL never occurs in a subject, client id or SPIFFE ID an issuer or a certificate gives. */
const callerKey = (p: Principal) => `${p.subject}\u0000${p.clientId ?? ''}\u0000${p.spiffeId ?? ''}`;
