#!/usr/bin/env node
// Runs @modelcontextprotocol/inspector-cli 1.0.3 (a headless MCP client) with any arguments:
//   npm run inspect -- http://127.0.0.1:8701/mcp --transport http --method tools/list
// inspector-cli 1.0.3 finds its own package.json by testing "../package.json" against the *current
// directory*, so it fails when started from the repository root; it is started from test/ instead.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'node_modules/@modelcontextprotocol/inspector-cli/build/index.js');
const r = spawnSync(process.execPath, [cli, ...process.argv.slice(2)], { stdio: 'inherit', cwd: join(root, 'test') });
process.exit(r.status ?? 1);
