import { createToolDefiner } from '@ravenhelm/kit';
import type { GitLabBackend } from '../backend.js';

/** What every GitLab tool handler receives besides the base context. */
export interface GitLabServices {
  gitlab: GitLabBackend;
}

// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<GitLabServices>> = createToolDefiner<GitLabServices>();
