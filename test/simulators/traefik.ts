/**
 * A Traefik v3 API simulator (tests only), stateful, over real loopback HTTP, that also plays Traefik's
 * file provider: it watches a dynamic-configuration directory and loads what Traefik would load.
 *
 * Built from Traefik's own sources (github.com/traefik/traefik, v3 master, read July 2026):
 * - pkg/api/handler.go: the route table (GET only), `writeError` = http.Error with a JSON
 *   `{"message": ...}` body sent as text/plain; getProviderName (the part after '@').
 * - pkg/api/handler_http.go, handler_tcp.go, handler_udp.go, handler_entrypoint.go: list and get
 *   handlers, representations (name, provider, priorityStr, service `type`, `serverStatus`
 *   omitted when empty, TLS `options` defaulted to "default"), "router not found: x" 404s.
 * - pkg/api/criterion.go: `search` (substring of rule or name, case-insensitive), `status`,
 *   `serviceName`, `middlewareName` filters (there is no `provider` filter), paging with `page` and
 *   `per_page` (default 100), `X-Next-Page` (1 on the last page), 400 "invalid request: page: N,
 *   per_page: M" past the end. pkg/api/sort.go: sorted by name unless sortBy/direction say otherwise.
 * - pkg/api/handler_overview.go: total/warnings/errors per section (disabled = error, warning =
 *   warning), features, providers as static-config field names ("File", "Docker").
 * - pkg/api/testdata/*.json: the JSON shapes (routers.json, services.json, middlewares.json,
 *   overview-dynamic.json, entrypoints.json): `priority` omitted when 0, `error` and `using` omitted
 *   when empty, `usedBy` on services and middlewares.
 * - pkg/config/runtime/runtime.go, runtime_http.go: statuses enabled/warning/disabled; AddError
 *   (critical -> disabled); `entryPoint "x" doesn't exist` (warning); "no valid entryPoint for this
 *   router" (critical); server statuses UP/DOWN.
 * - pkg/server/router/router.go: priority defaults to len(rule) once the router is built; rule parse
 *   errors as "error while parsing rule R: ..."; pkg/muxer/http/mux.go AddRoute and matchersTree.addRule:
 *   a matcher that fails to build (a *Regexp whose pattern does not compile with Go's regexp) disables the
 *   router with "error while adding rule R: error while adding rule MATCHER: <Go's error>", Go's error
 *   quoting the pattern ("error parsing regexp: missing closing ): `...`"; the regexp is compiled with
 *   re2js, a port of Go's regexp, and the extra "error while adding rule and:" level Traefik adds for a
 *   failing left operand is left out); pkg/server/service/service.go: `the service "x"
 *   does not exist`; pkg/server/middleware/middlewares.go: `middleware "x" does not exist`.
 * - ruleSyntax v2 routers: pkg/muxer/http/matcher_v2.go builds them with github.com/containous/mux (go.mod
 *   replace of gorilla/mux), whose route.go / regexp.go / mux.go errors (odd pairs, unbalanced braces, empty
 *   template names or patterns, a path without "/", Go regexp errors) disable the router; the chain of prefixes
 *   is mux.go AddRoute, parser.go parse and matchersTree.addRule (checkV2Build).
 * - Priorities are Go ints: internal routers use math.MaxInt, MaxInt-1, MaxInt-2 (pkg/provider/traefik/internal.go);
 *   a priority given as a bigint is written with all its digits (jsonWithBigInts), as encoding/json does.
 * - pkg/provider/file/file.go: a directory is read recursively; only .toml/.yaml/.yml files count
 *   (TOML through parseToml below, a subset of TOML v1.0.0 as BurntSushi/toml decodes it); one file that fails to decode fails the whole directory and
 *   Traefik keeps the configuration it had; names are qualified `<name>@file`. Every file is first run as a
 *   Go text/template with sprig's TxtFuncMap (collectFileConfigs -> loadFileConfig(path, true) ->
 *   CreateConfiguration), and the rendered text is what is decoded (paerser file.DecodeContent, gopkg.in/yaml.v3).
 *   renderGoTemplate below plays the part of text/template that tests use: string literals, `env`, `.` (the data
 *   is `false`), comments and trim markers; any other action fails the load as a template error would.
 *   decodeAsTraefik reads plain scalars as yaml.v3 resolves them (resolve.go), then as paerser turns them into
 *   node names and values (file/raw_node.go), where YAML 1.2's core schema would see strings; like yaml.v3
 *   (parserc.go), it stops at the first syntax error of the token stream.
 */
