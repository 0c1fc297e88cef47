/**
 * `npm run demo`: the suite on embedded defaults, loopback only, with real credentials:
 *   - a dev OAuth issuer (discovery + JWKS on 127.0.0.1:9400) that mints access tokens for an agent,
 *   - a dev CA that issues X.509-SVIDs (spiffe://ravenhelm.local/...) for the servers and the agent,
 *   - the Docker server (https://localhost:8701/mcp) and, when built, the Observability server
 *     (https://localhost:8702/mcp), each verifying tokens against the dev issuer and requesting
 *     client certificates (mTLS; HIGH tools need the agent's SVID).
 * When Debian's prometheus / prometheus-alertmanager are installed, private instances start on
 * 127.0.0.1:9090 / :9093 (Prometheus scrapes itself and Alertmanager) so the Observability server has
 * something real to answer about. It prints ready-to-paste curl, inspector and mcp.json snippets.
 * Ctrl-C stops everything.
 * Keys and certificates live in .ravenhelm/dev (mode 0600): for local use only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DevCA, DevIssuer } from '@ravenhelm/auth';

const root = fileURLToPath(new URL('..', import.meta.url));
const stateDir = join(root, '.ravenhelm/dev');
const AGENT = 'oncall';

interface DemoServer {
  name: string;
  bin: string;
  port: number;
  scopes: string[];
  env: Record<string, string>;
}

const servers: DemoServer[] = [
  { name: 'docker', bin: 'servers/docker/dist/bin.js', port: 8701, scopes: ['mcp:docker:admin'], env: {} },
  {
    name: 'observability',
    bin: 'servers/observability/dist/bin.js',
    port: 8702,
    scopes: ['mcp:observability:write'],
    env: {},
  },
].filter((s) => existsSync(join(root, s.bin)));

const issuer = await DevIssuer.open({ stateDir });
const { issuer: issuerUrl } = await issuer.listen({ port: Number(process.env.RAVENHELM_DEV_ISSUER_PORT ?? 9400) });
const ca = await DevCA.open(join(stateDir, 'pki'));
const agent = await ca.issueAgentSvid(AGENT);

// The demo policy: HIGH tools are allowed for the demo agent's SPIFFE ID only.
const policyFile = join(stateDir, 'demo-policy.yaml');
mkdirSync(stateDir, { recursive: true });
writeFileSync(
  policyFile,
  `# Written by npm run demo\nversion: 1\nservers:\n${servers.map((s) => `  ${s.name}:\n    spiffe:\n      default: ['${agent.spiffeId}']\n`).join('')}`,
);

const children: ChildProcess[] = [];

/** Starts Debian's Prometheus and Alertmanager for the demo when they are installed; skipped otherwise. */
function startEngines(): string[] {
  const started: string[] = [];
  const dir = join(stateDir, 'engines');
  mkdirSync(dir, { recursive: true });
  if (existsSync('/usr/bin/prometheus-alertmanager')) {
    writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: demo\nreceivers:\n  - name: demo\n');
    children.push(
      spawn(
        '/usr/bin/prometheus-alertmanager',
        [
          `--config.file=${join(dir, 'alertmanager.yml')}`,
          `--storage.path=${join(dir, 'alertmanager')}`,
          '--web.listen-address=127.0.0.1:9093',
          '--cluster.listen-address=',
        ],
        { stdio: 'ignore' },
      ),
    );
    started.push('alertmanager    http://127.0.0.1:9093');
  }
  if (existsSync('/usr/bin/prometheus')) {
    writeFileSync(
      join(dir, 'prometheus.yml'),
      'global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{ targets: ["127.0.0.1:9090"] }]\n  - job_name: alertmanager\n    static_configs: [{ targets: ["127.0.0.1:9093"] }]\n',
    );
    children.push(
      spawn(
        '/usr/bin/prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'prometheus')}`,
          '--web.listen-address=127.0.0.1:9090',
        ],
        { stdio: 'ignore' },
      ),
    );
    started.push('prometheus      http://127.0.0.1:9090');
  }
  return started;
}
const engines = servers.some((s) => s.name === 'observability') ? startEngines() : [];

async function start(s: DemoServer): Promise<{ url: string; token: string }> {
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
      RAVENHELM_AUDIT_FILE: join(root, `.ravenhelm/audit/${s.name}.jsonl`),
      ...s.env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  children.push(child);
  const token = await issuer.mint({ agent: AGENT, scopes: s.scopes, audience: resource, ttlSeconds: 8 * 3600 });
  const url = await new Promise<string>((resolve, reject) => {
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log += text;
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          const rec = JSON.parse(line) as { level: number; msg: string; resource?: string };
          if (rec.msg === 'listening') resolve(rec.resource ?? resource);
          if (rec.level >= 40) process.stderr.write(`[${s.name}] ${rec.msg}\n`);
        } catch {
          process.stderr.write(`[${s.name}] ${line}\n`);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${s.name} server exited with code ${code}\n${log}`)));
  });
  return { url, token };
}

const started = await Promise.all(servers.map(start));
const docker = started[0];
const rel = (p: string) => p.replace(root, '');
process.stdout.write(`
Ravenhelm MCP suite is running on loopback:
  dev issuer      ${issuerUrl}
${engines.map((e) => `  ${e}\n`).join('')}${servers.map((s, i) => `  ${s.name.padEnd(15)} ${started[i]?.url}`).join('\n')}

Agent "${AGENT}": SPIFFE ID ${agent.spiffeId}
  certificate ${rel(agent.certFile)}  key ${rel(agent.keyFile)}  CA bundle ${rel(agent.bundleFile)}
${servers.map((s, i) => `  token for ${s.name} (${s.scopes.join(' ')}):\n    export RAVENHELM_TOKEN_${s.name.toUpperCase()}=${started[i]?.token}`).join('\n')}
${
  docker
    ? `
Try it (Docker server):
  curl -s --cacert ${rel(agent.bundleFile)} ${docker.url} -H "Authorization: Bearer $RAVENHELM_TOKEN_DOCKER" \\
    -H 'Content-Type: application/json' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"health_get_report","arguments":{}}}'
  HIGH tools (exec_run) also need the agent's certificate: add --cert ${rel(agent.certFile)} --key ${rel(agent.keyFile)}
  Headless client: NODE_EXTRA_CA_CERTS=${agent.bundleFile} npm run inspect -- ${docker.url} --transport http \\
    --header "Authorization: Bearer $RAVENHELM_TOKEN_DOCKER" --method tools/list
  Mint more tokens: node auth/dist/cli.js token --agent ${AGENT} --scope mcp:docker:read --aud ${docker.url}
  Claude / Cursor: examples/mcp.json (stdio needs no token).
`
    : ''
}
Ctrl-C to stop.
`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await issuer.close();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.allSettled(children.map((c) => new Promise((r) => c.once('exit', r))));
await stop();
