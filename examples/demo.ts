/**
 * `npm run demo`: the suite on embedded defaults, loopback only, with real credentials:
 *   - a dev OAuth issuer (discovery + JWKS) that mints access tokens for an agent,
 *   - a dev CA that issues X.509-SVIDs (spiffe://ravenhelm.local/...) for the servers and the agent,
 *   - the Docker server and the Observability server over HTTPS, each verifying tokens against the dev
 *     issuer and requesting client certificates (mTLS; HIGH tools need the agent's SVID).
 * When Debian's prometheus / prometheus-alertmanager are installed, private instances start so the
 * Observability server has something real to answer about.
 *
 * Ports follow one base port (default 8700; `--base-port N` or RAVENHELM_DEMO_BASE_PORT): Docker N+1,
 * Observability N+2, GitLab N+3, Zitadel N+4, Traefik N+5, Secrets N+6 (those four against labelled
 * simulators unless a real endpoint is configured), dev issuer N+9 (RAVENHELM_DEV_ISSUER_PORT overrides), Prometheus N+10,
 * Alertmanager N+11. `--state-dir DIR` keeps keys, certificates, tokens and client entries somewhere
 * else than .ravenhelm/dev.
 *
 * It prints ready-to-paste curl, inspector and client entries (Claude Desktop, Claude Code, Cursor; stdio
 * and HTTP) with absolute paths, writes them under <state>/clients/, and writes <state>/demo.json (mode
 * 0600) for scripts. The HTTP entries hold only a URL: an MCP client signs a person in by itself through
 * the MCP authorization flow (401 -> protected resource metadata -> the dev issuer's metadata -> dynamic
 * client registration -> browser login with PKCE -> tokens it refreshes), so they keep working past any
 * token's lifetime and across demo restarts on the same ports. Scripts get printed 8-hour tokens (curl,
 * inspector). Ctrl-C stops everything.
 * Human approval: `compose_restart` on the Docker server waits for a person (demo policy, count 1); each
 * server's approvals console signs operators in at the dev issuer (authorization code + PKCE, dev user
 * names such as ops-alice); a tiny compose project (busybox, no network) is created for it to restart.
 * Keys and certificates are for local use only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_DEV_USERS, DEV_APPROVER_SCOPE, DevCA, DevIssuer } from '@ravenhelm/auth';
import { type DemoProject, ensureDemoProject, type NoDemoProject } from './demo-project.js';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const { values: flags } = parseArgs({
  options: { 'base-port': { type: 'string' }, 'state-dir': { type: 'string' } },
  strict: true,
});
const basePort = Number(flags['base-port'] ?? process.env.RAVENHELM_DEMO_BASE_PORT ?? 8700);
if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65_000) {
  console.error('--base-port must be a whole number between 1024 and 65000');
  process.exit(2);
}
const stateDir = resolve(flags['state-dir'] ?? join(root, '.ravenhelm/dev'));
const AGENT = 'oncall';
/** Each server's approvals console is a public OIDC client at the dev issuer (authorization code + PKCE). */
const consoleClient = (name: string) => `approvals-console-${name}`;
const APPROVER = DEFAULT_DEV_USERS[0];
/** The compose project the approval walk-through restarts (per base port, so two demos never share one). */
const DEMO_PROJECT = basePort === 8700 ? 'ravenhelm-demo' : `ravenhelm-demo-${basePort}`;
const ports = {
  issuer: Number(process.env.RAVENHELM_DEV_ISSUER_PORT ?? basePort + 9),
  prometheus: basePort + 10,
  alertmanager: basePort + 11,
};

interface DemoServer {
  name: string;
  bin: string;
  port: number;
  scopes: string[];
  /** Backend settings, for the HTTP server and the printed stdio entries alike. */
  env: Record<string, string>;
}

/**
 * Backends that cannot run on a laptop (GitLab, Zitadel, Traefik, Secrets Manager) are replaced by the
 * stateful simulators the tests use (test/simulators, started through the contract suites' setups),
 * each named SIMULATED in the output. A configured real endpoint wins where the server supports it.
 */
