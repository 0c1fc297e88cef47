#!/usr/bin/env node
// Runs @modelcontextprotocol/inspector-cli 1.0.3 (a headless MCP client) with any arguments:
//   RAVENHELM_TOKEN=... npm run inspect -- https://localhost:8701/mcp --transport http --method tools/list
// The token comes from the environment (RAVENHELM_TOKEN) so npm never prints it with the script line;
// RAVENHELM_CA_FILE (the demo's dev CA bundle) is trusted for HTTPS.
// inspector-cli 1.0.3 finds its own package.json by testing "../package.json" against the *current
// directory*, so it fails when started from the repository root; it is started from test/ instead.
// A client file the demo wrote (or any mcp.json) works too, through the package's own front end:
//   npm run inspect -- --config .ravenhelm/dev/clients/claude_desktop_config.json --server ravenhelm-docker --method tools/list
// (with --config, -e KEY=VALUE or --server the front end (cli.js --cli) reads them; its relative paths are
// made absolute here, since it runs from test/).
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'node_modules/@modelcontextprotocol/inspector-cli/build');
const args = process.argv.slice(2);
const frontEnd = args.some((a) => a === '--config' || a === '--server' || a === '-e');
for (let i = 0; i < args.length - 1; i++) if (args[i] === '--config') args[i + 1] = resolve(args[i + 1]);
if (frontEnd && !args.includes('--cli')) args.unshift('--cli');
const cli = join(pkg, frontEnd ? 'cli.js' : 'index.js');
const env = { ...process.env };
const hasAuthHeader = args.some((a, i) => args[i - 1] === '--header' && /^authorization:/i.test(a));
if (process.env.RAVENHELM_TOKEN && !hasAuthHeader)
  args.push('--header', `Authorization: Bearer ${process.env.RAVENHELM_TOKEN}`);
if (process.env.RAVENHELM_CA_FILE) env.NODE_EXTRA_CA_CERTS = process.env.RAVENHELM_CA_FILE;
const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', cwd: join(root, 'test'), env });
process.exit(r.status ?? 1);
