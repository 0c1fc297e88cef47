/**
 * The deployment examples (examples/compose.yaml + traefik-dynamic.yaml, examples/kubernetes/) are
 * checked the way a deployment would fail: every Kubernetes document against the official API schemas
 * (kubernetes-models, generated from the Kubernetes OpenAPI spec; ServiceMonitor from the
 * prometheus-operator CRD), every cross-reference between documents, every server's settings through
 * the server's own config loader, and the compose file through docker-compose itself when installed.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { gitlabServer } from '@ravenhelm/mcp-gitlab';
import { observabilityServer } from '@ravenhelm/mcp-observability';
import { secretsServer } from '@ravenhelm/mcp-secrets';
import { traefikServer } from '@ravenhelm/mcp-traefik';
import { zitadelServer } from '@ravenhelm/mcp-zitadel';
import { parsePolicy } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../fixtures/spawn.js';

const execFileP = promisify(execFile);
const EXAMPLES = join(REPO_ROOT, 'examples');
const K8S = join(EXAMPLES, 'kubernetes');
const SERVERS = {
  docker: dockerServer,
  observability: observabilityServer,
  gitlab: gitlabServer,
  zitadel: zitadelServer,
  traefik: traefikServer,
  secrets: secretsServer,
} as const;
type ServerName = keyof typeof SERVERS;
const NAMES = Object.keys(SERVERS) as ServerName[];
/** Variables the vendors' own client libraries read (not the server's config). */
const VENDOR_ENV = new Set(['AWS_REGION', 'AWS_SHARED_CREDENTIALS_FILE']);
/** Settings whose values are credentials: they must come from a secret, never a literal. */
const CREDENTIAL = /TOKEN$|PASSWORD$|SECRET$|FINGERPRINT_KEY$|REDIS_URL$/;

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes documents are checked field by field below
type Doc = Record<string, any>;
type Env = Record<string, string>;

/** A server's settings as the server itself reads them: throws on a bad value or an unknown variable. */
function checkServerEnv(name: ServerName, env: Env, where: string): void {
  const def = SERVERS[name];
  const backendEnv = def.backendEnv ?? {};
  for (const key of Object.keys(env)) {
    if (key.startsWith('RAVENHELM_') || VENDOR_ENV.has(key)) continue;
    expect(backendEnv[key], `${where}: ${key} is not a setting of the ${name} server`).toBeDefined();
  }
  const config = loadConfig({
    backendSchema: def.backendConfig,
    backendEnv,
    env: { ...env, RAVENHELM_POLICY_FILE: '' },
  });
  expect(config.http.port, `${where}: port`).toBe(def.defaultPort);
  expect(config.http.host).toBe('0.0.0.0');
  expect(new URL(config.http.publicUrl as string).protocol, `${where}: public URL`).toBe('https:');
  expect(config.http.allowedHosts, `${where}: allowed hosts`).toContain(new URL(config.http.publicUrl as string).host);
}