import { type Dirent, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { RE2JS } from 're2js';
import { isScalar, Parser, parseDocument, visit } from 'yaml';
import { type Listening, listen } from './http.js';

type Obj = Record<string, unknown>;
type Kind = 'routers' | 'services' | 'middlewares';
type Proto = 'http' | 'tcp' | 'udp';

/** A dynamic configuration as a provider gives it: `{ http: { routers, services, middlewares }, tcp, udp }`. */
export type DynamicConfig = Partial<Record<Proto, Partial<Record<Kind, Record<string, Obj>>>>> & {
  /** TLS options by name (`tls.options`), named `<name>@<provider>` by Traefik. */
  tls?: { options?: Record<string, Obj> };
};

export interface EntryPoint {
  name: string;
  address: string;
  /** Static `entryPoints.<name>.http` settings (encodeQuerySemicolons, sanitizePath...), over the defaults. */
  http?: Obj;
}

interface RuntimeItem {
  name: string;
  provider: string;
  config: Obj;
  status: 'enabled' | 'warning' | 'disabled';
  error: string[];
  using?: string[];
  usedBy: string[];
  priority?: number;
}

export interface TraefikSimulatorOptions {
  /** The file provider's directory; omitted: no file provider. */
  directory?: string;
  entryPoints?: EntryPoint[];
  /** Basic auth in front of the API (Traefik's dashboard is usually behind a basicAuth middleware). */
  basicAuth?: { username: string; password: string };
  /** How often the directory is scanned (Traefik uses fsnotify; a short poll is close enough here). */
  watchIntervalMs?: number;
  /**
   * Static `core.defaultRuleSyntax`. Traefik gives it to every entrypoint model (pkg/provider/traefik/internal.go
   * entryPointModels), and pkg/server/aggregator.go applyModel sets it as `ruleSyntax` on each router that
   * has none, so the API shows it on the router (the per-entrypoint copies a model makes are left out here).
   */
  defaultRuleSyntax?: 'v2' | 'v3';
}

const PROVIDER_FIELDS: Record<string, string> = { file: 'File', docker: 'Docker', kubernetescrd: 'KubernetesCRD' };
const STATUS_ORDER = ['enabled', 'warning', 'disabled'] as const;

export class TraefikSimulator {
  readonly entryPoints: EntryPoint[];
  /** Configurations from other providers (docker, kubernetescrd...), by provider name. */
  readonly providers = new Map<string, DynamicConfig>();
  /** Health-check results by server URL; servers not listed are UP. */
  readonly serverHealth = new Map<string, 'UP' | 'DOWN'>();
  /** Requests seen (method + path + query), newest last. */
  readonly requests: { method: string; url: string; authorization?: string }[] = [];
  /** When set, every API request fails with this status and text. */
  fail: { status: number; text: string } | undefined;
  /**
   * Called with each API request before it is answered: a test's way to make Traefik reload its
   * configuration between two requests of one caller (say, between page 1 and page 2 of a list).
   */
  beforeAnswer: ((url: URL) => void) | undefined;
  /** Extra delay before the file provider applies a changed directory. */
  loadDelayMs = 0;
  /** How many times the file provider configuration was (re)applied, and the last decode error. */
  fileLoads = 0;
  fileError: string | undefined;

  #file: DynamicConfig = {};
  #signature = '';
  #timer: NodeJS.Timeout | undefined;
  #pending: NodeJS.Timeout | undefined;
  #server: Listening | undefined;
  #runtime = new Map<string, RuntimeItem>();

  constructor(readonly opts: TraefikSimulatorOptions = {}) {
    this.entryPoints = opts.entryPoints ?? [
      { name: 'web', address: ':80' },
      { name: 'websecure', address: ':443' },
    ];
  }

  get url(): string {
    if (!this.#server) throw new Error('Traefik simulator not started');
    return this.#server.url;
  }

  async start(): Promise<this> {
    if (this.opts.directory) {
      this.#scan(true);
      this.#timer = setInterval(() => this.#scan(false), this.opts.watchIntervalMs ?? 50);
    }
    this.rebuild();
    this.#server = await listen((req, res) => this.#handle(req, res));
    return this;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#pending);
    await this.#server?.close();
  }

  /** Sets (replaces) what another provider gives, then rebuilds the runtime configuration. */
  setProvider(name: string, config: DynamicConfig): void {
    this.providers.set(name, config);
    this.rebuild();
  }

  // ---- file provider --------------------------------------------------------------------------

  #scan(immediate: boolean): void {
    const dir = this.opts.directory as string;
    const files: string[] = [];
    const walk = (d: string) => {
      let entries: Dirent[];
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ya?ml|toml)$/i.test(e.name)) files.push(p);
      }
    };
    walk(dir);
    const signature = files
      .map((f) => {
        try {
          const s = statSync(f);
          return `${f}:${s.mtimeMs}:${s.size}`;
        } catch {
          return `${f}:gone`;
        }
      })
      .join('|');
    if (signature === this.#signature) return;
    this.#signature = signature;
    const apply = () => this.#load(files);
    if (immediate || this.loadDelayMs === 0) apply();
    else {
      clearTimeout(this.#pending);
      this.#pending = setTimeout(apply, this.loadDelayMs);
    }
  }

  #load(files: string[]): void {
    const merged: DynamicConfig = {};
    const seen = new Map<string, string>();
    const conflicts = new Set<string>();
    for (const f of files) {
      let doc: unknown;
      try {
        const rendered = renderGoTemplate(readFileSync(f, 'utf8'));
        doc = /\.toml$/i.test(f) ? parseToml(rendered) : decodeAsTraefik(rendered);
      } catch (err) {
        // One undecodable file fails the whole directory: Traefik keeps its previous configuration.
        this.fileError = `${f}: ${(err as Error).message.split('\n')[0]}`;
        return;
      }
      if (doc === null || doc === undefined) continue;
      if (typeof doc !== 'object' || Array.isArray(doc)) {
        this.fileError = `${f}: the configuration is not a mapping`;
        return;
      }
      const options = ((doc as Obj).tls as { options?: Record<string, Obj> } | undefined)?.options;
      if (options && typeof options === 'object') merged.tls = { options: { ...merged.tls?.options, ...options } };
      for (const proto of ['http', 'tcp', 'udp'] as const) {
        const section = (doc as Obj)[proto] as Obj | undefined;
        for (const kind of ['routers', 'services', 'middlewares'] as const) {
          const items = (section?.[kind] ?? {}) as Record<string, Obj>;
          for (const [name, cfg] of Object.entries(items)) {
            const key = `${proto}/${kind}/${name}`;
            const text = JSON.stringify(cfg);
            if (seen.has(key) && seen.get(key) !== text) conflicts.add(key);
            seen.set(key, text);
            const protoSection = merged[proto] ?? {};
            merged[proto] = protoSection;
            const kindSection = protoSection[kind] ?? {};
            protoSection[kind] = kindSection;
            kindSection[name] = (cfg ?? {}) as Obj;
          }
        }
      }
    }
    // ResourceStrategySkipDuplicates: an element defined differently in two files is skipped.
    for (const key of conflicts) {
      const [proto, kind, name] = key.split('/') as [Proto, Kind, string];
      delete merged[proto]?.[kind]?.[name];
    }
    this.fileError = undefined;
    this.#file = merged;
    this.fileLoads++;
    this.rebuild();
  }

  // ---- runtime configuration ------------------------------------------------------------------

  #all(): [string, DynamicConfig][] {
    const list: [string, DynamicConfig][] = [...this.providers.entries()];
    if (this.opts.directory) list.push(['file', this.#file]);
    return list;
  }

  /** Recomputes statuses, errors, usedBy and server statuses from every provider's configuration. */
  rebuild(): void {
    const rt = new Map<string, RuntimeItem>();
    for (const [provider, cfg] of this.#all()) {
      for (const proto of ['http', 'tcp', 'udp'] as const) {
        for (const kind of ['routers', 'services', 'middlewares'] as const) {
          for (const [name, config] of Object.entries(cfg[proto]?.[kind] ?? {})) {
            const full = `${name}@${provider}`;
            const syntax = this.opts.defaultRuleSyntax;
            const withSyntax =
              kind === 'routers' && proto !== 'udp' && syntax && !config.ruleSyntax ? { ruleSyntax: syntax } : {};
            rt.set(`${proto}/${kind}/${full}`, {
              name: full,
              provider,
              config: { ...config, ...withSyntax },
              status: 'enabled',
              error: [],
              usedBy: [],
            });
          }
        }
      }
    }
    // the TLS options Traefik's tlsManager knows: "default" (pkg/tls/tlsmanager.go), and each provider's, qualified
    const tlsOptions = new Set(['default']);
    for (const [provider, cfg] of this.#all())
      for (const name of Object.keys(cfg.tls?.options ?? {})) tlsOptions.add(`${name}@${provider}`);
    const epNames = this.entryPoints.map((e) => e.name);
    const qualify = (name: string, provider: string) => (name.includes('@') ? name : `${name}@${provider}`);
    const addError = (item: RuntimeItem, msg: string, critical: boolean) => {
      if (item.error.includes(msg)) return;
      item.error.push(msg);
      if (critical) item.status = 'disabled';
      else if (item.status !== 'disabled') item.status = 'warning';
    };
    for (const [key, router] of rt) {
      const [proto, kind] = key.split('/') as [Proto, Kind];
      if (kind !== 'routers') continue;
      const eps = (router.config.entryPoints as string[] | undefined) ?? epNames;
      const using = eps.filter((e) => epNames.includes(e));
      for (const e of eps) if (!epNames.includes(e)) addError(router, `entryPoint "${e}" doesn't exist`, false);
      if (using.length === 0) {
        addError(router, 'no valid entryPoint for this router', true);
        continue;
      }
      router.using = using;
      const service = router.config.service as string | undefined;
      if (proto === 'http') {
        const rule = String(router.config.rule ?? '');
        // GetRulePriority is Go's len(rule), in bytes: a rule with "é" counts it twice (pkg/muxer/http/mux.go).
        if (!router.config.priority) router.priority = Buffer.byteLength(rule);
        if (!service) {
          addError(router, 'the service is missing on the router', true);
        } else {
          const svcName = qualify(service, router.provider);
          const svc = rt.get(`http/services/${svcName}`);
          if (!svc) addError(router, `the service "${svcName}" does not exist`, true);
          else svc.usedBy.push(router.name);
        }
        // pkg/server/router/router.go buildRouterHandler: TLS options Traefik does not have (named in the router's
        // provider unless "default") stop the handler before its middlewares are built: AddError(err, true), with
        // "building router handler: unknown TLS options: x@p" (pkg/tls/tlsmanager.go Get).
        const tlsName = (router.config.tls as Obj | undefined)?.options;
        if (
          typeof tlsName === 'string' &&
          tlsName !== '' &&
          !tlsOptions.has(tlsName === 'default' ? tlsName : qualify(tlsName, router.provider))
        ) {
          addError(router, `building router handler: unknown TLS options: ${qualify(tlsName, router.provider)}`, true);
          continue;
        }
        // pkg/server/middleware/middlewares.go BuildMiddlewareChain: a name that is not in the runtime
        // configuration fails the handler with `middleware "x" does not exist`, and pkg/server/router/router.go
        // disables the router with it. A chain's members are built the same way when the chain is (its
        // constructor, pkg/middlewares/chain/chain.go, qualified by the chain's provider), and a member's
        // failure is also AddError(err, true) on each enclosing chain; a chain met again inside itself is
        // a recursion error (pkg/server/recursion), not modelled here.
        const build = (names: string[], provider: string, within: RuntimeItem[]): string | undefined => {
          for (const m of names) {
            const mwName = qualify(m, provider);
            const mw = rt.get(`http/middlewares/${mwName}`);
            if (!mw) return `middleware "${mwName}" does not exist`;
            const members = (mw.config.chain as Obj | undefined)?.middlewares;
            if (!Array.isArray(members) || within.includes(mw)) continue;
            const failed = build(members.map(String), mw.provider, [...within, mw]);
            if (failed) {
              addError(mw, failed, true);
              return failed;
            }
          }
          return undefined;
        };
        // usedBy lists the routers naming a middleware directly (pkg/config/runtime/runtime.go PopulateUsedBy).
        for (const m of (router.config.middlewares as string[] | undefined) ?? []) {
          rt.get(`http/middlewares/${qualify(m, router.provider)}`)?.usedBy.push(router.name);
        }
        const mwError = build((router.config.middlewares as string[] | undefined) ?? [], router.provider, []);
        if (mwError) addError(router, mwError, true);
        const v2 = router.config.ruleSyntax === 'v2';
        const ruleError = checkRule(rule, v2);
        if (ruleError) addError(router, `error while parsing rule ${rule}: ${ruleError}`, true);
        else if (!v2) {
          const regexpError = checkHostAscii(rule, false) ?? checkRegexps(rule) ?? checkClientIps(rule, false);
          if (regexpError) addError(router, `error while adding rule ${rule}: ${regexpError}`, true);
        } else {
          // pkg/muxer/http/mux.go AddRoute ("error while parsing rule R: "), parser.go parse ("adding rule R: "),
          // matchersTree.addRule ("error while adding rule MATCHER: ").
          const buildError = checkHostAscii(rule, true) ?? checkV2Build(rule) ?? checkClientIps(rule, true);
          if (buildError)
            addError(router, `error while parsing rule ${rule}: adding rule ${rule}: ${buildError}`, true);
        }
      } else if (service) {
        const svc = rt.get(`${proto}/services/${qualify(service, router.provider)}`);
        if (!svc) {
          const label = proto === 'udp' ? 'UDP service' : 'service';
          addError(router, `the ${label} "${qualify(service, router.provider)}" does not exist`, true);
        } else svc.usedBy.push(router.name);
      }
    }
    this.#runtime = rt;
  }

  #items(proto: Proto, kind: Kind): RuntimeItem[] {
    const prefix = `${proto}/${kind}/`;
    return [...this.#runtime.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
  }

  #represent(proto: Proto, kind: Kind, item: RuntimeItem): Obj {
    const out: Obj = { ...item.config };
    if (kind === 'routers') {
      const priority = (item.config.priority as number | undefined) || item.priority || 0;
      if (priority) out.priority = priority;
      else delete out.priority;
      if (out.tls && typeof out.tls === 'object') {
        out.tls = { ...(out.tls as Obj) };
        if (!(out.tls as Obj).options && proto !== 'udp') (out.tls as Obj).options = 'default';
      } else if (out.tls !== undefined && proto === 'http') out.tls = { options: 'default' };
      if (item.error.length > 0) out.error = item.error;
      out.status = item.status;
      if (item.using) out.using = item.using;
      out.name = item.name;
      out.provider = item.provider;
      if (proto !== 'udp') out.priorityStr = String(priority);
      return out;
    }
    if (item.error.length > 0) out.error = item.error;
    out.status = item.status;
    if (item.usedBy.length > 0) out.usedBy = [...item.usedBy].sort();
    out.name = item.name;
    out.provider = item.provider;
    const type = Object.keys(item.config).find((k) => typeof item.config[k] === 'object' && item.config[k] !== null);
    if (type) out.type = type.toLowerCase();
    if (kind === 'services' && proto !== 'udp' && item.usedBy.length > 0) {
      const servers = ((item.config.loadBalancer as Obj | undefined)?.servers ?? []) as Obj[];
      const status: Record<string, string> = {};
      for (const s of servers) {
        const url = String(s.url ?? s.address ?? '');
        if (url) status[url] = this.serverHealth.get(url) ?? 'UP';
      }
      if (Object.keys(status).length > 0) out.serverStatus = status;
    }
    if (kind === 'services' && proto === 'http' && out.loadBalancer) {
      out.loadBalancer = { passHostHeader: true, ...(out.loadBalancer as Obj) };
    }
    return out;
  }

  // ---- HTTP API -------------------------------------------------------------------------------

  #handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://traefik');
    this.requests.push({
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    if (this.requests.length > 500) this.requests.shift();
    this.beforeAnswer?.(url);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = typeof body === 'string' ? body : `${jsonWithBigInts(body)}\n`;
      const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
      res.writeHead(status, { 'content-type': type, ...headers }).end(text);
    };
    // http.Error: the JSON message goes out as text/plain with a trailing newline.
    const error = (status: number, message: string) =>
      send(status, `${JSON.stringify({ message })}\n`, { 'x-content-type-options': 'nosniff' });
    if (this.fail) return send(this.fail.status, this.fail.text);
    const auth = this.opts.basicAuth;
    if (auth) {
      const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        return send(401, '401 Unauthorized\n', { 'www-authenticate': 'Basic realm="traefik"' });
      }
    }
    const path = url.pathname;
    const known =
      /^\/api\/(overview|rawdata|version|entrypoints(\/[^/]+)?|(http|tcp)\/(routers|services|middlewares)(\/[^/]+)?|udp\/(routers|services)(\/[^/]+)?)$/;
    if (!known.test(path)) return send(404, '404 page not found\n');
    if (req.method !== 'GET') return send(405, '');
    if (path === '/api/version') return send(200, { Version: '3.5.0', Codename: 'chabichou' });
    if (path === '/api/overview') return send(200, this.#overview());
    if (path === '/api/entrypoints') {
      const all = [...this.entryPoints].sort((a, b) => a.name.localeCompare(b.name)).map((e) => this.#ep(e));
      return this.#page(url, all, send, error);
    }
    const epMatch = /^\/api\/entrypoints\/([^/]+)$/.exec(path);
    if (epMatch) {
      const id = decodeURIComponent(epMatch[1] as string);
      const ep = this.entryPoints.find((e) => e.name === id);
      return ep ? send(200, this.#ep(ep)) : error(404, `entry point not found: ${id}`);
    }
    const m = /^\/api\/(http|tcp|udp)\/(routers|services|middlewares)(?:\/([^/]+))?$/.exec(path);
    if (!m) return send(404, '404 page not found\n');
    const [, proto, kind, rawId] = m as unknown as [string, Proto, Kind, string | undefined];
    if (rawId !== undefined) {
      let id: string;
      try {
        id = decodeURIComponent(rawId);
      } catch {
        return error(400, `unable to decode ${kind.slice(0, -1)}ID ${JSON.stringify(rawId)}`);
      }
      const item = this.#runtime.get(`${proto}/${kind}/${id}`);
      const noun = { routers: 'router', services: 'service', middlewares: 'middleware' }[kind];
      if (!item) return error(404, `${proto === 'udp' ? 'udp ' : ''}${noun} not found: ${id}`);
      return send(200, this.#represent(proto, kind, item));
    }
    const q = url.searchParams;
    const search = (q.get('search') ?? '').toLowerCase();
    const status = q.get('status') ?? '';
    const serviceName = q.get('serviceName') ?? '';
    const middlewareName = q.get('middlewareName') ?? '';
    const kept = this.#items(proto, kind).filter((item) => {
      if (status && item.status.toLowerCase() !== status.toLowerCase()) return false;
      const haystack = kind === 'routers' ? [String(item.config.rule ?? ''), item.name] : [item.name];
      if (search && !haystack.some((h) => h.toLowerCase().includes(search))) return false;
      if (kind === 'routers' && serviceName) {
        const svc = String(item.config.service ?? '');
        if (svc.includes('@') ? svc !== serviceName : serviceName.split('@')[0] !== svc) return false;
      }
      if (kind === 'routers' && middlewareName) {
        if (!((item.config.middlewares as string[] | undefined) ?? []).includes(middlewareName)) return false;
      }
      return true;
    });
    const reps = kept.map((item) => this.#represent(proto, kind, item));
    const sortBy = q.get('sortBy') ?? 'name';
    const dir = q.get('direction') === 'desc' ? -1 : 1;
    const keyOf = (r: Obj): string | number => {
      if (sortBy === 'priority') return Number(r.priority ?? 0);
      if (sortBy === 'status') return STATUS_ORDER.indexOf(r.status as 'enabled') + String(r.status);
      if (['provider', 'rule', 'service', 'type'].includes(sortBy)) return String(r[sortBy] ?? '');
      return String(r.name);
    };
    reps.sort((a, b) => {
      const ka = keyOf(a);
      const kb = keyOf(b);
      const c = ka < kb ? -1 : ka > kb ? 1 : String(a.name).localeCompare(String(b.name));
      return c * dir;
    });
    return this.#page(url, reps, send, error);
  }

  #page(
    url: URL,
    all: unknown[],
    send: (s: number, b: unknown, h?: Record<string, string>) => void,
    error: (s: number, m: string) => void,
  ) {
    const int = (key: string, def: number): number | string => {
      const raw = url.searchParams.get(key);
      if (raw === null || raw === '') return def;
      const v = /^[+-]?\d+$/.test(raw) ? Number(raw) : 0;
      return v > 0 ? v : `invalid request: ${key}: ${v}`;
    };
    const perPage = int('per_page', 100);
    if (typeof perPage === 'string') return error(400, perPage);
    const page = int('page', 1);
    if (typeof page === 'string') return error(400, page);
    const start = (page - 1) * perPage;
    if (start !== 0 && start >= all.length) return error(400, `invalid request: page: ${page}, per_page: ${perPage}`);
    const next = page * perPage < all.length ? page + 1 : 1;
    return send(200, all.slice(start, Math.min(start + perPage, all.length)), { 'x-next-page': String(next) });
  }

  #ep(e: EntryPoint): Obj {
    return {
      address: e.address,
      forwardedHeaders: {},
      // HTTPConfig.SetDefaults (pkg/config/static/entrypoints.go) runs for every entrypoint Traefik loads:
      // sanitizePath true, maxHeaderBytes http.DefaultMaxHeaderBytes, underscoreHeadersStrategy keep; the
      // handler's testdata/entrypoints.json shows `{}` only because its fixtures skip the defaults.
      http: {
        maxHeaderBytes: 1048576,
        sanitizePath: true,
        underscoreHeadersStrategy: 'keep',
        ...e.http,
        ...encodedCharactersOf(e.http),
      },
      name: e.name,
      transport: {
        lifeCycle: { graceTimeOut: '10s' },
        respondingTimeouts: { idleTimeout: '3m0s', readTimeout: '1m0s' },
      },
    };
  }

  #overview(): Obj {
    const section = (proto: Proto, kind: Kind) => {
      const items = this.#items(proto, kind);
      return {
        errors: items.filter((i) => i.status === 'disabled').length,
        total: items.length,
        warnings: items.filter((i) => i.status === 'warning').length,
      };
    };
    const providers = this.#all().map(([p]) => PROVIDER_FIELDS[p] ?? p);
    return {
      features: { accessLog: false, metrics: '', tracing: '' },
      http: {
        middlewares: section('http', 'middlewares'),
        routers: section('http', 'routers'),
        services: section('http', 'services'),
      },
      ...(providers.length > 0 ? { providers } : {}),
      tcp: {
        middlewares: section('tcp', 'middlewares'),
        routers: section('tcp', 'routers'),
        services: section('tcp', 'services'),
      },
      udp: { routers: section('udp', 'routers'), services: section('udp', 'services') },
    };
  }
}