interface StandIn {
  label: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

async function simulated(server: string, vendor: string, simulator: string): Promise<StandIn> {
  const suite = (await import(`../test/contract/servers/${server}.ts`)) as {
    default: { setup(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> };
  };
  const backend = await suite.default.setup();
  // The suite's own kit settings (policy, local principal, audit file) are for its tests, not the demo.
  const env = Object.fromEntries(Object.entries(backend.env).filter(([k]) => !k.startsWith('RAVENHELM_')));
  return { label: `SIMULATED ${vendor} (${simulator}, test data)`, env, stop: () => backend.stop() };
}

const standIns: Record<string, () => Promise<StandIn>> = {
  gitlab: () => simulated('gitlab', 'GitLab', 'test/simulators/gitlab.ts'),
  zitadel: () => simulated('zitadel', 'Zitadel', 'test/simulators/zitadel.ts'),
  traefik: () => simulated('traefik', 'Traefik', 'test/simulators/traefik.ts'),
  secrets: async () =>
    process.env.AWS_ENDPOINT_URL
      ? {
          label: `Secrets Manager at ${process.env.AWS_ENDPOINT_URL} (AWS_ENDPOINT_URL)`,
          env: {},
          stop: async () => {},
        }
      : simulated('secrets', 'AWS Secrets Manager', 'test/simulators/secrets-manager.ts'),
};

const available: DemoServer[] = [
  {
    name: 'docker',
    bin: 'servers/docker/bin/ravenhelm-mcp-docker.js',
    port: basePort + 1,
    scopes: ['mcp:docker:admin'],
    env: {},
  },
  {
    name: 'observability',
    bin: 'servers/observability/bin/ravenhelm-mcp-observability.js',
    port: basePort + 2,
    scopes: ['mcp:observability:write'],
    env: {
      PROMETHEUS_URL: `http://127.0.0.1:${ports.prometheus}`,
      ALERTMANAGER_URL: `http://127.0.0.1:${ports.alertmanager}`,
    },
  },
  ...(['gitlab', 'zitadel', 'traefik', 'secrets'] as const).map(
    (name, i): DemoServer => ({
      name,
      bin: `servers/${name}/bin/ravenhelm-mcp-${name}.js`,
      port: basePort + 3 + i,
      scopes: [`mcp:${name}:write`],
      // The AWS SDK (Secrets server) warns on every start under Node < 22 that its releases after January
      // 2027 will need Node 22 (NodeVersionSupportWarning, @aws-sdk/core emitWarningIfUnsupportedVersion).
      // This variable is the switch AWS documents for exactly that warning (aws/aws-sdk-js-v3#7983); every
      // other warning still prints.
      env: name === 'secrets' ? { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } : {},
    }),
  ),
];
const servers = available.filter((s) => existsSync(join(root, s.bin)));
if (servers.length === 0) {
  console.error('no server is built: run `npm run build` first (npm run demo does it for you)');
  process.exit(1);
}

mkdirSync(stateDir, { recursive: true, mode: 0o700 });
const issuer = await DevIssuer.open({ stateDir });
/** The dev issuer on its port, or a line that says the port is taken and what to do (not a stack trace). */
async function issuerListening(opts: Parameters<DevIssuer['listen']>[0]): ReturnType<DevIssuer['listen']> {
  try {
    return await issuer.listen(opts);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    console.error(
      `the demo could not start: port ${opts?.port} (the dev issuer) is in use, another demo may be running; stop it or choose another --base-port`,
    );
    process.exit(1);
  }
}
const origin = (s: DemoServer) => `https://localhost:${s.port}`;
// The demo servers' consoles sign people in, each for a token to its own server (one client per console,
// one exact redirect URI each). MCP clients (Claude Code, Cursor, ...) register themselves (RFC 7591) with
// their own redirect URIs (loopback http on any port, or https) and may get tokens for these servers only,
// with the scopes the servers define; their registrations and refresh tokens (hashed) stay in the state dir.
const { issuer: issuerUrl } = await issuerListening({
  port: ports.issuer,
  clients: servers.map((s) => ({
    clientId: consoleClient(s.name),
    redirectUris: [`${origin(s)}/approvals/console`],
    resources: [`${origin(s)}/mcp`],
    scopes: [DEV_APPROVER_SCOPE],
  })),
  dynamicClients: {
    resources: servers.map((s) => `${origin(s)}/mcp`),
    scopes: servers.flatMap((s) => ['read', 'write', 'admin'].map((level) => `mcp:${s.name}:${level}`)),
  },
});
const ca = await DevCA.open(join(stateDir, 'pki'));
const agent = await ca.issueAgentSvid(AGENT);

// The demo policy: HIGH tools are allowed for the demo agent's SPIFFE ID only; restarting a compose
// project waits for one person's approval (count: 2 would be the two-person rule).
const policyFile = join(stateDir, 'demo-policy.yaml');
const approvalPolicy: Record<string, string> = {
  docker:
    '    tools:\n      compose_restart:\n        approve: { approvers: mcp:approvals:approve, count: 1, ttl: 30m }\n' +
    // One command exec_run may run, so the HIGH-tier path can be tried end to end.
    '      exec_run:\n        options:\n          allow:\n            - { argv: ["cat", "/etc/hostname"] }\n',
};
writeFileSync(
  policyFile,
  `# Written by npm run demo\nversion: 1\nservers:\n${servers.map((s) => `  ${s.name}:\n    spiffe:\n      default: ['${agent.spiffeId}']\n${approvalPolicy[s.name] ?? ''}`).join('')}`,
);
const project: DemoProject | NoDemoProject = servers.some((s) => s.name === 'docker')
  ? await ensureDemoProject(DEMO_PROJECT)
  : { note: 'the Docker server is not built' };

const children: ChildProcess[] = [];

/** Starts Debian's Prometheus and Alertmanager for the demo when they are installed; skipped otherwise. */
function startEngines(): string[] {
  const started: string[] = [];
  const dir = join(stateDir, 'engines');
  mkdirSync(dir, { recursive: true });
  const am = `127.0.0.1:${ports.alertmanager}`;
  const prom = `127.0.0.1:${ports.prometheus}`;
  if (existsSync('/usr/bin/prometheus-alertmanager')) {
    writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: demo\nreceivers:\n  - name: demo\n');
    children.push(
      spawn(
        '/usr/bin/prometheus-alertmanager',
        [
          `--config.file=${join(dir, 'alertmanager.yml')}`,
          `--storage.path=${join(dir, 'alertmanager')}`,
          `--web.listen-address=${am}`,
          '--cluster.listen-address=',
        ],
        { stdio: 'ignore' },
      ),
    );
    started.push(`alertmanager    http://${am}`);
  }
  if (existsSync('/usr/bin/prometheus')) {
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{ targets: ["${prom}"] }]\n  - job_name: alertmanager\n    static_configs: [{ targets: ["${am}"] }]\n`,
    );
    children.push(
      spawn(
        '/usr/bin/prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'prometheus')}`,
          `--web.listen-address=${prom}`,
        ],
        { stdio: 'ignore' },
      ),
    );
    started.push(`prometheus      http://${prom}`);
  }
  // No engine or simulator stands in for these: their tools answer ERR_BACKEND_UNAVAILABLE in the demo.
  started.push('(Loki, Tempo and Grafana are not run: logs_*, traces_* and dashboards_* answer "unreachable")');
  return started;
}
const engines = servers.some((s) => s.name === 'observability') ? startEngines() : [];