/** The GET paths the kit's HTTP handler serves (probes must use one of them). */
function servedPaths(): Set<string> {
  const handler = readFileSync(join(REPO_ROOT, 'shared/src/http/handler.ts'), 'utf8');
  return new Set([...handler.matchAll(/case '(\/[a-z]+)':/g)].map((m) => m[1] as string));
}

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}): boolean =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('Kubernetes examples', () => {
  const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  const docs: (Doc & { file: string })[] = files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
      expect(d.errors, file).toEqual([]);
      return { ...(d.toJS() as Doc), file };
    }),
  );
  const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const kustomization = readFileSync(join(K8S, 'kustomization.yaml'), 'utf8');
  /** "Secret name: key, key" lines under "User-provided" in kustomization.yaml. */
  const userProvided = new Map(
    [...kustomization.matchAll(/^#\s+(Secret|ConfigMap) ([\w.-]+): (.+)$/gm)].map((m) => [
      `${m[1]}/${m[2]}`,
      (m[3] as string).split(',').map((k) => k.trim()),
    ]),
  );
  const deployments = ofKind('Deployment');
  const podLabels = deployments.map((d) => d.spec.template.metadata.labels as Record<string, string>);

  it('validate against the Kubernetes and prometheus-operator schemas', async () => {
    expect(docs.length).toBeGreaterThan(30);
    for (const doc of docs) {
      const { file, ...body } = doc;
      const [group, version] = (body.apiVersion as string).includes('/')
        ? (body.apiVersion as string).split('/')
        : [undefined, body.apiVersion as string];
      const module =
        group === 'monitoring.coreos.com'
          ? `@kubernetes-models/prometheus-operator/${group}/${version}/${body.kind}`
          : `kubernetes-models/${group ? `${group}/` : ''}${version}/${body.kind}`;
      const Model = ((await import(module)) as Record<string, new (data: Doc) => { validate(): void }>)[body.kind];
      expect(Model, `${file}: no schema for ${body.apiVersion} ${body.kind}`).toBeDefined();
      expect(
        () => new (Model as new (data: Doc) => { validate(): void })(body).validate(),
        `${file} ${body.kind}`,
      ).not.toThrow();
    }
  });

  it('a schema error is caught (the check can fail)', async () => {
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    const broken = structuredClone(deployments[0]) as Doc;
    delete broken.file;
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'https';
    expect(() => new Deployment(broken).validate()).toThrow(/containerPort/);
  });

  it('list every file in kustomization.yaml, and every image it pins', () => {
    const k = parse(kustomization) as { resources: string[]; images: { name: string }[] };
    expect([...k.resources].sort()).toEqual([...files].sort());
    const images = deployments.flatMap((d) => d.spec.template.spec.containers.map((c: Doc) => c.image.split(':')[0]));
    for (const name of NAMES) expect(images).toContain(`ravenhelm/mcp-${name}`);
    expect(k.images.map((i) => i.name).sort()).toEqual(NAMES.map((n) => `ravenhelm/mcp-${n}`).sort());
  });

  it('run every server as a hardened Deployment with a Service, HPA, NetworkPolicy and ServiceMonitor', () => {
    const paths = servedPaths();
    for (const name of NAMES) {
      const app = `${name}-mcp`;
      const port = SERVERS[name].defaultPort;
      const dep = deployments.find((d) => d.metadata.name === app) as Doc;
      expect(dep, app).toBeDefined();
      const pod = dep.spec.template.spec;
      expect(matches(dep.spec.selector.matchLabels, dep.spec.template.metadata.labels), app).toBe(true);
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.securityContext.runAsUser).toBe(65534);
      const server = pod.containers.find((c: Doc) => c.name === 'server');
      expect(server.image).toMatch(new RegExp(`^ravenhelm/mcp-${name}:\\d`));
      expect(server.ports).toEqual([{ name: 'https', containerPort: port }]);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        expect(c.securityContext, `${app}/${c.name}`).toMatchObject({
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
        });
        expect(c.resources?.requests, `${app}/${c.name} resources`).toBeDefined();
      }
      const sidecar = (pod.initContainers ?? []).find((c: Doc) => c.name === 'spiffe-helper');
      expect(sidecar?.restartPolicy, `${app}: spiffe-helper sidecar`).toBe('Always');
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const get = server[probe]?.httpGet;
        expect(paths.has(get?.path), `${app} ${probe} ${get?.path} is served`).toBe(true);
        expect(get.port === 'https' || get.port === port).toBe(true);
      }
      expect(server.readinessProbe.httpGet.path).toBe('/readyz');
      expect(server.livenessProbe.httpGet.path).toBe('/healthz');
      // Every mount names a volume of the pod; the SVID the sidecar writes is the one the server reads.
      const volumes = new Set(pod.volumes.map((v: Doc) => v.name));
      for (const c of [...pod.containers, ...pod.initContainers])
        for (const m of c.volumeMounts) expect(volumes.has(m.name), `${app}/${c.name} mounts ${m.name}`).toBe(true);
      const env: Env = Object.fromEntries(
        server.env.map((e: Doc) => [e.name, e.value ?? `from-secret-${e.valueFrom.secretKeyRef.key}-0123456789`]),
      );
      for (const e of server.env as Doc[]) {
        if (CREDENTIAL.test(e.name)) expect(e.valueFrom?.secretKeyRef, `${app}: ${e.name} from a Secret`).toBeDefined();
      }
      expect(env.RAVENHELM_TLS_CERT_FILE?.startsWith('/run/svid/')).toBe(true);
      checkServerEnv(name, env, `kubernetes/${app}`);

      const svc = ofKind('Service').find((s) => s.metadata.name === app) as Doc;
      expect(matches(svc.spec.selector, dep.spec.template.metadata.labels), `${app} Service selects its pods`).toBe(
        true,
      );
      expect(svc.spec.ports).toEqual([{ name: 'https', port, targetPort: 'https' }]);

      const hpa = ofKind('HorizontalPodAutoscaler').find((h) => h.metadata.name === app) as Doc;
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: app });
      expect(hpa.spec.minReplicas).toBe(dep.spec.replicas);
      // A drain takes at most one replica at a time, where there is more than one.
      const pdbs = ofKind('PodDisruptionBudget').filter((p) =>
        matches(p.spec.selector.matchLabels, dep.spec.template.metadata.labels),
      );
      if (dep.spec.replicas > 1) {
        expect(
          pdbs.map((p) => p.spec.maxUnavailable),
          `${app} PodDisruptionBudget`,
        ).toEqual([1]);
      } else expect(pdbs, `${app}: one replica, no budget`).toEqual([]);

      const np = ofKind('NetworkPolicy').find((n) => n.metadata.name === app) as Doc;
      expect(matches(np.spec.podSelector.matchLabels, dep.spec.template.metadata.labels)).toBe(true);
      expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(np.spec.ingress.flatMap((r: Doc) => r.ports.map((p: Doc) => p.port))).toEqual([port]);
      const traefikPeer = np.spec.ingress[0].from.find(
        (f: Doc) => f.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'] === 'traefik',
      );
      expect(traefikPeer, `${app}: ingress from Traefik`).toBeDefined();
      const egress = np.spec.egress as Doc[];
      expect(egress.some((r) => r.ports.some((p: Doc) => p.port === 53))).toBe(true);
      const redisRule = egress.find((r) => r.to.some((t: Doc) => t.podSelector?.matchLabels?.app === 'redis'));
      expect(redisRule?.ports).toEqual([{ port: 6379, protocol: 'TCP' }]);
      // The pod's audit files go with it: every server ships them to Loki, and may reach it.
      const loki = new URL(env.RAVENHELM_AUDIT_SHIP_LOKI_URL ?? 'http://missing.invalid');
      expect(loki.hostname, `${app} ships its audit log to the monitoring namespace's Loki`).toBe(
        'loki.monitoring.svc',
      );
      expect(env.RAVENHELM_AUDIT_SHIP_LOKI_REQUIRED).toBe('true');
      const lokiRule = egress.find(
        (r) =>
          r.ports.some((p: Doc) => p.port === Number(loki.port)) &&
          r.to.some((t: Doc) => t.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring'),
      );
      expect(lokiRule, `${app}: egress to Loki on ${loki.port}`).toBeDefined();

      const sm = ofKind('ServiceMonitor').find((m) => m.metadata.name === app) as Doc;
      expect(
        matches(sm.spec.selector.matchLabels, svc.metadata.labels),
        `${app} ServiceMonitor selects its Service`,
      ).toBe(true);
      expect(sm.spec.endpoints.map((e: Doc) => [e.port, e.path])).toEqual([['https', '/metrics']]);
      expect(paths.has('/metrics')).toBe(true);

      const policyMap = ofKind('ConfigMap').find((c) => c.metadata.name === `${app}-policy`) as Doc;
      expect(parsePolicy(policyMap.data['policy.yaml'] as string).servers[name], `${app} policy`).toBeDefined();
    }
  });

  it('select pods that exist and reference only ConfigMaps and Secrets that exist or are user-provided', () => {
    for (const np of ofKind('NetworkPolicy')) {
      expect(
        podLabels.some((l) => matches(np.spec.podSelector.matchLabels, l)),
        np.metadata.name,
      ).toBe(true);
      for (const rule of np.spec.egress as Doc[])
        for (const to of rule.to)
          if (to.podSelector && !to.namespaceSelector)
            expect(
              podLabels.some((l) => matches(to.podSelector.matchLabels, l)),
              `${np.metadata.name} egress`,
            ).toBe(true);
    }
    const redis = ofKind('Service').find((s) => s.metadata.name === 'redis') as Doc;
    expect(podLabels.some((l) => matches(redis.spec.selector, l))).toBe(true);

    const refs: [string, string, string | undefined, string][] = [];
    const walk = (node: unknown, where: string) => {
      if (Array.isArray(node)) for (const n of node) walk(n, where);
      else if (node && typeof node === 'object') {
        const o = node as Doc;
        if (o.secretKeyRef) refs.push(['Secret', o.secretKeyRef.name, o.secretKeyRef.key, where]);
        if (o.configMapKeyRef) refs.push(['ConfigMap', o.configMapKeyRef.name, o.configMapKeyRef.key, where]);
        if (o.secret?.secretName) refs.push(['Secret', o.secret.secretName, undefined, where]);
        if (o.configMap?.name) refs.push(['ConfigMap', o.configMap.name, o.configMap.key, where]);
        for (const v of Object.values(o)) walk(v, where);
      }
    };
    for (const d of docs) walk(d.spec, `${d.file} ${d.kind}/${d.metadata.name}`);
    expect(refs.length).toBeGreaterThan(20);
    for (const [kind, name, key, where] of refs) {
      const defined = docs.find((d) => d.kind === kind && d.metadata.name === name);
      const provided = userProvided.get(`${kind}/${name}`);
      expect(defined !== undefined || provided !== undefined, `${where}: ${kind} ${name}`).toBe(true);
      if (key && defined)
        expect(Object.keys(defined.data ?? {}), `${where}: ${kind} ${name} key ${key}`).toContain(key);
      if (key && provided) expect(provided, `${where}: ${kind} ${name} key ${key} is documented`).toContain(key);
    }
    // Nothing in the examples carries a credential's value.
    expect(ofKind('Secret')).toEqual([]);
  });
});

