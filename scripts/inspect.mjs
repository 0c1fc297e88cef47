#!/usr/bin/env node
// Runs @modelcontextprotocol/inspector-cli 1.0.3 (a headless MCP client) with any arguments:
//   RAVENHELM_TOKEN=... npm run inspect -- https://localhost:8701/mcp --transport http --method tools/list
// The token comes from the environment (RAVENHELM_TOKEN) so npm never prints it with the script line;
// RAVENHELM_CA_FILE (the demo's dev CA bundle) is trusted for HTTPS.
// inspector-cli 1.0.3 finds its own package.json by testing "../package.json" against the *current
// directory*, so it fails when started from the repository root; it is started from test/ instead.
// A client file the demo wrote (or any mcp.json) works too, through the package's own front end:
//   npm run inspect -- --config .ravenhelm/dev/clients/claude_desktop_config.json --server ravenhelm-docker --method tools/list
// (with --config, -e KEY=VALUE or --server the front end (cli.js --cli) reads them).
// A server started by command works with a path relative to where you are:
//   npm run inspect -- -e RAVENHELM_LOG_LEVEL=warn node servers/docker/bin/ravenhelm-mcp-docker.js --stdio --method tools/list
// Since the inspector runs from test/, relative paths (the --config file, and each argument that names an
// existing file or directory relative to the caller, such as a server's script) are made absolute against
// the caller's directory: INIT_CWD, where `npm run` was typed (npm runs scripts from the repository root),
// or the current directory when this file is run directly. Bare command names (node, npx) are left to PATH.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'node_modules/@modelcontextprotocol/inspector-cli/build');
const args = process.argv.slice(2);
const frontEnd = args.some((a) => a === '--config' || a === '--server' || a === '-e');
const callerDir = process.env.INIT_CWD || process.cwd();
/** Options whose next argument is a value, never a path to rewrite (--config's is rewritten on its own). */
const VALUE_OPTIONS = new Set([
  '-e',
  '--method',
  '--tool-name',
  '--uri',
  '--prompt-name',
  '--log-level',
  '--transport',
]);
/** The argument made absolute when it names a file or directory relative to the caller; otherwise as it is. */
const callersPath = (arg) =>
  !isAbsolute(arg) &&
  !/^[a-z][a-z0-9+.-]*:\/\//i.test(arg) &&
  (arg.startsWith('.') || arg.includes('/')) &&
  existsSync(resolve(callerDir, arg))
    ? resolve(callerDir, arg)
    : arg;
for (let i = 0; i < args.length; i++) {
  if (args[i - 1] === '--config') args[i] = resolve(callerDir, args[i]);
  else if (!args[i].startsWith('-') && !VALUE_OPTIONS.has(args[i - 1])) args[i] = callersPath(args[i]);
}
if (frontEnd && !args.includes('--cli')) args.unshift('--cli');
const cli = join(pkg, frontEnd ? 'cli.js' : 'index.js');
const env = { ...process.env };
const hasAuthHeader = args.some((a, i) => args[i - 1] === '--header' && /^authorization:/i.test(a));
if (process.env.RAVENHELM_TOKEN && !hasAuthHeader)
  args.push('--header', `Authorization: Bearer ${process.env.RAVENHELM_TOKEN}`);
if (process.env.RAVENHELM_CA_FILE) env.NODE_EXTRA_CA_CERTS = process.env.RAVENHELM_CA_FILE;
const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', cwd: join(root, 'test'), env });
process.exit(r.status ?? 1);
