import { createToolDefiner } from '@ravenhelm/kit';
import type { DockerBackend } from '../backend.js';
import type { RestartBudget } from '../restart-budget.js';

/** What every Docker tool handler receives besides the base context. */
export interface DockerServices {
  docker: DockerBackend;
  restartBudget: RestartBudget;
}

export const defineTool = createToolDefiner<DockerServices>();
