import { type AddressInfo, createServer } from 'node:net';
import { TraefikBackendConfig } from '@ravenhelm/mcp-traefik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, fails, ok, useTraefikSession } from './harness.js';
import { startTlsFixture, type TlsFixture, useTlsFixture } from './tls-servers.js';

let tlsFx: TlsFixture;

beforeAll(async () => {
  tlsFx = await startTlsFixture();
});
afterAll(async () => {
  await tlsFx?.close();
});

const session = useTraefikSession({
  seed: (fx) => {
    useTlsFixture(fx, tlsFx);
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          shop: { rule: 'Host(`good.example.test`) || Host(`soon.example.test`)', service: 's', tls: {} },
          old: { rule: 'Host(`expired.example.test`) && PathPrefix(`/`)', service: 's', tls: { certResolver: 'le' } },
          misc: {
            rule: 'Host(`wrong.example.test`) || Host(`self.example.test`) || Host(`partial.example.test`)',
            service: 's',
            tls: { domains: [{ main: 'chained.example.test', sans: ['*.wild.example.test'] }] },
          },
          plain: { rule: 'Host(`plain.example.test`)', service: 's' },
        },
        services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
      },
    });
    fx.env.TRAEFIK_TLS_TIMEOUT_MS = '5000';
  },
});

const inspect = (servername: string) =>
  ok(session.client, 'certificates_inspect', { host: '127.0.0.1', port: tlsFx.port, servername });

describe('certificates_inspect against real TLS servers', () => {
  it('a valid certificate: chain, SANs, issuer, days to expiry', async () => {
    const c = await inspect('good.example.test');
    expect(c).toMatchObject({ validates: true, sans: ['good.example.test'], issuer: 'Ravenhelm Test Root' });
    expect(c.reason).toBeUndefined();
    expect(c.daysToExpiry).toBeGreaterThanOrEqual(89);
    expect(c.daysToExpiry).toBeLessThanOrEqual(90);
    expect(c.chain[0]).toMatchObject({ subject: 'good.example.test', issuer: 'Ravenhelm Test Root' });
    const chained = await inspect('chained.example.test');
    expect(chained.validates).toBe(true);
    expect(chained.chain.map((e: { subject: string }) => e.subject)).toEqual([
      'chained.example.test',
      'Ravenhelm Test Intermediate',
      'Ravenhelm Test Root',
    ]);
  });

  it('says why a certificate does not validate', async () => {
    const expired = await inspect('expired.example.test');
    expect(expired).toMatchObject({ validates: false, reason: 'the certificate has expired (CERT_HAS_EXPIRED)' });
    expect(expired.daysToExpiry).toBeLessThan(0);
    const wrong = await inspect('wrong.example.test');
    expect(wrong.validates).toBe(false);
    expect(wrong.reason).toMatch(/does not cover wrong.example.test.*other.example.test/);
    expect((await inspect('self.example.test')).reason).toMatch(/self-signed/);
    expect((await inspect('partial.example.test')).reason).toMatch(
      /^incomplete chain.*UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    );
  });

  it('unreachable and silent ports (allowed by the operator) are clear errors', async () => {
    const impatient = await connectStdio({
      ...session.fx.env,
      TRAEFIK_TLS_TIMEOUT_MS: '700',
      TRAEFIK_TLS_PROBE_ALLOW: `127.0.0.1:9, localhost, 127.0.0.1:${tlsFx.silentPort}`,
    });
    try {
      expect(await fails(impatient, 'certificates_inspect', { host: '127.0.0.1', port: 9 })).toMatch(
        /ERR_BACKEND_UNAVAILABLE: cannot complete a TLS handshake with 127.0.0.1:9 \(ECONNREFUSED\)/,
      );
      expect(await fails(impatient, 'certificates_inspect', { host: 'LOCALHOST', port: 9 })).toMatch(
        /ERR_BACKEND_UNAVAILABLE: cannot complete a TLS handshake with LOCALHOST:9/,
      );
      expect(await fails(impatient, 'certificates_inspect', { host: '127.0.0.1', port: tlsFx.silentPort })).toMatch(
        /ERR_BACKEND_TIMEOUT: no TLS handshake with 127.0.0.1:\d+ within 700 ms/,
      );
    } finally {
      await impatient.close();
    }
    expect(await fails(session.client, 'certificates_inspect', { host: 'bad host!' })).toMatch(
      /must be a hostname or IP/,
    );
  });
});

