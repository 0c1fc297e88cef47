/**
 * The GitLab server as an adversary, an unlucky operator and a proxy in front of GitLab would try it: secret
 * arguments echoed back by whatever answers the request, redirects to another address, and a GITLAB_URL that
 * carries a token in its query. Through the real gitbeaker client against loopback stand-ins for what sits in
 * front of GitLab (and the simulator where GitLab itself answers).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RavenhelmError } from '@ravenhelm/kit';
import { gitlabServer } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../simulators/gitlab.js';
import { type Listening, listen } from '../simulators/http.js';
import { backendFor, call, callError, simulatorFor } from './harness.js';

/** What a caller and a log would hold of a failed call: its message and details. */
const seen = (err: RavenhelmError) => JSON.stringify([err.message, err.details]);

describe('a proxy (a WAF, a debug page) that echoes the request body in its error page', () => {
  let echo: Listening;
  let asciiJson = false;
  beforeAll(async () => {
    echo = await listen((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (req.url?.includes('/hooks')) {
          res.writeHead(422, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ message: `request rejected by rule 942100: ${body}` }));
          return;
        }
        if (asciiJson) {
          // JSON as Python's json.dumps writes it: every non-ASCII character escaped (\u00fc)
          const ascii = JSON.stringify({ message: `Request blocked. Body: ${body}` }).replace(
            /[\u007f-\uffff]/g,
            (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
          );
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(ascii);
          return;
        }
        res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(`Request blocked. Body: ${body}`);
      });
    });
  });
  afterAll(() => echo.close());

  const services = () => ({ gitlab: backendFor(echo.url, { timeoutMs: 2000, maxRetries: 0 }) });

  it('variables_set: the new value never reaches the error the caller (and the log) reads', async () => {
    for (const [value, ascii] of [
      ['s3cr3t-Variable-Value-77', false],
      ['quote"and\\backslash value', false],
      ['ü-nicode sécret valeur', false],
      ['ü-nicode sécret valeur', true],
    ] as const) {
      asciiJson = ascii;
      const err = await callError(
        'variables_set',
        { project: 'platform/api', key: 'DEPLOY_KEY', value, masked: false },
        services(),
      );
      expect(err.code).toBe('ERR_INVALID_INPUT');
      // before: "GitLab rejected the request for variable DEPLOY_KEY ... (GitLab said: Blocked request body: ...value...)"
      expect(err.message).toMatch(/GitLab said: Request blocked\. Body: /);
      for (const form of [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)])
        expect(seen(err), value).not.toContain(form);
    }
  });

  it('hooks_create: neither the receiver URL nor the secret token reaches the error', async () => {
    const url = 'https://hooks.example.com/services/T0001/B0002/Zx8kQw2mNp4rTy6uVb1c';
    const token = 'hook-secret-token-5521';
    const err = await callError(
      'hooks_create',
      { project: 'platform/api', url, events: ['pipeline'], token },
      services(),
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/GitLab said: request rejected by rule 942100/);
    expect(seen(err)).not.toContain(token);
    expect(seen(err)).not.toContain('Zx8kQw2mNp4rTy6uVb1c');
  });
});

describe('a redirect to another address (GITLAB_URL on http while GitLab forces https, or a moved host)', () => {
  let front: Listening;
  const paths: string[] = [];
  beforeAll(async () => {
    front = await listen((req: IncomingMessage, res: ServerResponse) => {
      paths.push(req.url ?? '');
      const [host] = (req.headers.host ?? '').split(':');
      res.writeHead(301, { location: `https://${host}${req.url}`, 'content-type': 'text/html' });
      res.end('<html><body>Moved Permanently</body></html>');
    });
  });
  afterAll(() => front.close());

  it('is reported as the address GitLab answers at, not as a project that moved; nothing follows it', async () => {
    const services = { gitlab: backendFor(front.url, { timeoutMs: 2000, maxRetries: 0 }) };
    for (const [name, args] of [
      ['projects_get', { project: 'platform/api' }],
      ['projects_list', {}],
      ['pipelines_list', { project: 'platform/api' }],
    ] as const) {
      const err = await callError(name, args, services);
      // before: "... has moved: GitLab redirects its old path (HTTP 301) ...; find the new path with projects_list",
      // the same for every project and for the project list itself
      expect(err.message, name).not.toMatch(/find the new path/);
      expect(err.message, name).toMatch(/redirect(s|ed) .*to https:\/\/127\.0\.0\.1/);
      expect(err.message, name).toMatch(/GITLAB_URL/);
      expect(err.code, name).toBe('ERR_BACKEND_ERROR');
    }
    expect(paths.every((p) => p.startsWith('/api/v4/'))).toBe(true);
  });
});

