import { ToolError } from './errors.js';

/**
 * A backend client's code loaded on the first call that needs it, not at start: a server that is never
 * asked does not pay its memory. `load` is a dynamic `import()` (the bundle keeps the module unevaluated
 * until then); concurrent first calls share one load; a failed load becomes a ToolError that names what
 * could not be loaded, and the next call tries again.
 */
export function loadOnce<T>(what: string, load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((err: unknown) => {
      loading = undefined;
      const e = err as { code?: unknown; name?: unknown };
      const reason = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'error';
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `this server could not load its ${what} (${reason}); its installation is incomplete: reinstall or rebuild it, then retry`,
        {},
        { cause: err },
      );
    });
    return loading;
  };
}