const stopStandIns: (() => Promise<void>)[] = [];
const labels: string[] = [];
for (const s of servers) {
  const start = standIns[s.name];
  if (!start) continue;
  const standIn = await start();
  stopStandIns.push(standIn.stop);
  Object.assign(s.env, standIn.env);
  labels.push(`${s.name.padEnd(15)} backend: ${standIn.label}`);
}

interface Started {
  server: DemoServer;
  url: string;
  token: string;
}

async function start(s: DemoServer): Promise<Started> {
  const svid = await ca.issueServerSvid(s.name);
  const resource = `https://localhost:${s.port}/mcp`;
  const child = spawn(process.execPath, [join(root, s.bin), '--http', '--port', String(s.port)], {
    cwd: root,
    env: {
      ...process.env,
      RAVENHELM_HTTP_HOST: '127.0.0.1',
      RAVENHELM_PUBLIC_URL: resource,
      RAVENHELM_AUTH_ISSUER: issuerUrl,
      RAVENHELM_TLS_CERT_FILE: svid.certFile,
      RAVENHELM_TLS_KEY_FILE: svid.keyFile,
      RAVENHELM_TLS_BUNDLE_FILE: svid.bundleFile,
      RAVENHELM_POLICY_FILE: policyFile,
      RAVENHELM_AUDIT_FILE: join(stateDir, `audit/${s.name}.jsonl`),
      RAVENHELM_APPROVALS_CONSOLE_CLIENT_ID: consoleClient(s.name),
      ...s.env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  children.push(child);
  const token = await issuer.mint({ agent: AGENT, scopes: s.scopes, audience: resource, ttlSeconds: 8 * 3600 });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log += text;
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          const rec = JSON.parse(line) as { level: number; msg: string; resource?: string };
          if (rec.msg === 'listening') resolveUrl(rec.resource ?? resource);
          if (rec.level >= 40) process.stderr.write(`[${s.name}] ${rec.msg}\n`);
        } catch {
          process.stderr.write(`[${s.name}] ${line}\n`);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${s.name} server exited with code ${code}\n${log}`)));
  });
  return { server: s, url, token };
}

let started: Started[];
try {
  started = await Promise.all(servers.map(start));
} catch (err) {
  console.error(`the demo could not start: ${(err as Error).message}`);
  for (const c of children) c.kill('SIGTERM');
  await Promise.allSettled(stopStandIns.map((stopOne) => stopOne()));
  await project.remove?.();
  await issuer.close();
  process.exit(1);
}

// Client entries: stdio (the local operator, no token) and HTTP (a URL only: the client signs a person in at
// the dev issuer by itself and refreshes its token; the dev CA must be trusted by the client:
// NODE_EXTRA_CA_CERTS for Node-based clients such as Claude Code and Cursor).
const stdioEntry = (s: DemoServer) => ({
  command: process.execPath,
  args: [join(root, s.bin), '--stdio'],
  env: {
    ...s.env,
    RAVENHELM_LOCAL_SCOPES: `mcp:${s.name}:write`,
    RAVENHELM_AUDIT_FILE: join(stateDir, `audit/${s.name}-stdio.jsonl`),
  },
});
const httpEntry = (x: Started) => ({ type: 'http', url: x.url });
const stdioServers = Object.fromEntries(servers.map((s) => [`ravenhelm-${s.name}`, stdioEntry(s)]));
const httpServers = Object.fromEntries(started.map((x) => [`ravenhelm-${x.server.name}-http`, httpEntry(x)]));
const clientsDir = join(stateDir, 'clients');
mkdirSync(clientsDir, { recursive: true, mode: 0o700 });
const writeJson = (name: string, value: unknown) => {
  const path = join(clientsDir, name);
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  return path;
};
const claudeDesktop = writeJson('claude_desktop_config.json', { mcpServers: stdioServers });
const cursor = writeJson('cursor-mcp.json', { mcpServers: { ...stdioServers, ...httpServers } });
const claudeCodeProject = writeJson('claude-code.mcp.json', { mcpServers: { ...stdioServers, ...httpServers } });
const shellQuote = (v: string) => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
const claudeCodeCommands = [
  ...servers.map((s) => {
    const e = stdioEntry(s);
    const envArgs = Object.entries(e.env).map(([k, v]) => `-e ${shellQuote(`${k}=${v}`)}`);
    return `claude mcp add ravenhelm-${s.name} ${envArgs.join(' ')} -- ${[e.command, ...e.args].map(shellQuote).join(' ')}`;
  }),
  // No token: Claude Code signs in at the dev issuer on first use (/mcp in Claude Code shows the state).
  ...started.map((x) => `claude mcp add --transport http ravenhelm-${x.server.name}-http ${x.url}`),
];
writeFileSync(
  join(clientsDir, 'claude-code.sh'),
  `#!/bin/sh\n# The HTTP entries use the demo's dev CA: run Claude Code itself with NODE_EXTRA_CA_CERTS=${agent.bundleFile}\n# They hold no token: Claude Code signs in at the dev issuer (${issuerUrl}) on first use (/mcp), then refreshes.\n${claudeCodeCommands.join('\n')}\n`,
  { mode: 0o700 },
);
writeFileSync(
  join(stateDir, 'demo.json'),
  `${JSON.stringify(
    {
      issuer: issuerUrl,
      agent: { name: AGENT, ...agent },
      servers: started.map((x) => ({ name: x.server.name, url: x.url, token: x.token, scopes: x.server.scopes })),
      clients: { claudeDesktop, cursor, claudeCodeProject },
      approvals: {
        users: DEFAULT_DEV_USERS,
        scope: DEV_APPROVER_SCOPE,
        project: project.name ?? null,
        consoles: started.map((x) => ({
          name: x.server.name,
          url: `${origin(x.server)}/approvals/console`,
          clientId: consoleClient(x.server.name),
        })),
      },
    },
    null,
    2,
  )}\n`,
  { mode: 0o600 },
);

const docker = started.find((x) => x.server.name === 'docker');
/** The human-approval walk-through: the agent asks, a person approves in the console, the agent's call runs. */
function approvalSteps(d: Started): string {
  const consoleUrl = `${origin(d.server)}/approvals/console`;
  const args = `'{"project":"${project.name ?? '<a compose project>'}"}'`;
  return `
Human approval (Docker server): compose_restart waits for one person's approval (demo policy: count 1;
count: 2 is the two-person rule: two different approvers, never the requester).
  ${project.note}
  1. The agent asks for a restart and waits (it polls approvals_get_status, then repeats the call with the request id):
RAVENHELM_TOKEN=$RAVENHELM_TOKEN_DOCKER examples/curl/approved-call.sh compose_restart ${args} ${d.url}
  2. Open ${consoleUrl} in a browser (the certificate is from the dev CA
     ${agent.bundleFile}: trust it or accept the warning; no client certificate is needed there),
     Sign in at the dev issuer as "${APPROVER}" (or any dev name but "${AGENT}"), read the plan, Approve.
  3. The agent's call runs once and prints the restart's result.
  Or approve from a shell as "${APPROVER}" (list, then approve <id>):
export RAVENHELM_APPROVALS_TOKEN=$(node auth/dist/cli.js token --agent ${APPROVER} --scope ${DEV_APPROVER_SCOPE} --aud ${d.url} --state ${stateDir})
NODE_EXTRA_CA_CERTS=${agent.bundleFile} node shared/bin/ravenhelm-approvals.js list --url ${origin(d.server)}
`;
}
process.stdout.write(`
Ravenhelm MCP suite is running on loopback:
  dev issuer      ${issuerUrl}
${engines.map((e) => `  ${e}\n`).join('')}${started.map((x) => `  ${x.server.name.padEnd(15)} ${x.url}`).join('\n')}
${labels.map((l) => `  ${l}`).join('\n')}

Agent "${AGENT}": SPIFFE ID ${agent.spiffeId}
  certificate ${agent.certFile}
  key         ${agent.keyFile}
  CA bundle   ${agent.bundleFile}

Paste into your shell (tokens for scripts, valid 8 hours; MCP clients sign in by themselves, see below):
export RAVENHELM_CA_FILE=${agent.bundleFile}
${started.map((x) => `export RAVENHELM_TOKEN_${x.server.name.toUpperCase()}=${x.token}`).join('\n')}
${
  docker
    ? `
Try it (Docker server):
curl -sS --cacert "$RAVENHELM_CA_FILE" ${docker.url} -H "Authorization: Bearer $RAVENHELM_TOKEN_DOCKER" -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"health_get_report","arguments":{}}}'
RAVENHELM_TOKEN=$RAVENHELM_TOKEN_DOCKER examples/curl/list-tools.sh ${docker.url}
RAVENHELM_TOKEN=$RAVENHELM_TOKEN_DOCKER examples/curl/call-tool.sh containers_list '{"status":["running"]}' ${docker.url}
RAVENHELM_TOKEN=$RAVENHELM_TOKEN_DOCKER npm run inspect -- ${docker.url} --transport http --method tools/list
  HIGH tools (exec_run) also need the agent's certificate: add --cert ${agent.certFile} --key ${agent.keyFile} to curl
  (the demo policy lets exec_run run one command: {"container":"<a container>","argv":["cat","/etc/hostname"]}).
  Mint more tokens: node auth/dist/cli.js token --agent ${AGENT} --scope mcp:docker:read --aud ${docker.url} --state ${stateDir}
`
    : ''
}
MCP clients over HTTP need no token: the entries below hold only the URL. On first use the client
finds the dev issuer (${issuerUrl}) through the server's 401 and protected-resource metadata,
registers itself there and opens its sign-in page in your browser: type a dev user name such as
"${APPROVER}" (no password). It then refreshes its token by itself (refresh tokens last 30 days and
survive a demo restart on the same ports). A client asks for the scope the server's 401 names,
mcp:<server>:read, so such a sign-in lists the read tools (the exported tokens carry write or admin).

Claude Code (stdio, then HTTP; also in ${join(clientsDir, 'claude-code.sh')}; /mcp in Claude Code signs in):
${claudeCodeCommands.join('\n')}

Claude Desktop: merge ${claudeDesktop} into claude_desktop_config.json (stdio: the local operator, no token):
${JSON.stringify({ mcpServers: stdioServers }, null, 2)}

Cursor: merge ${cursor} into ~/.cursor/mcp.json (stdio and HTTP; start Cursor with NODE_EXTRA_CA_CERTS=${agent.bundleFile} for HTTP).
Claude Code project file (.mcp.json, stdio and HTTP): ${claudeCodeProject}
${docker ? approvalSteps(docker) : ''}
Ctrl-C to stop.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.allSettled(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
  );
  await Promise.allSettled(stopStandIns.map((stopOne) => stopOne()));
  await project.remove?.();
  await issuer.close();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.allSettled(children.map((c) => new Promise((r) => c.once('exit', r))));
await stop();
