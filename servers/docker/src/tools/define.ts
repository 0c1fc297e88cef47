import { createToolDefiner } from '@ravenhelm/kit';
import type { DockerBackend } from '../backend.js';
import type { EventHistory } from '../event-history.js';
import type { RestartBudget } from '../restart-budget.js';

/** What every Docker tool handler receives besides the base context. */
export interface DockerServices {
  docker: DockerBackend;
  restartBudget: RestartBudget;
  /** The engine's events as this server has read them since it started (events_list); absent when turned off. */
  events?: EventHistory;
}

// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<DockerServices>> = createToolDefiner<DockerServices>();