// Traefik's v3 HTTP matchers (pkg/muxer/http/matcher.go httpFuncs), accepted as written, lower, UPPER or Title
// case (pkg/rules/parser.go NewParser).
const HTTP_FUNCS = [
  'ClientIP',
  'Method',
  'Host',
  'HostRegexp',
  'Path',
  'PathRegexp',
  'PathPrefix',
  'Header',
  'HeaderRegexp',
  'Query',
  'QueryRegexp',
];
// The v2 matchers a router with `ruleSyntax: v2` may use (pkg/muxer/http/matcher_v2.go httpFuncsV2; pkg/muxer/http/
// parser.go picks the v2 parser for that syntax, v3 for any other), each taking any number of arguments.
const HTTP_FUNCS_V2 = [
  'Host',
  'HostHeader',
  'HostRegexp',
  'ClientIP',
  'Path',
  'PathPrefix',
  'Method',
  'Headers',
  'HeadersRegexp',
  'Query',
];
const formsOf = (names: string[]) =>
  new Set(names.flatMap((n) => [n, n.toLowerCase(), n.toUpperCase(), n[0] + n.slice(1).toLowerCase()]));
const FUNC_FORMS = formsOf(HTTP_FUNCS);
const FUNC_FORMS_V2 = formsOf(HTTP_FUNCS_V2);

