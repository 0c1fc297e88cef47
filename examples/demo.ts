/**
 * `npm run demo`: starts the suite on embedded defaults, on loopback only.
 *   - the Docker MCP server over Streamable HTTP on 127.0.0.1:8701 (the local Docker Engine)
 * and prints how to call it with curl, the inspector CLI, or Claude/Cursor (mcp.json).
 * Ctrl-C stops everything gracefully.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

interface DemoServer {
  name: string;
  bin: string;
  port: number;
  env: Record<string, string>;
}

const servers: DemoServer[] = [
  {
    name: 'docker',
    bin: 'servers/docker/dist/bin.js',
    port: 8701,
    env: { RAVENHELM_LOCAL_SCOPES: 'mcp:docker:write' },
  },
  {
    name: 'observability',
    bin: 'servers/observability/dist/bin.js',
    port: 8702,
    env: { RAVENHELM_LOCAL_SCOPES: 'mcp:observability:write' },
  },
].filter((s) => existsSync(`${root}${s.bin}`));

const children: ChildProcess[] = [];

function start(s: DemoServer): Promise<string> {
  const child = spawn(process.execPath, [`${root}${s.bin}`, '--http', '--port', String(s.port)], {
    cwd: root,
    env: {
      ...process.env,
      // Demo defaults: loopback only, every local caller is the demo operator (no tokens needed).
      RAVENHELM_AUTH_MODE: process.env.RAVENHELM_AUTH_MODE ?? 'none',
      RAVENHELM_HTTP_HOST: '127.0.0.1',
      RAVENHELM_AUDIT_FILE: `${root}.ravenhelm/audit/${s.name}.jsonl`,
      ...s.env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      log += text;
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try {
          const rec = JSON.parse(line) as { level: number; msg: string; url?: string };
          if (rec.msg === 'listening' && rec.url) resolve(rec.url);
          if (rec.level >= 40) process.stderr.write(`[${s.name}] ${rec.msg}\n`);
        } catch {
          process.stderr.write(`[${s.name}] ${line}\n`);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${s.name} server exited with code ${code}\n${log}`)));
  });
}

const urls = await Promise.all(servers.map(start));
const docker = urls[0] ?? 'http://127.0.0.1:8701/mcp';
process.stdout.write(`
Ravenhelm MCP suite is running (loopback only, demo auth: every local caller is the operator):
${servers.map((s, i) => `  ${s.name.padEnd(14)} ${urls[i]}`).join('\n')}

Try it:
  curl -s ${docker} -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"health_get_report","arguments":{}}}'

  npm run inspect -- ${docker} --transport http --method tools/list

  Claude / Cursor mcp.json: see examples/mcp.json (stdio or HTTP).
  Health: ${new URL('/readyz', docker)}   Metrics: ${new URL('/metrics', docker)}

Ctrl-C to stop.
`);

const stop = () => {
  for (const c of children) c.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.allSettled(children.map((c) => new Promise((r) => c.once('exit', r))));
