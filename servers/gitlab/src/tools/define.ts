import { boundedMessage, createToolDefiner, RavenhelmError, visible } from '@ravenhelm/kit';
import type { GitLabBackend } from '../backend.js';

/** What every GitLab tool handler receives besides the base context. */
export interface GitLabServices {
  gitlab: GitLabBackend;
}

const declare = createToolDefiner<GitLabServices>();

/**
 * Every GitLab tool's declaration, its handler's failures made one line of visible text: their messages quote
 * what the caller gave (a file path, a ref, a wiki slug, a grep pattern), where a line feed would start a line
 * of the caller's making ("ERR_...: ...") and a bidi override would reorder what a person reads.
 */
// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<GitLabServices>> = (decl) =>
  declare({
    ...decl,
    handler: async (args, ctx) => {
      try {
        return await decl.handler(args, ctx);
      } catch (err) {
        if (err instanceof RavenhelmError) err.message = boundedMessage(visible(err.message, { oneLine: true }));
        throw err;
      }
    },
  });