/** Compose interpolation: ${VAR:-default} takes the default, ${VAR:?message} the value given here. */
function interpolate(text: string, given: Env): string {
  return text.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    if (given[name] !== undefined) return given[name] as string;
    if (op === '-') return arg ?? '';
    throw new Error(`\${${name}} is required: ${arg}`);
  });
}

const REQUIRED_ENV: Env = {
  GRAFANA_TOKEN: 'test-value-not-a-token',
  SECRETS_FINGERPRINT_KEY: 'test-value-not-a-real-key',
};

describe('compose example', () => {
  const raw = readFileSync(join(EXAMPLES, 'compose.yaml'), 'utf8');
  const resolve = (node: unknown): unknown =>
    typeof node === 'string'
      ? interpolate(node, REQUIRED_ENV)
      : Array.isArray(node)
        ? node.map(resolve)
        : node && typeof node === 'object'
          ? Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v)]))
          : node;
  // Like compose: YAML merge keys, then interpolation of values (comments are not interpolated).
  const compose = resolve(parse(raw, { merge: true })) as Doc;
  const dynamic = parse(readFileSync(join(EXAMPLES, 'traefik-dynamic.yaml'), 'utf8')) as Doc;

  it('runs all six servers read-only as uid 65534 with /tmp and a state volume, settings the server accepts', () => {
    for (const name of NAMES) {
      const svc = compose.services[`${name}-mcp`] as Doc;
      expect(svc, name).toBeDefined();
      expect(svc.image).toMatch(new RegExp(`^ravenhelm/mcp-${name}:\\d`));
      expect(svc.read_only).toBe(true);
      expect(svc.user).toBe('65534:65534');
      expect(svc.tmpfs).toContain('/tmp');
      const state = (svc.volumes as string[]).find((v) => v.endsWith(':/var/lib/ravenhelm'));
      expect(compose.volumes[(state ?? '').split(':')[0] as string], `${name} state volume`).toBeDefined();
      for (const v of svc.volumes as string[])
        if (v.startsWith('./')) expect(existsSync(join(EXAMPLES, v.split(':')[0] as string)), v).toBe(true);
      for (const s of (svc.secrets ?? []) as string[]) expect(compose.secrets[s], `${name} secret ${s}`).toBeDefined();
      const env = svc.environment as Env;
      expect(env.RAVENHELM_TRUSTED_PROXIES).toBe(compose.services.traefik.networks.mcp.ipv4_address);
      expect(env.RAVENHELM_FORWARDED_BUNDLE_FILE).toBeDefined();
      expect(env.RAVENHELM_REDIS_URL).toBe('redis://redis:6379');
      checkServerEnv(name, env, `compose ${name}-mcp`);
    }
    // Credentials come from the environment (no default) or a secret file, never a literal.
    for (const m of raw.matchAll(/^\s+(\w+): (.*)$/gm)) {
      if (!CREDENTIAL.test(m[1] as string) || m[1] === 'RAVENHELM_REDIS_URL') continue;
      expect(m[2], m[1]).toMatch(/^\$\{\w+:\?[^}]+\}$/);
    }
  });

  it('routes every server through Traefik with TLS, the client certificate and a rate limit', () => {
    const mw = dynamic.http.middlewares as Doc;
    for (const name of NAMES) {
      const router = dynamic.http.routers[`${name}-mcp`] as Doc;
      expect(router?.tls?.options, name).toBe('spiffe-mtls');
      const kinds = (router.middlewares as string[]).map((m) => Object.keys(mw[m] ?? {})[0]);
      expect(kinds).toEqual(expect.arrayContaining(['rateLimit', 'passTLSClientCert', 'stripPrefix']));
      expect(mw[(router.middlewares as string[])[kinds.indexOf('stripPrefix')] as string].stripPrefix.prefixes).toEqual(
        [`/${name}`],
      );
      const url = new URL(dynamic.http.services[router.service].loadBalancer.servers[0].url);
      expect(url.hostname).toBe(`${name}-mcp`);
      expect(Number(url.port)).toBe(SERVERS[name].defaultPort);
      expect(compose.services[`${name}-mcp`].environment.RAVENHELM_PUBLIC_URL).toMatch(new RegExp(`/${name}/mcp$`));
      // RFC 9728 discovery at the host root reaches the same server, path unchanged, on the same TLS options
      const metadata = dynamic.http.routers[`${name}-mcp-metadata`] as Doc;
      expect(metadata?.rule, name).toContain(`PathPrefix(\`/.well-known/oauth-protected-resource/${name}/\`)`);
      expect(metadata.service).toBe(router.service);
      expect(metadata.tls?.options).toBe('spiffe-mtls');
      expect((metadata.middlewares as string[]).map((m) => Object.keys(mw[m] ?? {})[0])).not.toContain('stripPrefix');
    }
    expect(dynamic.tls.options['spiffe-mtls'].clientAuth.caFiles).toEqual(['/run/svid/svid_bundle.pem']);
  });

  const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((p) => existsSync(p));
  it.runIf(dockerCompose)(
    'passes docker-compose config, and refuses to start without the required secrets',
    async () => {
      const run = (env: Env) =>
        execFileP(dockerCompose as string, ['-f', join(EXAMPLES, 'compose.yaml'), 'config', '-q'], {
          env: { PATH: process.env.PATH ?? '', ...env },
          timeout: 60_000,
        });
      await expect(run(REQUIRED_ENV)).resolves.toBeDefined();
      await expect(run({})).rejects.toThrow(/GRAFANA_TOKEN|SECRETS_FINGERPRINT_KEY/);
    },
    120_000,
  );
});