/**
 * A coarse, independent check of a v3 (or v2) rule (the simulator must not borrow the client's parser):
 * known function names, quoted arguments, balanced parentheses. Messages follow vulcand/predicate
 * ("unsupported function: X") and go/parser ("1:COL: expected ...").
 */
/**
 * JSON as Go's encoding/json writes it, int64 included: a priority given as a bigint (Traefik's internal routers
 * use math.MaxInt, MaxInt-1, MaxInt-2: pkg/provider/traefik/internal.go) is written with all its digits, as
 * Go writes `priority` (and `priorityStr`, pkg/api/handler_http.go strconv.FormatInt).
 */
function jsonWithBigInts(body: unknown): string {
  return JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? `\u0000bigint:${v}` : v)).replace(
    /"\\u0000bigint:(-?\d+)"/g,
    '$1',
  );
}

function checkRule(rule: string, v2 = false): string | undefined {
  const forms = v2 ? FUNC_FORMS_V2 : FUNC_FORMS;
  if (rule.trim() === '') return 'empty rule';
  let depth = 0;
  let i = 0;
  while (i < rule.length) {
    const ch = rule[i] as string;
    if (ch === '`' || ch === '"') {
      const end = rule.indexOf(ch, i + 1);
      if (end < 0) return `1:${i + 1}: string literal not terminated`;
      i = end + 1;
    } else if (/[A-Za-z_]/.test(ch)) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rule.slice(i))?.[0] as string;
      if (!forms.has(name)) return `unsupported function: ${name}`;
      i += name.length;
      if (rule[i] !== '(') return `1:${i + 1}: expected '('`;
    } else if (ch === '(') {
      depth++;
      i++;
    } else if (ch === ')') {
      if (--depth < 0) return `1:${i + 1}: expected expression`;
      i++;
    } else i++;
  }
  return depth === 0 ? undefined : `1:${rule.length + 1}: expected ')', found 'EOF'`;
}

