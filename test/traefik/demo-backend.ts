/**
 * A SIMULATED Traefik for the demo (not Traefik): the API simulator watching a temporary dynamic-config
 * directory, seeded with a few routers (one broken, one behind an ipAllowList, one TLS). The lead's
 * examples/demo.ts can call startTraefikDemoBackend() and pass `env` to servers/traefik's bin; run
 * directly (`node --conditions=@ravenhelm/source --import tsx test/traefik/demo-backend.ts`) it prints
 * the environment and waits for Ctrl-C.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraefikSimulator } from '../simulators/traefik.js';

export const DEMO_LABEL = 'SIMULATED Traefik (test/simulators/traefik.ts) with a temporary file-provider directory';

export async function startTraefikDemoBackend(): Promise<{
  env: Record<string, string>;
  label: string;
  stop(): Promise<void>;
}> {
  const scratch = mkdtempSync(join(tmpdir(), 'rh-traefik-demo-'));
  const dir = join(scratch, 'dynamic');
  mkdirSync(dir);
  const sim = await new TraefikSimulator({ directory: dir }).start();
  sim.setProvider('docker', {
    http: {
      routers: {
        shop: { rule: 'Host(`shop.localhost`)', service: 'shop', middlewares: ['office'] },
        api: { rule: 'Host(`shop.localhost`) && PathPrefix(`/api`)', service: 'api' },
        legacy: { rule: 'Host(`old.localhost`)', service: 'gone' },
        secure: { rule: 'Host(`shop.localhost`)', service: 'shop', tls: { certResolver: 'le' } },
      },
      services: {
        shop: { loadBalancer: { servers: [{ url: 'http://10.0.0.10:8080' }] } },
        api: { loadBalancer: { servers: [{ url: 'http://10.0.0.20:8080' }, { url: 'http://10.0.0.21:8080' }] } },
      },
      middlewares: { office: { ipAllowList: { sourceRange: ['192.168.0.0/16'] } } },
    },
  });
  sim.serverHealth.set('http://10.0.0.20:8080', 'DOWN');
  sim.serverHealth.set('http://10.0.0.21:8080', 'DOWN');
  return {
    label: DEMO_LABEL,
    env: { TRAEFIK_API_URL: sim.url, TRAEFIK_DYNAMIC_DIR: dir },
    stop: async () => {
      await sim.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const backend = await startTraefikDemoBackend();
  process.stdout.write(
    `${backend.label}\n${Object.entries(backend.env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void backend.stop().then(() => process.exit(0)));
  }
}
