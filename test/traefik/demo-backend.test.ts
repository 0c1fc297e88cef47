import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraefikDemoBackend } from './demo-backend.js';
import { connectStdio, ok } from './harness.js';

let backend: Awaited<ReturnType<typeof startTraefikDemoBackend>>;
const auditFile = join(tmpdir(), `rh-traefik-demo-audit-${process.pid}.jsonl`);

beforeAll(async () => {
  backend = await startTraefikDemoBackend();
});
afterAll(async () => {
  await backend?.stop();
  rmSync(auditFile, { force: true });
});

describe('the demo backend', () => {
  it('is labelled as a simulation and answers the questions the demo asks', async () => {
    expect(backend.label).toMatch(/^SIMULATED Traefik/);
    const client = await connectStdio({
      PATH: process.env.PATH ?? '',
      RAVENHELM_LOG_LEVEL: 'warn',
      RAVENHELM_AUDIT_FILE: auditFile,
      ...backend.env,
    });
    try {
      const api = await ok(client, 'requests_diagnose', { url: 'http://shop.localhost/api/items' });
      expect(api).toMatchObject({ router: 'api@docker', status: 503 });
      const shop = await ok(client, 'requests_diagnose', { url: 'http://shop.localhost/', clientIp: '203.0.113.9' });
      expect(shop.status).toBe(403);
      expect((await ok(client, 'overview_get')).problems).toBe(1);
    } finally {
      await client.close();
    }
  });
});