describe('certificates_inspect is no port scanner', () => {
  it('refuses a target that is not the TLS address, a routed TLS host or allowed, before any connection', async () => {
    const accepted: number[] = [];
    const probe = createServer((socket) => {
      accepted.push(Date.now());
      socket.destroy();
    });
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    try {
      for (const host of ['127.0.0.1', 'localhost', '127.0.0.1.']) {
        const text = await fails(session.client, 'certificates_inspect', { host, port });
        expect(text).toMatch(/ERR_NOT_ALLOWED: certificates_inspect connects only to Traefik's TLS address/);
        expect(text).toContain(`pass host 127.0.0.1, port ${tlsFx.port} and that name as servername`);
      }
      // the TLS address itself on another port, and a name no TLS router serves on 443 (plain is not TLS)
      expect(
        await fails(session.client, 'certificates_inspect', { host: '127.0.0.1', port: tlsFx.silentPort }),
      ).toMatch(/ERR_NOT_ALLOWED/);
      expect(await fails(session.client, 'certificates_inspect', { host: 'plain.example.test' })).toMatch(
        /ERR_NOT_ALLOWED/,
      );
      expect(accepted).toEqual([]);
      // an operator's entry with another port does not open this one
      const other = await connectStdio({
        ...session.fx.env,
        TRAEFIK_TLS_PROBE_ALLOW: `127.0.0.1:${port + 1},*.example.test:8443`,
      });
      try {
        expect(await fails(other, 'certificates_inspect', { host: '127.0.0.1', port })).toMatch(/ERR_NOT_ALLOWED/);
        expect(await fails(other, 'certificates_inspect', { host: 'a.example.test', port: 443 })).toMatch(
          /ERR_NOT_ALLOWED/,
        );
      } finally {
        await other.close();
      }
      expect(accepted).toEqual([]);
      // a name a TLS router serves is allowed on 443: the attempt reaches the network (127.0.0.1:443 is closed here)
      session.fx.sim.setProvider('redis', {
        http: { routers: { loop: { rule: 'Host(`127.0.0.1`)', service: 's', tls: {} } }, services: {} },
      });
      try {
        expect(await fails(session.client, 'certificates_inspect', { host: '127.0.0.1' })).toMatch(
          /ERR_BACKEND_UNAVAILABLE: cannot complete a TLS handshake with 127.0.0.1:443/,
        );
      } finally {
        session.fx.sim.setProvider('redis', { http: { routers: {}, services: {} } });
      }
    } finally {
      await new Promise((resolve) => probe.close(resolve));
    }
  });

  it('refuses a bad tls.probeAllow entry at start, naming it', () => {
    const bad = TraefikBackendConfig.safeParse({ tls: { probeAllow: 'example.test:443, http://x/' } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toMatch(/must be host, host:port, \*\.domain or \*\.domain:port/);
    const good = TraefikBackendConfig.parse({ tls: { probeAllow: '*.internal.test:8443, [::1]:443, db' } });
    expect(good.tls.probeAllow).toEqual(['*.internal.test:8443', '[::1]:443', 'db']);
  });
});

describe('certificates_sweep over TLS routers', () => {
  it("lists every TLS router's hosts that expire soon or fail, skipping wildcards and non-TLS routers", async () => {
    const s = await ok(session.client, 'certificates_sweep', { withinDays: 30 });
    expect(s).toMatchObject({ checked: 7, hosts: 7, truncated: false });
    expect(s.skipped).toEqual(['*.wild.example.test: wildcard, no single name to probe']);
    const byHost = Object.fromEntries(s.expiring.map((e: { host: string }) => [e.host, e]));
    expect(Object.keys(byHost).sort()).toEqual([
      'expired.example.test',
      'partial.example.test',
      'self.example.test',
      'soon.example.test',
      'wrong.example.test',
    ]);
    expect(byHost['soon.example.test']).toMatchObject({ validates: true, routers: ['shop@docker'] });
    expect(byHost['soon.example.test'].daysToExpiry).toBeLessThanOrEqual(5);
    expect(s.expiring[0].host).toBe('expired.example.test');
    const longer = await ok(session.client, 'certificates_sweep', { withinDays: 100, maxHosts: 2 });
    expect(longer).toMatchObject({ checked: 2, hosts: 7, truncated: true });
    // the cursor reaches the other hosts: every failing or expiring one is found, once
    const found: string[] = [];
    let page = await ok(session.client, 'certificates_sweep', { withinDays: 30, maxHosts: 2 });
    let checked = 0;
    for (let calls = 1; ; calls++) {
      found.push(...page.expiring.map((e: { host: string }) => e.host));
      checked += page.checked;
      if (!page.nextCursor || calls > 7) break;
      page = await ok(session.client, 'certificates_sweep', { withinDays: 30, maxHosts: 2, cursor: page.nextCursor });
    }
    expect(page.truncated).toBe(false);
    expect(checked).toBe(7);
    expect(found.sort()).toEqual(Object.keys(byHost).sort());
  });

  it("reads a ruleSyntax v2 router's hosts (several per Host(), as ParseDomains does)", async () => {
    session.fx.sim.setProvider('consul', {
      http: {
        routers: {
          legacy: {
            rule: 'Host(`soon.example.test`, `expired.example.test`)',
            ruleSyntax: 'v2',
            service: 's',
            tls: {},
          },
        },
        services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
      },
    });
    try {
      const s = await ok(session.client, 'certificates_sweep', { withinDays: 30 });
      expect(s.skipped).toEqual(['*.wild.example.test: wildcard, no single name to probe']);
      const soon = s.expiring.find((e: { host: string }) => e.host === 'soon.example.test');
      expect(soon.routers).toEqual(['legacy@consul', 'shop@docker']);
    } finally {
      session.fx.sim.setProvider('consul', {});
    }
  });

  it('stops starting probes when its time budget is spent, and says it is incomplete', async () => {
    const slow = await connectStdio({
      ...session.fx.env,
      TRAEFIK_TLS_ADDRESS: `127.0.0.1:${tlsFx.silentPort}`,
      TRAEFIK_TLS_TIMEOUT_MS: '600',
      TRAEFIK_TLS_SWEEP_BUDGET_MS: '300',
    });
    try {
      const started = Date.now();
      const s = await ok(slow, 'certificates_sweep', {});
      expect(Date.now() - started).toBeLessThan(5000);
      expect(s).toMatchObject({ checked: 5, hosts: 7, truncated: true });
      expect(s.expiring.every((e: { reason: string }) => /no TLS handshake .* within 600 ms/.test(e.reason))).toBe(
        true,
      );
    } finally {
      await slow.close();
    }
  });
});

describe('certificates_sweep pages by host name', () => {
  const router = (host: string) => ({
    http: {
      routers: { extra: { rule: `Host(\`${host}\`)`, service: 's', tls: {} } },
      services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  const sweep = (cursor?: string) =>
    ok(session.client, 'certificates_sweep', { withinDays: 3650, maxHosts: 2, ...(cursor ? { cursor } : {}) });
  const hostsOf = (page: Record<string, unknown>) => (page.expiring as { host: string }[]).map((e) => e.host).sort();

  it('a host that goes or comes before the cursor between pages: no host skipped, none probed twice', async () => {
    // every host is "expiring" within 3,650 days (or fails): each page's expiring list is the hosts it probed
    session.fx.sim.setProvider('consul', router('b-extra.example.test'));
    try {
      const first = await sweep();
      expect(hostsOf(first)).toEqual(['b-extra.example.test', 'chained.example.test']);
      session.fx.sim.setProvider('consul', {}); // gone, before the cursor
      const second = await sweep(first.nextCursor);
      expect(hostsOf(second)).toEqual(['expired.example.test', 'good.example.test']);
      expect(second.hosts).toBe(7);
      session.fx.sim.setProvider('consul', router('a-new.example.test')); // new, before the cursor
      const third = await sweep(second.nextCursor);
      expect(hostsOf(third)).toEqual(['partial.example.test', 'self.example.test']);
      expect(third.skipped).toContain(
        'the hosts before the cursor changed since the previous page: any added there are not probed on this pass; omit the cursor to sweep them all',
      );
      const last = await sweep(third.nextCursor);
      expect(hostsOf(last)).toEqual(['soon.example.test', 'wrong.example.test']);
      expect(last).toMatchObject({ truncated: false, checked: 2 });
      expect(last.nextCursor).toBeUndefined();
    } finally {
      session.fx.sim.setProvider('consul', {});
    }
  });
});