const REGEXP_FUNCS = new Map(
  ['HostRegexp', 'PathRegexp', 'HeaderRegexp', 'QueryRegexp'].flatMap((n) =>
    [n, n.toLowerCase(), n.toUpperCase(), n[0] + n.slice(1).toLowerCase()].map((f) => [f, n] as const),
  ),
);

const HOST_FUNCS = new Map(
  ['Host', 'HostRegexp'].flatMap((n) =>
    [n, n.toLowerCase(), n.toUpperCase(), n[0] + n.slice(1).toLowerCase()].map((f) => [f, n] as const),
  ),
);

const V2_FUNCS = new Map(
  HTTP_FUNCS_V2.flatMap((n) =>
    [n, n.toLowerCase(), n.toUpperCase(), n[0] + n.slice(1).toLowerCase()].map((f) => [f, n] as const),
  ),
);

/** Go's %q for the ASCII strings met here, and %v of a []string. */
const goQuote = (s: string) => JSON.stringify(s);
const goList = (a: string[]) => `[${a.join(' ')}]`;

/**
 * A gorilla mux template's build error (github.com/containous/mux regexp.go newRouteRegexp, the fork Traefik's
 * go.mod uses): braceIndices' "mux: unbalanced braces in %q", "mux: missing name or pattern in %q" for `{}`,
 * `{:x}` or `{x:}`, then Go's regexp error for a variable pattern that does not compile as `^pattern$`.
 */
