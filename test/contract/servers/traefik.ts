/** SDK-client contract cases for the Traefik server: the simulator, a temp file-provider directory, real TLS. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraefikSimulator } from '../../simulators/traefik.js';
import { startTlsFixture } from '../../traefik/tls-servers.js';
import type { ContractSuite } from '../types.js';

const SPIFFE_ID = 'spiffe://ravenhelm.local/agent/contract';

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

const suite: ContractSuite = {
  server: 'traefik',
  bin: 'servers/traefik/src/bin.ts',
  async setup() {
    const scratch = mkdtempSync(join(tmpdir(), 'rh-traefik-contract-'));
    const dir = join(scratch, 'dynamic');
    mkdirSync(dir);
    const tls = await startTlsFixture();
    const sim = await new TraefikSimulator({ directory: dir, watchIntervalMs: 25 }).start();
    sim.setProvider('docker', {
      http: {
        routers: {
          shop: { rule: 'Host(`good.example.test`) && PathPrefix(`/`)', service: 'web', tls: {} },
          admin: { rule: 'Host(`admin.example.test`)', service: 'web', middlewares: ['office'] },
          broken: { rule: 'Host(`broken.example.test`)', service: 'missing' },
        },
        services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1:80' }] } } },
        middlewares: { office: { ipAllowList: { sourceRange: ['192.168.0.0/16'] } } },
      },
    });
    const caFile = join(scratch, 'ca.pem');
    writeFileSync(caFile, tls.ca.certPem);
    const policy = join(scratch, 'policy.yaml');
    writeFileSync(
      policy,
      `version: 1\nservers:\n  traefik:\n    confirm: destructive\n    spiffe:\n      default: ['${SPIFFE_ID}']\n`,
    );
    const route = { name: 'contract', rule: 'Host(`contract.example.test`)', servers: ['http://10.0.0.9:8080'] };
    return {
      env: {
        TRAEFIK_API_URL: sim.url,
        TRAEFIK_DYNAMIC_DIR: dir,
        TRAEFIK_LOAD_TIMEOUT_MS: '5000',
        TRAEFIK_TLS_ADDRESS: `127.0.0.1:${tls.port}`,
        TRAEFIK_TLS_CA_FILE: caFile,
        TRAEFIK_TLS_TIMEOUT_MS: '5000',
        RAVENHELM_POLICY_FILE: policy,
        RAVENHELM_AUDIT_FILE: join(scratch, 'audit.jsonl'),
        RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
        RAVENHELM_LOCAL_SPIFFE_ID: SPIFFE_ID,
        RAVENHELM_LOCAL_SCOPES: 'mcp:traefik:admin',
      },
      cases: [
        {
          tool: 'overview_get',
          label: 'counts with one disabled router',
          arguments: {},
          expect: 'ok',
          check: (s) => expect(s?.problems === 1, `problems: ${JSON.stringify(s?.problems)}`),
        },
        { tool: 'entrypoints_list', label: 'default entrypoints', arguments: {}, expect: 'ok' },
        {
          tool: 'routers_list',
          label: 'disabled routers with errors',
          arguments: { status: 'disabled' },
          expect: 'ok',
          check: (s) => expect(JSON.stringify(s).includes('does not exist'), 'the router error is missing'),
        },
        { tool: 'routers_list', label: 'empty result', arguments: { provider: 'kubernetescrd' }, expect: 'ok' },
        { tool: 'routers_get', label: 'one router', arguments: { name: 'admin@docker' }, expect: 'ok' },
        { tool: 'routers_get', label: 'not found', arguments: { name: 'nope@docker' }, expect: 'error' },
        { tool: 'services_list', label: 'server status', arguments: {}, expect: 'ok' },
        { tool: 'middlewares_list', label: 'ipAllowList', arguments: {}, expect: 'ok' },
        {
          tool: 'requests_diagnose',
          label: 'refused by ipAllowList',
          arguments: { url: 'http://admin.example.test/', clientIp: '10.1.1.1' },
          expect: 'ok',
          check: (s) => expect(s?.status === 403, `status ${JSON.stringify(s?.status)}`),
        },
        {
          tool: 'requests_diagnose',
          label: 'nothing matches',
          arguments: { url: 'https://nothing.example.test/' },
          expect: 'ok',
          check: (s) => expect(s?.status === 404, `status ${JSON.stringify(s?.status)}`),
        },
        {
          tool: 'certificates_inspect',
          label: 'valid certificate',
          arguments: { host: '127.0.0.1', port: tls.port, servername: 'good.example.test' },
          expect: 'ok',
          check: (s) => expect(s?.validates === true, 'expected a validating certificate'),
        },
        {
          tool: 'certificates_inspect',
          label: 'expired certificate',
          arguments: { host: '127.0.0.1', port: tls.port, servername: 'expired.example.test' },
          expect: 'ok',
          check: (s) => expect(s?.validates === false, 'expected a failing certificate'),
        },
        { tool: 'certificates_sweep', label: 'one TLS router', arguments: { withinDays: 365 }, expect: 'ok' },
        { tool: 'routes_apply', label: 'dry run', arguments: route, expect: 'ok' },
        {
          tool: 'routes_apply',
          label: 'write and wait for Traefik',
          arguments: { ...route, dryRun: false },
          expect: 'ok',
          check: (s) => expect(s?.loaded === true, `not loaded: ${JSON.stringify(s)}`),
        },
        { tool: 'routes_apply', label: 'invalid rule', arguments: { ...route, rule: 'Host(`x`' }, expect: 'error' },
        { tool: 'routes_remove', label: 'remove', arguments: { name: 'contract', dryRun: false }, expect: 'ok' },
        { tool: 'routes_remove', label: 'not found', arguments: { name: 'contract', dryRun: false }, expect: 'error' },
        {
          tool: 'labels_generate',
          label: 'docker labels',
          arguments: { name: 'web', rule: 'Host(`web.example.test`)', port: 8080 },
          expect: 'ok',
        },
      ],
      async stop() {
        await sim.close();
        await tls.close();
        rmSync(scratch, { recursive: true, force: true });
      },
    };
  },
};

export default suite;