describe('an operator who puts the token into the query of GITLAB_URL', () => {
  it('is stopped at start with a message naming the setting, never the token', () => {
    for (const url of [
      'http://127.0.0.1:8929/?private_token=glpat-QueryToken-0042',
      'http://127.0.0.1:8929/gitlab#glpat-QueryToken-0042',
    ]) {
      let message = '';
      try {
        loadConfig({
          backendSchema: gitlabServer.backendConfig,
          backendEnv: gitlabServer.backendEnv,
          env: { GITLAB_URL: url, GITLAB_TOKEN: 'glpat-x' },
        });
      } catch (err) {
        message = (err as Error).message;
      }
      // before: accepted, and every unreachable or timed-out call named "GitLab at <url with the token>"
      expect(message, url).toMatch(/url.*query or fragment/i);
      expect(message, url).not.toContain('QueryToken');
    }
    // a relative root (GitLab under /gitlab) is still fine
    expect(() =>
      loadConfig({
        backendSchema: gitlabServer.backendConfig,
        backendEnv: gitlabServer.backendEnv,
        env: { GITLAB_URL: 'http://127.0.0.1:8929/gitlab/', GITLAB_TOKEN: 'glpat-x' },
      }),
    ).not.toThrow();
  });
});

describe('an operator whose token file holds something else than one token', () => {
  const fx = simulatorFor();
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gitlab-token-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is told what is wrong with the file, and nothing is sent to GitLab with it', async () => {
    const file = join(dir, 'token');
    for (const [content, why] of [
      ['glpat-FirstLine-0001\nglpat-SecondLine-0002\n', /holds more than one line/],
      ['\n', /is empty/],
      ['glpat-with space-0003', /holds spaces or characters a token does not have/],
    ] as const) {
      writeFileSync(file, content);
      // a fresh backend per case: a good token is cached for 30 s
      const gitlab = backendFor(fx.sim.url, { tokenFile: file, timeoutMs: 2000, maxRetries: 0 });
      const before = fx.sim.control.requests.length;
      const err = await callError('projects_get', { project: 'platform/api' }, { gitlab });
      // before: "GitLab is unreachable at <url> (TypeError); check GITLAB_URL" for two lines (fetch refuses the
      // header), and a request with an empty PRIVATE-TOKEN answered 401 "renew GITLAB_TOKEN_FILE" for an empty file
      expect(err.code, content).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(err.message, content).toMatch(why);
      expect(err.message, content).toContain('GITLAB_TOKEN_FILE');
      expect(seen(err), content).not.toMatch(/glpat-/);
      expect(fx.sim.control.requests.length, content).toBe(before);
      // the file fixed: the next call works at once (a refused token is not cached)
      writeFileSync(file, `${BOT_TOKEN}\n`);
      expect((await call('projects_get', { project: 'platform/api' }, { gitlab })).path).toBe('platform/api');
    }
  });
});

describe('a gateway in front of GitLab that gives up on a change GitLab goes on to make', () => {
  const fx = simulatorFor();
  let gateway: Listening;
  let mode: 'hang' | '504' | 'cut' = 'hang';
  beforeAll(async () => {
    // forwards each request to GitLab (the simulator), which makes the change; then answers as `mode` says
    gateway = await listen((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const forwarded = await fetch(`${fx.sim.url}${req.url}`, {
          method: req.method ?? 'GET',
          headers: {
            'private-token': String(req.headers['private-token']),
            'content-type': String(req.headers['content-type'] ?? 'application/json'),
          },
          ...(req.method === 'GET' ? {} : { body: Buffer.concat(chunks) }),
        });
        const body = await forwarded.text();
        if (req.method === 'GET' && mode !== 'hang') {
          res.writeHead(forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? '' });
          res.end(body);
        } else if (mode === '504') {
          res.writeHead(504, { 'content-type': 'text/html' });
          res.end('<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>');
        } else if (mode === 'cut') {
          res.writeHead(201, { 'content-type': 'application/json', 'content-length': String(body.length) });
          res.write(body.slice(0, 10));
          res.destroy();
        }
        // 'hang': no answer at all, to reads too
      });
    });
  });
  afterAll(() => gateway.close());

  it('says the change may have been made and to check before calling again, never "retry later"', async () => {
    const services = { gitlab: backendFor(gateway.url, { timeoutMs: 1000, maxRetries: 2 }) };
    const issues = () => fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.issues ?? [];
    for (const m of ['hang', '504', 'cut'] as const) {
      mode = m;
      const title = `flaky gateway ${m}`;
      const err = await callError('issues_create', { project: 'platform/api', title }, services);
      // before: ERR_BACKEND_TIMEOUT / ERR_BACKEND_UNAVAILABLE "...; retry later", and a retry made a second issue
      expect(err.code, m).toBe('ERR_OUTCOME_UNKNOWN');
      expect(err.message, m).toMatch(/may or may not have been done\. Check the current state/);
      expect(err.message, m).not.toMatch(/retry later/i);
      // GitLab did make it, once
      expect(issues().filter((i) => i.title === title).length, m).toBe(1);
    }
    // a read that times out is still a plain timeout
    mode = 'hang';
    const read = await callError(
      'issues_list',
      { project: 'platform/api' },
      {
        gitlab: backendFor(gateway.url, { timeoutMs: 1000, maxRetries: 0 }),
      },
    );
    expect(read.code).not.toBe('ERR_OUTCOME_UNKNOWN');
  });
});