function templateError(tpl: string): string | undefined {
  let level = 0;
  let start = 0;
  const spans: [number, number][] = [];
  for (let i = 0; i < tpl.length; i++) {
    if (tpl[i] === '{' && ++level === 1) start = i;
    else if (tpl[i] === '}') {
      level--;
      if (level === 0) spans.push([start, i + 1]);
      else if (level < 0) return `mux: unbalanced braces in ${goQuote(tpl)}`;
    }
  }
  if (level !== 0) return `mux: unbalanced braces in ${goQuote(tpl)}`;
  for (const [a, b] of spans) {
    const inner = tpl.slice(a + 1, b - 1);
    const colon = inner.indexOf(':');
    if (colon === 0 || (colon > 0 && colon === inner.length - 1) || inner === '')
      return `mux: missing name or pattern in ${goQuote(tpl.slice(a, b))}`;
    if (colon < 0) continue;
    try {
      RE2JS.compile(`^${inner.slice(colon + 1)}$`);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

/**
 * The first v2 matcher that fails to build (pkg/muxer/http/matcher_v2.go): a Path/PathPrefix not starting with
 * "/" (mux addRegexpMatcher "mux: path must start with a slash, got %q"), a bad template (HostRegexp, Path,
 * PathPrefix, Query), an odd count of Headers/HeadersRegexp pairs or Query parts (each argument split once on
 * "=", mux checkPairs / Queries: "mux: number of parameters must be multiple of 2, got %v"), a HeadersRegexp
 * value Go's regexp refuses. CheckRule's empty-argument errors and ClientIP are not modelled here.
 */
function checkV2Build(rule: string): string | undefined {
  const call = /\b([A-Za-z]+)\s*\(/g;
  for (let m = call.exec(rule); m; m = call.exec(rule)) {
    const name = V2_FUNCS.get(m[1] as string);
    if (!name) continue;
    const args: string[] = [];
    const arg = /\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")\s*([,)])/y;
    arg.lastIndex = call.lastIndex;
    for (let a = arg.exec(rule); a; a = a[3] === ',' ? arg.exec(rule) : null) args.push(a[1] ?? a[2] ?? '');
    const failed = (err: string) => `error while adding rule ${name}: ${err}`;
    if (name === 'Path' || name === 'PathPrefix' || name === 'HostRegexp') {
      for (const t of args) {
        if (name !== 'HostRegexp' && !t.startsWith('/'))
          return failed(`mux: path must start with a slash, got ${goQuote(t)}`);
        const err = templateError(t);
        if (err) return failed(err);
      }
    } else if (name === 'Headers' || name === 'HeadersRegexp') {
      if (args.length % 2 !== 0) return failed(`mux: number of parameters must be multiple of 2, got ${goList(args)}`);
      for (let i = 1; name === 'HeadersRegexp' && i < args.length; i += 2) {
        try {
          RE2JS.compile(args[i] as string);
        } catch (err) {
          return failed((err as Error).message);
        }
      }
    } else if (name === 'Query') {
      const parts = args.flatMap((a) =>
        a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a],
      );
      if (parts.length % 2 !== 0)
        return failed(`mux: number of parameters must be multiple of 2, got ${goList(parts)}`);
      for (let i = 0; i < parts.length; i += 2) {
        const err = templateError(`${parts[i]}=${parts[i + 1]}`);
        if (err) return failed(err);
      }
    }
  }
  return undefined;
}

/**
 * The first host matcher with a non-ASCII value (IsASCII: every byte below utf8.RuneSelf), as Traefik refuses it:
 * v3 host / hostRegexp check their one argument (pkg/muxer/http/matcher.go: `invalid value %q for Host matcher,
 * non-ASCII characters are not allowed`), v2 hostV2 / hostRegexpV2 each argument (matcher_v2.go: `for "Host"
 * matcher` with the quotes, `for HostRegexp matcher` without), wrapped by matchersTree.addRule.
 */
function checkHostAscii(rule: string, v2: boolean): string | undefined {
  const call = /\b([A-Za-z]+)\s*\(/g;
  for (let m = call.exec(rule); m; m = call.exec(rule)) {
    const name = (v2 ? V2_FUNCS : HOST_FUNCS).get(m[1] as string);
    if (name !== 'Host' && name !== 'HostHeader' && name !== 'HostRegexp') continue;
    const args: string[] = [];
    const arg = /\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")\s*([,)])/y;
    arg.lastIndex = call.lastIndex;
    for (let a = arg.exec(rule); a; a = a[3] === ',' ? arg.exec(rule) : null) args.push(a[1] ?? a[2] ?? '');
    const bad = (v2 ? args : args.slice(0, 1)).find((h) => [...h].some((c) => c.charCodeAt(0) > 127));
    if (bad === undefined) continue;
    const label = v2 && name !== 'HostRegexp' ? '"Host"' : name;
    return `error while adding rule ${name}: invalid value ${goQuote(bad)} for ${label} matcher, non-ASCII characters are not allowed`;
  }
  return undefined;
}

/**
 * Go's net.ParseIP (net/ip.go parseIP: netip.ParseAddr, refused with a zone) and net.ParseCIDR (the same address
 * check, then a decimal prefix length within the address's bits). Node's isIP stands for netip.ParseAddr here; it
 * accepts a zone, which Go's net refuses, hence the `%` check.
 */
const goParseIP = (s: string) => !s.includes('%') && isIP(s) !== 0;
function goParseCIDR(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const addr = s.slice(0, slash);
  const mask = s.slice(slash + 1);
  if (!goParseIP(addr) || !/^\d{1,3}$/.test(mask)) return false;
  return Number(mask) <= (isIP(addr) === 4 ? 32 : 128);
}

/**
 * The first ClientIP matcher whose arguments pkg/ip/checker.go NewChecker refuses: each is tried with net.ParseIP,
 * then net.ParseCIDR, whose error is returned with the (nil) network formatted by %s: "parsing CIDR trusted IPs
 * <nil>: invalid CIDR address: X" (Go's ParseError "invalid " + Type + ": " + Text). pkg/muxer/http/matcher.go
 * clientIP wraps it as "initializing IP checker for ClientIP matcher: %w", matcher_v2.go clientIPV2 as "could not
 * initialize IP Checker for \"ClientIP\" matcher: %w"; matchersTree.addRule adds "error while adding rule ClientIP: ".
 * v3 ClientIP takes one argument, v2 any number.
 */
function checkClientIps(rule: string, v2: boolean): string | undefined {
  const call = /\b([A-Za-z]+)\s*\(/g;
  for (let m = call.exec(rule); m; m = call.exec(rule)) {
    if ((v2 ? V2_FUNCS : CLIENT_IP_FUNCS).get(m[1] as string) !== 'ClientIP') continue;
    const args: string[] = [];
    const arg = /\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")\s*([,)])/y;
    arg.lastIndex = call.lastIndex;
    for (let a = arg.exec(rule); a; a = a[3] === ',' ? arg.exec(rule) : null) args.push(a[1] ?? a[2] ?? '');
    const bad = (v2 ? args : args.slice(0, 1)).find((ip) => !goParseIP(ip) && !goParseCIDR(ip));
    if (bad === undefined) continue;
    const cause = `parsing CIDR trusted IPs <nil>: invalid CIDR address: ${bad}`;
    return v2
      ? `error while adding rule ClientIP: could not initialize IP Checker for "ClientIP" matcher: ${cause}`
      : `error while adding rule ClientIP: initializing IP checker for ClientIP matcher: ${cause}`;
  }
  return undefined;
}

const CLIENT_IP_FUNCS = new Map(['ClientIP', 'clientip', 'CLIENTIP', 'Clientip'].map((f) => [f, 'ClientIP'] as const));

/**
 * The first *Regexp matcher whose pattern Go's regexp refuses, as matchersTree.addRule reports it. Arguments
 * are read as raw (backquoted) or simple double-quoted strings; the pattern is the last argument.
 */
function checkRegexps(rule: string): string | undefined {
  const call = /\b([A-Za-z]+Regexp)\s*\(/g;
  for (let m = call.exec(rule); m; m = call.exec(rule)) {
    const name = REGEXP_FUNCS.get(m[1] as string);
    if (!name) continue;
    const args: string[] = [];
    const arg = /\s*(?:`([^`]*)`|"((?:[^"\\]|\\.)*)")\s*([,)])/y;
    arg.lastIndex = call.lastIndex;
    for (let a = arg.exec(rule); a; a = a[3] === ',' ? arg.exec(rule) : null) args.push(a[1] ?? a[2] ?? '');
    const pattern = args.at(-1);
    if (pattern === undefined || (name === 'QueryRegexp' && args.length < 2)) continue;
    try {
      RE2JS.compile(pattern);
    } catch (err) {
      return `error while adding rule ${name}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/**
 * `http.encodedCharacters` as the API shows a configured one (v3.6.3+): EncodedCharacters.SetDefaults
 * (pkg/config/static/entrypoints.go, every option true since v3.6.7) under what the static configuration sets,
 * then Go's omitempty, which drops every option that is false. Not configured: not shown.
 */
function encodedCharactersOf(http: Obj | undefined): Obj {
  const set = http?.encodedCharacters as Record<string, boolean> | undefined;
  if (!set) return {};
  const options = ['Slash', 'BackSlash', 'NullCharacter', 'Semicolon', 'Percent', 'QuestionMark', 'Hash'];
  const all: Record<string, boolean> = Object.fromEntries(options.map((o) => [`allowEncoded${o}`, true]));
  Object.assign(all, set);
  return { encodedCharacters: Object.fromEntries(Object.entries(all).filter(([, v]) => v)) };
}

/**
 * Go's strconv.Unquote for a template string literal: "..." with Go's escapes, or `...` raw
 * (text/template/parse lexQuote / lexRawQuote; the parser unquotes with strconv.Unquote).
 */
function goUnquote(lit: string): string {
  if (lit.startsWith('`')) return lit.slice(1, -1);
  const body = lit.slice(1, -1);
  return body.replace(/\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|[0-7]{3}|.)/g, (_m, e: string) => {
    if (/^[xuU]/.test(e)) return String.fromCodePoint(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]{3}$/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    // Go's one-letter escapes, as the letters of `abfnrtv\"` stand for BEL, BS, FF, LF, CR, TAB, VT, \ and "
    const at = 'abfnrtv\\"'.indexOf(e);
    const c = at < 0 ? undefined : '\x07\b\f\n\r\t\v\\"'[at];
    if (c === undefined) throw new Error(`template: :1: unknown escape sequence \\${e}`);
    return c;
  });
}

/**
 * The file provider's Go template pass (text/template + sprig, data `false`), for the actions tests use:
 * `{{ "literal" }}`, `{{ `raw` }}`, `{{ env "NAME" }}` (sprig's env: os.Getenv, the simulator's own process
 * standing for Traefik's), `{{ . }}` (prints false), comments (`{{/*`, then `*` `/}}`), and the `{{-` / `-}}` trim markers
 * (text/template/parse lex.go: they trim the adjacent white space). Any other action throws, as a template the
 * simulator cannot run must not load as if it were plain text.
 */
export function renderGoTemplate(text: string): string {
  if (!text.includes('{{')) return text;
  let out = '';
  let i = 0;
  const str = '"(?:[^"\\\\\\n]|\\\\.)*"|`[^`]*`';
  const action = new RegExp(`^\\{\\{(- )?\\s*(/\\*[\\s\\S]*?\\*/|${str}|env\\s+(?:${str})|\\.)\\s*( -)?\\}\\}`);
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, open);
    const m = action.exec(text.slice(open));
    if (!m) {
      const line = text.slice(0, open).split('\n').length;
      throw new Error(`template: :${line}: action not modelled by the simulator: ${text.slice(open, open + 40)}`);
    }
    if (m[1]) out = out.trimEnd();
    const body = m[2] as string;
    if (body === '.') out += 'false';
    else if (body.startsWith('env')) out += process.env[goUnquote(body.slice(3).trim())] ?? '';
    else if (!body.startsWith('/*')) out += goUnquote(body);
    i = open + m[0].length;
    if (m[3]) while (i < text.length && /\s/.test(text[i] as string)) i++;
  }
  return out;
}

/**
 * How yaml.v3 (resolve.go) reads a plain scalar that YAML 1.2's core schema reads as a string: a timestamp
 * (four digits and "-", then Go's time layouts such as "2006-1-2"), or, with every "_" removed, an int as Go's
 * strconv.ParseInt(s, 0, 64) reads it (0x, 0o, 0b, a leading 0 for octal) or a float; else undefined (a string).
 */
function yamlV3Plain(text: string): { kind: 'int' | 'float64'; value: number } | { kind: 'time.Time' } | undefined {
  if (/^\d{4}-\d{1,2}-\d{1,2}(?:[Tt ].*)?$/.test(text)) return { kind: 'time.Time' };
  const plain = text.replaceAll('_', '');
  const int = /^([-+]?)(?:0[xX]([0-9a-fA-F]+)|0[oO]?([0-7]+)|0[bB]([01]+)|([1-9][0-9]*|0))$/.exec(plain);
  if (int) {
    const [, sign, hex, oct, bin, dec] = int;
    const n = hex
      ? Number.parseInt(hex, 16)
      : oct
        ? Number.parseInt(oct, 8)
        : bin
          ? Number.parseInt(bin, 2)
          : Number(dec);
    return { kind: 'int', value: sign === '-' ? -n : n };
  }
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(plain))
    return { kind: 'float64', value: Number(plain) };
  return undefined;
}

/** paerser getSimpleValue: an int in decimal, a float as strconv.FormatFloat(f, 'f', 6, 64) without ".000000". */
const goSimple = (v: { kind: 'int' | 'float64'; value: number }) =>
  v.kind === 'int' ? String(v.value) : v.value.toFixed(6).replace(/\.000000$/, '');

/**
 * A file's YAML as Traefik's file provider gets it: paerser's DecodeContent unmarshals with gopkg.in/yaml.v3 into
 * map[string]interface{} and turns each key into a node name with reflect's Value.String(), which for a key that
 * is not a string is "<int Value>" (or "<float64 Value>", "<time.Time Value>"); an int or float value becomes its
 * decimal text (getSimpleValue), and a timestamp value is refused ("field X uses unsupported type: struct"), which
 * fails the whole directory. Only plain scalars that YAML 1.2 would read as strings are concerned here.
 */
function decodeAsTraefik(text: string): unknown {
  // yaml.v3 stops at its first syntax error (parserc.go: yaml_parser_set_parser_error ends the parse); the yaml
  // library composes on and builds an Error for each, which takes seconds on a 256 KiB file of stray "]"
  for (const token of new Parser().parse(text)) {
    if (token.type === 'error') throw new Error(`yaml: ${token.message}`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw doc.errors[0];
  visit(doc, {
    Pair(_k, pair) {
      const { key, value } = pair;
      if (isScalar(key) && key.type === 'PLAIN' && typeof key.value === 'string') {
        const v3 = yamlV3Plain(key.value);
        if (v3) key.value = `<${v3.kind} Value>`;
      }
      if (isScalar(value) && value.type === 'PLAIN' && typeof value.value === 'string') {
        const v3 = yamlV3Plain(value.value);
        if (v3?.kind === 'time.Time')
          throw new Error(`field ${String(isScalar(key) ? key.value : key)} uses unsupported type: struct`);
        if (v3) value.value = goSimple(v3);
      }
    },
    Seq(_k, seq) {
      for (const item of seq.items) {
        if (!isScalar(item) || item.type !== 'PLAIN' || typeof item.value !== 'string') continue;
        const v3 = yamlV3Plain(item.value);
        if (v3?.kind === 'time.Time') throw new Error('unsupported simple value type: struct');
        if (v3) item.value = goSimple(v3);
      }
    },
  });
  return doc.toJS({ maxAliasCount: 100 });
}

/**
 * A TOML file as Traefik's file provider decodes it: paerser file.DecodeContent (github.com/traefik/paerser
 * file/file.go) runs github.com/BurntSushi/toml's Decode into a map[string]interface{} for ".toml", then the same
 * raw-node pass as YAML. This is the subset of TOML v1.0.0 (https://toml.io/en/v1.0.0) a dynamic configuration
 * uses: comments, bare/quoted/dotted keys, [tables] and [[arrays of tables]], basic and literal strings (one line
 * and multi-line), integers (decimal with "_", 0x/0o/0b), floats, booleans, arrays and inline tables. A key or
 * table defined twice, a table header over a value, and anything else the subset does not read are errors, which
 * fail the directory as BurntSushi's do; their messages start "toml: line N" as BurntSushi's (parse.go) do. A
 * date-time decodes to time.Time, which paerser refuses ("unsupported type: struct", file/raw_node.go).
 */
export function parseToml(text: string): Obj {
  const root: Obj = {};
  const explicit = new WeakSet<object>(); // tables opened by a [header] (one header per table)
  const frozen = new WeakSet<object>(); // inline tables and arrays given as values: closed to later keys
  const tableArrays = new WeakSet<object>(); // arrays made by [[header]]
  let i = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new Error(`toml: line ${line}: ${msg}`);
  };
  const skipWs = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  const skipComment = () => {
    if (text[i] === '#') while (i < text.length && text[i] !== '\n') i++;
  };
  const newline = () => {
    if (text[i] === '\n') i++;
    else if (text.startsWith('\r\n', i)) i += 2;
    else return false;
    line++;
    return true;
  };
  const skipBlank = () => {
    for (;;) {
      skipWs();
      skipComment();
      if (!newline()) return;
    }
  };
  const endOfLine = () => {
    skipWs();
    skipComment();
    if (i < text.length && !newline())
      fail(`expected a newline or comment after a value, found ${JSON.stringify(text[i])}`);
  };
  const escapeSeq = (): string => {
    const e = text[i++];
    const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
    if (e !== undefined && simple[e] !== undefined) return simple[e] as string;
    const width = e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const hex = text.slice(i, i + width);
    if (width === 0 || !/^[0-9A-Fa-f]+$/.test(hex) || hex.length !== width) return fail(`invalid escape \\${e ?? ''}`);
    i += width;
    return String.fromCodePoint(Number.parseInt(hex, 16));
  };
  const string = (): string => {
    const quote = text[i] as '"' | "'";
    const multi = text.startsWith(quote.repeat(3), i);
    i += multi ? 3 : 1;
    if (multi) newline(); // a newline right after the opening delimiter is trimmed
    let out = '';
    for (;;) {
      if (i >= text.length) return fail('unterminated string');
      if (multi && text.startsWith(quote.repeat(3), i)) {
        i += 3;
        return out;
      }
      const c = text[i] as string;
      if (!multi && c === quote) {
        i++;
        return out;
      }
      if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
        if (!multi) return fail('strings cannot contain newlines');
        out += '\n';
        newline();
        continue;
      }
      i++;
      if (c === '\\' && quote === '"') {
        if (multi && /^[ \t]*\r?\n/.test(text.slice(i))) {
          // a line-ending backslash trims the newline and the white space after it
          skipBlank();
          continue;
        }
        out += escapeSeq();
      } else out += c;
    }
  };
  const key = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipWs();
      if (text[i] === '"' || text[i] === "'") {
        if (text.startsWith(text[i]?.repeat(3) ?? '', i)) fail('multi-line strings are not allowed as keys');
        parts.push(string());
      } else {
        const bare = /^[A-Za-z0-9_-]+/.exec(text.slice(i))?.[0];
        if (!bare) return fail(`expected a key, found ${JSON.stringify(text[i] ?? 'EOF')}`);
        parts.push(bare);
        i += bare.length;
      }
      skipWs();
      if (text[i] !== '.') return parts;
      i++;
    }
  };
  /** The table `parts` names under `from`, made on the way (an array of tables gives its last table). */
  const descend = (from: Obj, parts: string[]): Obj => {
    let t = from;
    for (const p of parts) {
      let next = t[p];
      if (next === undefined) {
        next = {};
        t[p] = next;
      } else if (Array.isArray(next) && tableArrays.has(next)) next = next.at(-1);
      if (typeof next !== 'object' || next === null || Array.isArray(next) || frozen.has(next))
        return fail(`key ${JSON.stringify(p)} has already been defined as a value`);
      t = next as Obj;
    }
    return t;
  };
  const assign = (table: Obj, parts: string[], v: unknown) => {
    const owner = descend(table, parts.slice(0, -1));
    const last = parts.at(-1) as string;
    if (last in owner) fail(`Key '${parts.join('.')}' has already been defined.`);
    owner[last] = v;
  };
  const value = (): unknown => {
    const c = text[i];
    if (c === '"' || c === "'") return string();
    if (c === '[') {
      i++;
      const items: unknown[] = [];
      for (;;) {
        skipBlank();
        if (text[i] === ']') break;
        items.push(value());
        skipBlank();
        if (text[i] === ',') i++;
        else if (text[i] !== ']')
          fail(`expected a comma or ']' in an array, found ${JSON.stringify(text[i] ?? 'EOF')}`);
      }
      i++;
      frozen.add(items);
      return items;
    }
    if (c === '{') {
      i++;
      const t: Obj = {};
      skipWs();
      if (text[i] === '}') i++;
      else {
        for (;;) {
          const k = key();
          if (text[i++] !== '=') fail('expected "=" after a key in an inline table');
          skipWs();
          assign(t, k, value());
          skipWs();
          const sep = text[i++];
          if (sep === '}') break;
          if (sep !== ',') fail(`expected a comma or '}' in an inline table, found ${JSON.stringify(sep ?? 'EOF')}`);
          skipWs();
        }
      }
      frozen.add(t);
      return t;
    }
    const raw = /^[^\s,\]}#]+/.exec(text.slice(i))?.[0] ?? '';
    i += raw.length;
    if (raw === 'true' || raw === 'false') return raw === 'true';
    if (/^\d{4}-\d{2}-\d{2}|^\d{2}:\d{2}:\d{2}/.test(raw)) return fail('unsupported type: struct (a date-time)');
    const int =
      /^([+-]?)(?:0x([0-9A-Fa-f](?:_?[0-9A-Fa-f])*)|0o([0-7](?:_?[0-7])*)|0b([01](?:_?[01])*)|(0|[1-9](?:_?\d)*))$/.exec(
        raw,
      );
    if (int) {
      const [, sign, hex, oct, bin, dec] = int;
      if (sign && !dec) fail(`invalid integer ${raw}`);
      const digits = (hex ?? oct ?? bin ?? dec ?? '').replaceAll('_', '');
      const n = Number.parseInt(digits, hex ? 16 : oct ? 8 : bin ? 2 : 10);
      return sign === '-' ? -n : n;
    }
    if (/^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d(_?\d)*)?$/.test(raw)) return Number(raw.replaceAll('_', ''));
    if (/^[+-]?(inf|nan)$/.test(raw))
      return raw.endsWith('inf') ? (raw[0] === '-' ? -1 : 1) * Number.POSITIVE_INFINITY : Number.NaN;
    return fail(`expected a value, found ${JSON.stringify(raw || text[i] || 'EOF')}`);
  };

  let current = root;
  for (;;) {
    skipBlank();
    if (i >= text.length) return root;
    if (text[i] === '[') {
      const array = text[i + 1] === '[';
      i += array ? 2 : 1;
      const parts = key();
      if (text[i] !== ']' || (array && text[i + 1] !== ']'))
        fail(`expected '${array ? ']]' : ']'}' after a table name`);
      i += array ? 2 : 1;
      const parent = descend(root, parts.slice(0, -1));
      const last = parts.at(-1) as string;
      const existing = parent[last];
      if (array) {
        if (existing === undefined) {
          const list: Obj[] = [];
          tableArrays.add(list);
          parent[last] = list;
        } else if (!Array.isArray(existing) || !tableArrays.has(existing))
          fail(`Key '${parts.join('.')}' has already been defined.`);
        current = {};
        (parent[last] as Obj[]).push(current);
      } else {
        if (existing !== undefined && (typeof existing !== 'object' || existing === null || Array.isArray(existing)))
          fail(`Key '${parts.join('.')}' has already been defined.`);
        current = descend(parent, [last]);
        if (explicit.has(current)) fail(`Key '${parts.join('.')}' has already been defined.`);
        explicit.add(current);
      }
      endOfLine();
      continue;
    }
    const k = key();
    if (text[i++] !== '=') fail(`expected "=" after the key ${JSON.stringify(k.join('.'))}`);
    skipWs();
    assign(current, k, value());
    endOfLine();
  }
}
