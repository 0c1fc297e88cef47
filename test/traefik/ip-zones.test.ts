/**
 * IPv6 zones (`fe80::1%eth0`) and Traefik's ClientIP, as its source has them (traefik/traefik master, July 2026):
 * - the matcher's arguments go to pkg/ip/checker.go NewChecker, which takes each one with Go's net.ParseIP, else
 *   net.ParseCIDR; both refuse an address with a zone (net/ip.go: `netip.ParseAddr(addr)`, then
 *   `if err != nil || ipAddr.Zone() != ""` fails), so the router is disabled: pkg/muxer/http/matcher.go clientIP
 *   "initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs <nil>: invalid CIDR address: X";
 * - the client's address is read with netip.ParseAddr (checker.go parseIP), which accepts a zone, and As16 drops
 *   it: a link-local client `fe80::1%eth0` matches ClientIP(`fe80::/10`) (and an ipAllowList).
 * Through the simulator, our rule checker (routes_apply) and requests_diagnose, over the real bin.
 */
import { describe, expect, it } from 'vitest';
import { fails, ok, useTraefikSession } from './harness.js';

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          zoned: { rule: 'ClientIP(`fe80::1%eth0`)', service: 'web', entryPoints: ['web'] },
          zonedRange: { rule: 'ClientIP(`fe80::/10%eth0`)', service: 'web', entryPoints: ['web'] },
          zonedV2: {
            rule: 'ClientIP(`10.0.0.1`, `fe80::1%eth0`)',
            ruleSyntax: 'v2',
            service: 'web',
            entryPoints: ['web'],
          },
          linkLocal: {
            rule: 'Host(`ll.example.com`) && ClientIP(`fe80::/10`)',
            service: 'web',
            entryPoints: ['web'],
          },
          office: { rule: 'Host(`office.example.com`)', service: 'web', middlewares: ['lan'], entryPoints: ['web'] },
        },
        services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        middlewares: { lan: { ipAllowList: { sourceRange: ['fe80::/10'] } } },
      },
    });
  },
});

describe('IPv6 zones in ClientIP', () => {
  it('Traefik disables a router whose ClientIP names a zone (the simulator, after pkg/ip/checker.go)', async () => {
    const r = await ok(session.client, 'routers_get', { name: 'zoned@docker' });
    expect(r.status).toBe('disabled');
    expect(r.errors).toEqual([
      'error while adding rule ClientIP(`fe80::1%eth0`): error while adding rule ClientIP: initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs <nil>: invalid CIDR address: fe80::1%eth0',
    ]);
    expect((await ok(session.client, 'routers_get', { name: 'zonedRange@docker' })).status).toBe('disabled');
    const v2 = await ok(session.client, 'routers_get', { name: 'zonedV2@docker' });
    expect(v2.status).toBe('disabled');
    expect(v2.errors[0]).toMatch(
      /could not initialize IP Checker for "ClientIP" matcher: parsing CIDR trusted IPs <nil>: invalid CIDR address: fe80::1%eth0$/,
    );
    expect((await ok(session.client, 'routers_get', { name: 'linkLocal@docker' })).status).toBe('enabled');
  });

  it('routes_apply refuses a zone in ClientIP, saying why and what to do', async () => {
    for (const rule of ['ClientIP(`fe80::1%eth0`)', 'Host(`a.example.com`) && ClientIP(`fe80::/64%2`)']) {
      const text = await fails(session.client, 'routes_apply', { name: 'zone', rule, servers: ['http://10.0.0.9'] });
      expect(text).toMatch(
        /^ERR_INVALID_INPUT: the rule is invalid: .*has an IPv6 zone \("%(eth0|2)"\): Traefik refuses a zone in ClientIP .*drop it/,
      );
    }
  });

  it('a client address with a zone is read as Traefik reads it (netip.ParseAddr): the zone does not count', async () => {
    const d = await ok(session.client, 'requests_diagnose', {
      url: 'http://ll.example.com/',
      clientIp: 'fe80::1%eth0',
    });
    expect(d.router).toBe('linkLocal@docker');
    const mw = await ok(session.client, 'requests_diagnose', {
      url: 'http://office.example.com/',
      clientIp: 'fe80::2%eth0',
    });
    expect(mw.middlewares).toEqual(['lan@docker (ipallowlist): pass: fe80::2%eth0 is in fe80::/10']);
    // netip.ParseAddr refuses an empty zone and a zone on an IPv4 address
    for (const bad of ['fe80::1%', '10.0.0.1%eth0']) {
      expect(
        await fails(session.client, 'requests_diagnose', { url: 'http://ll.example.com/', clientIp: bad }),
      ).toMatch(/^ERR_INVALID_INPUT: clientIp .* is not an IPv4 or IPv6 address/);
    }
  });
});
