import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCS_COMMAND, renderToolsMarkdown } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { assertAllLoaded, loadServers, ROOT, specsOfAll } from './servers.js';

// docs/tools.md is generated from the declarations; CI fails when someone forgets to regenerate it.
describe('docs/tools.md', () => {
  it('matches the tool declarations', async () => {
    const discovery = await loadServers();
    assertAllLoaded(discovery);
    const path = join(ROOT, 'docs', 'tools.md');
    const expected = renderToolsMarkdown(specsOfAll(discovery));
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (committed === expected) return;
    expect.fail(
      `docs/tools.md is ${committed === undefined ? 'missing' : 'stale'}: run \`${DOCS_COMMAND}\` and commit the result`,
    );
  });
});
