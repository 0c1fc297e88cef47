/**
 * Starts the GitLab SIMULATOR (not a real GitLab) for demos and manual tries, and prints how to point
 * ravenhelm-mcp-gitlab at it. Ctrl-C stops it.
 *
 *   node --conditions=@ravenhelm/source --import tsx test/simulators/gitlab-serve.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOT_TOKEN, startGitLabSim } from './gitlab.js';

const sim = await startGitLabSim();
const tokenFile = join(mkdtempSync(join(tmpdir(), 'gitlab-sim-')), 'token');
writeFileSync(tokenFile, `${BOT_TOKEN}\n`, { mode: 0o600 });
process.stdout.write(
  [
    '*** GitLab SIMULATOR (test data, not a real GitLab) ***',
    `GITLAB_URL=${sim.url}`,
    `GITLAB_TOKEN_FILE=${tokenFile}`,
    'try: pipelines_diagnose {"project":"platform/api"}  or  merge_requests_get_diff {"project":"platform/api","iid":7,"path":"src/billing.ts"}',
    '',
  ].join('\n'),
);
const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
