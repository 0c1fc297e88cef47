import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../logging.js';
import { approvalWebhookMessage, createWebhookNotifier } from './approval-webhook.js';
import { createApprovalStore } from './approvals.js';

async function sample(count: 1 | 2 = 1) {
  const store = createApprovalStore({ server: 'docker' });
  return store.create({
    server: 'docker',
    tool: 'exec_run',
    requester: { subject: 'agent-a', spiffeId: 'spiffe://td/agent/a' },
    argsDigest: 'sha256:x',
    args: { container: 'web-1', password: '[redacted]' },
    plan: 'run cat /etc/hostname in web-1',
    approvers: 'mcp:approvals:approve',
    count,
    ttlSeconds: 600,
  });
}

describe('approvalWebhookMessage', () => {
  it('is an Alertmanager v4 message with the request as one firing alert', async () => {
    const r = await sample(2);
    const m = approvalWebhookMessage(r, 'https://docker-mcp.example') as Record<string, never>;
    expect(m).toMatchObject({ version: '4', status: 'firing', receiver: 'ravenhelm-approvals' });
    expect(m.alerts).toEqual([
      {
        status: 'firing',
        labels: {
          alertname: 'RavenhelmApprovalPending',
          severity: 'critical',
          server: 'docker',
          tool: 'exec_run',
          approval_id: r.id,
          requester: 'agent-a',
          spiffe_id: 'spiffe://td/agent/a',
        },
        annotations: {
          summary: "exec_run on docker waits for two approvals by 'mcp:approvals:approve'",
          description: 'run cat /etc/hostname in web-1',
          arguments: '{"container":"web-1","password":"[redacted]"}',
        },
        startsAt: r.createdAt,
        endsAt: r.expiresAt,
        generatorURL: `https://docker-mcp.example/approvals/${r.id}`,
        fingerprint: r.id.slice(4, 20),
      },
    ]);
    expect(JSON.stringify(m)).not.toContain('sha256:x');
  });
});

describe('createWebhookNotifier', () => {
  let server: Server;
  let port: number;
  const got: { path: string; body: string }[] = [];
  let status = 200;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c;
      });
      req.on('end', () => {
        got.push({ path: req.url ?? '', body });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  function logger() {
    const lines: unknown[] = [];
    const l = silentLogger();
    l.warn = ((obj: unknown, msg: string) => {
      lines.push([obj, msg]);
    }) as typeof l.warn;
    return { l, lines };
  }

  it('posts the message and never logs the URL when delivery fails', async () => {
    const { l, lines } = logger();
    const ok = createWebhookNotifier({
      url: `http://127.0.0.1:${port}/hook?key=SECRETKEY`,
      timeoutMs: 2000,
      logger: l,
    });
    const r = await sample();
    ok.notify(r);
    await ok.close();
    expect(got.at(-1)?.path).toBe('/hook?key=SECRETKEY');
    expect(JSON.parse(got.at(-1)?.body ?? '{}').alerts[0].labels.approval_id).toBe(r.id);
    expect(lines).toEqual([]);

    status = 500;
    ok.notify(r);
    await ok.close();
    status = 200;
    const down = createWebhookNotifier({ url: 'http://127.0.0.1:1/hook?key=SECRETKEY', timeoutMs: 500, logger: l });
    down.notify(r);
    await down.close();
    expect(lines).toHaveLength(2);
    expect(JSON.stringify(lines)).toContain('answered an error status');
    expect(JSON.stringify(lines)).toContain('could not be delivered');
    expect(JSON.stringify(lines)).not.toContain('SECRETKEY');
  });
});
