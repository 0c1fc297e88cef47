/**
 * The GitLab server attacked from outside, seventh round: a proxy in front of the stateful simulator rewrites
 * GitLab's answers (paging headers, bodies, job logs with terminal control sequences) and the tools are called
 * through the real gitbeaker client. Each probe here broke before its fix, or guards a boundary a plausible
 * change would break.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RavenhelmError } from '@ravenhelm/kit';
import type { GitLabServices } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendFor, call, type Fixture, type Result, start } from '../gitlab/harness.js';
import { type SimDiff, type SimJob, type SimMergeRequest, simDiff } from '../simulators/gitlab.js';
import { type Listening, listen } from '../simulators/http.js';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** What the proxy does to one answer of the simulator: rewrite it, or leave it (undefined). */
type Tamper = (req: { method: string; url: URL }, answer: Answer) => Answer | undefined;

let fx: Fixture;
let proxy: Listening;
let tamper: Tamper | undefined;
let services: GitLabServices;

beforeAll(async () => {
  fx = await start();
  proxy = await listen((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', fx.sim.url);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host') headers[k] = v;
      const r = await fetch(url, { method: req.method ?? 'GET', headers, redirect: 'manual' });
      let answer: Answer = {
        status: r.status,
        headers: Object.fromEntries(r.headers.entries()),
        body: Buffer.from(await r.arrayBuffer()),
      };
      delete answer.headers['content-length'];
      delete answer.headers['transfer-encoding'];
      delete answer.headers['content-encoding'];
      answer = tamper?.({ method: req.method ?? 'GET', url }, answer) ?? answer;
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    })().catch(() => res.destroy());
  });
  services = { gitlab: backendFor(proxy.url, { timeoutMs: 5000, maxRetries: 0 }) };
});
afterAll(async () => {
  await proxy?.close();
  await fx?.close();
});

const MR = { project: 'platform/api', iid: 7 };

function mr7(): SimMergeRequest {
  const mr = fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
  if (!mr) throw new Error('seed changed: platform/api has no merge request');
  return mr;
}

async function withTamper<T>(t: Tamper, fn: () => Promise<T>): Promise<T> {
  tamper = t;
  try {
    return await fn();
  } finally {
    tamper = undefined;
  }
}

async function withDiffs<T>(diffs: SimDiff[], fn: () => Promise<T>): Promise<T> {
  const mr = mr7();
  const seeded = mr.diffs;
  mr.diffs = diffs;
  try {
    return await fn();
  } finally {
    mr.diffs = seeded;
  }
}

async function attempt(
  name: string,
  args: unknown,
): Promise<{ ok: true; r: Result } | { ok: false; err: RavenhelmError }> {
  try {
    return { ok: true, r: await call(name, args, services) };
  } catch (err) {
    if (!(err instanceof RavenhelmError)) throw err;
    return { ok: false, err };
  }
}

const files = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    simDiff(`src/f${String(i).padStart(3, '0')}.ts`, `@@ -1 +1 @@\n-a${i}\n+b${i}\n`),
  );

/** Pages a list tool to its end (bounded), returning every path seen and the number of calls. */
async function pageAll(limit: number): Promise<{ seen: string[]; calls: number }> {
  const seen: string[] = [];
  let cursor: string | undefined;
  let calls = 0;
  for (; calls < 12; calls++) {
    const a = await attempt('merge_requests_list_changes', { ...MR, limit, ...(cursor ? { cursor } : {}) });
    if (!a.ok) throw new Error(`${a.err.code}: ${a.err.message}`);
    seen.push(...a.r.files.map((f: { newPath: string }) => f.newPath));
    cursor = a.r.nextCursor;
    if (!cursor) break;
  }
  return { seen, calls: calls + 1 };
}

const isDiffs = (url: URL) => url.pathname.endsWith('/diffs');
const setHeader = (a: Answer, name: string, value: string): Answer => ({
  ...a,
  headers: { ...a.headers, [name]: value },
});

describe('paging headers that lie (x-next-page)', () => {
  it('a next page that is the same page, an earlier one or a jump: every file once, and the paging ends', async () => {
    const lies: Record<string, (page: number) => string> = {
      same: (p) => String(p),
      back: (p) => String(Math.max(1, p - 1)),
      jump: (p) => String(p + 2),
      huge: () => '99999999',
    };
    await withDiffs(files(50), async () => {
      for (const [name, lie] of Object.entries(lies)) {
        await withTamper(
          (req, a) => {
            if (!isDiffs(req.url) || a.headers['x-next-page'] === '') return undefined;
            return setHeader(a, 'x-next-page', lie(Number(req.url.searchParams.get('page') ?? 1)));
          },
          async () => {
            const { seen, calls } = await pageAll(20);
            expect(seen, name).toEqual(files(50).map((d) => d.new_path));
            expect(calls, name).toBe(3);
          },
        );
      }
    });
  });

  it('merge_requests_get_diff does not read one page again and again when GitLab names it as its own next', async () => {
    await withDiffs(files(70), async () => {
      await withTamper(
        (req, a) =>
          isDiffs(req.url) && a.headers['x-next-page'] !== '' ? setHeader(a, 'x-next-page', '1') : undefined,
        async () => {
          const from = fx.sim.control.requests.length;
          const a = await attempt('merge_requests_get_diff', { ...MR, path: 'src/f065.ts' });
          expect(a.ok && a.r.newPath).toBe('src/f065.ts');
          const pages = fx.sim.control.requests.slice(from).filter((r) => isDiffs(new URL(r.path, fx.sim.url)));
          expect(pages.map((r) => r.query.get('page'))).toEqual(['1', '2', '3']);
        },
      );
    });
  });
});

describe('totals that are not counts (x-total)', () => {
  it('a negative, fractional or absurd x-total is reported as unknown (null), not as a count', async () => {
    for (const lie of ['-5', '3.5', '1e400', 'many', '99999999999999999999999']) {
      await withTamper(
        (req, a) => (req.url.pathname.endsWith('/issues') ? setHeader(a, 'x-total', lie) : undefined),
        async () => {
          const a = await attempt('issues_list', { project: 'platform/api', state: 'all' });
          expect(a.ok, lie).toBe(true);
          if (a.ok) expect(a.r.total, lie).toBeNull();
        },
      );
    }
  });

  it('a total smaller than what the page shows is not reported', async () => {
    await withTamper(
      (req, a) => (req.url.pathname.endsWith('/issues') ? setHeader(a, 'x-total', '1') : undefined),
      async () => {
        const a = await attempt('issues_list', { project: 'platform/api', state: 'all' });
        expect(a.ok && a.r.issues.length).toBeGreaterThan(1);
        if (a.ok) expect(a.r.total).toBeNull();
      },
    );
  });
});

describe('a list answered with something else than a list', () => {
  it('an object, a string or null where GitLab sends an array is a backend error that says so, not a server bug', async () => {
    for (const body of ['{"message":"ok"}', '"ok"', 'null', '42']) {
      await withTamper(
        (req, a) =>
          req.url.pathname.endsWith('/issues') || isDiffs(req.url) ? { ...a, body: Buffer.from(body) } : undefined,
        async () => {
          for (const [name, args] of [
            ['issues_list', { project: 'platform/api' }],
            ['merge_requests_list_changes', MR],
            ['merge_requests_get_diff', { ...MR, path: 'src/ledger.ts' }],
          ] as const) {
            const a = await attempt(name, args);
            expect(a.ok, `${name} ${body}`).toBe(false);
            if (!a.ok) {
              expect(a.err.code, `${name} ${body}: ${a.err.message}`).toBe('ERR_BACKEND_ERROR');
              expect(a.err.message).toMatch(/not a list|GitLab/);
            }
          }
        },
      );
    }
  });
});

describe('job logs with terminal control sequences', () => {
  const E = '\x1b';
  async function logOf(trace: string): Promise<string> {
    const job = fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.jobs[0] as SimJob;
    const seeded = job.trace;
    job.trace = trace;
    try {
      const a = await attempt('jobs_get_log', { project: 'platform/api', jobId: job.id });
      if (!a.ok) throw new Error(a.err.message);
      return a.r.text as string;
    } finally {
      job.trace = seeded;
    }
  }

  it('truecolour with colons, private CSI, DCS/APC/PM/SOS strings, OSC links: no escape and no payload is left', async () => {
    const trace = [
      `${E}[38:2::255:0:0mred truecolour${E}[0m`,
      `${E}[>4;2m${E}[<u${E}[=1hprivate modes`,
      `${E}P1$r0m${E}\\after DCS`,
      `${E}_Gf=100,a=T;iVBORw0KGgo=${E}\\after kitty image`,
      `${E}^private message${E}\\after PM`,
      `${E}]8;;https://evil.example/${E}\\click${E}]8;;${E}\\ here`,
      `${E}]0;window title${'\x07'}after title`,
    ].join('\n');
    const text = await logOf(trace);
    expect(text.split('\n')).toEqual([
      'red truecolour',
      'private modes',
      'after DCS',
      'after kitty image',
      'after PM',
      'click here',
      'after title',
    ]);
  });

  it('other control characters are not passed to the model; backspace erases like a terminal', async () => {
    const text = await logOf(
      `nul\x00 bell\x07 vt\x0b ff\x0c del\x7f c1\u009b31m\u0085end\nspin |\b/\b-\bdone\ntab\tkept`,
    );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none is left
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(text.split('\n')).toEqual(['nul bell vt ff del c1end', 'spin done', 'tab\tkept']);
  });
});

describe('Link headers built to make a regular expression backtrack', () => {
  it('a 15 KB Link of "<" on every answer costs no CPU: a call of many requests stays fast', async () => {
    const bomb = '<'.repeat(15_000);
    // the same calls untouched first: gitbeaker loaded, and what they cost here without the bomb
    let t = performance.now();
    await attempt('pipelines_diagnose', { project: 'platform/api', pipelineId: 1030 });
    await attempt('projects_list', { limit: 5 });
    const plain = performance.now() - t;
    await withTamper(
      (_req, a) => setHeader(a, 'link', a.headers.link ? `${bomb}, ${a.headers.link}` : bomb),
      async () => {
        const from = fx.sim.control.requests.length;
        t = performance.now();
        const diagnosed = await attempt('pipelines_diagnose', { project: 'platform/api', pipelineId: 1030 });
        const listed = await attempt('projects_list', { limit: 5 });
        const ms = performance.now() - t;
        const requests = fx.sim.control.requests.length - from;
        // before: gitbeaker's /<([^>]+)>; rel="([^"]+)"/g (and ours in projects_list) spent ~0.5 s on each answer
        expect(requests).toBeGreaterThan(5);
        expect(diagnosed.ok && listed.ok, JSON.stringify([diagnosed, listed]).slice(0, 600)).toBe(true);
        expect(ms, `${requests} requests, ${Math.round(plain)} ms without the bomb`).toBeLessThan(
          2 * plain + 100 * requests,
        );
        // the real links still work: projects_list pages on with GitLab's keyset link
        if (listed.ok) expect(listed.r.nextCursor).toBeDefined();
      },
    );
  }, 60_000);
});

describe('Retry-After values that are neither seconds nor an HTTP date', () => {
  it('two merged headers ("1, 1"), a sign or a fraction are not read as a date in 2001 ("retry after 0 s")', async () => {
    for (const lie of ['1, 1', '-1', '1.5', '2']) {
      fx.sim.control.throttle = { count: 1, retryAfterSeconds: 1, path: /\/issues$/ };
      try {
        await withTamper(
          (_req, a) => (a.status === 429 ? setHeader(a, 'retry-after', lie) : undefined),
          async () => {
            const a = await attempt('issues_list', { project: 'platform/api' });
            expect(a.ok, lie).toBe(false);
            if (!a.ok) {
              expect(a.err.code).toBe('ERR_BACKEND_UNAVAILABLE');
              // "2" is GitLab's own form: seconds
              expect(a.err.message, lie).toMatch(lie === '2' ? /retry after 2 s/ : /429\) on .*; retry later$/);
            }
          },
        );
      } finally {
        fx.sim.control.throttle = undefined;
      }
    }
  });
});

describe('answers whose form differs only in ways HTTP allows', () => {
  it('a media type in capitals ("Application/JSON; Charset=UTF-8") is still JSON (RFC 9110: case-insensitive)', async () => {
    await withTamper(
      (_req, a) =>
        a.headers['content-type']?.startsWith('application/json')
          ? setHeader(a, 'content-type', 'Application/JSON; Charset=UTF-8')
          : undefined,
      async () => {
        const p = await attempt('projects_get', { project: 'platform/api' });
        expect(p.ok && p.r.path).toBe('platform/api');
        const issues = await attempt('issues_list', { project: 'platform/api' });
        expect(issues.ok && issues.r.issues.length).toBeGreaterThan(0);
      },
    );
  });
});

describe("GitLab's error messages", () => {
  it('terminal escapes and control characters in a message are not passed on', async () => {
    const E = '\x1b';
    await withTamper(
      (req, _a) =>
        req.url.pathname.endsWith('/issues')
          ? {
              status: 400,
              headers: { 'content-type': 'application/json' },
              body: Buffer.from(
                JSON.stringify({
                  message: `${E}]8;;https://evil.example/${E}\\labels${E}]8;;${E}\\ is invalid${E}[2J\x00\x07`,
                }),
              ),
            }
          : undefined,
      async () => {
        const a = await attempt('issues_list', { project: 'platform/api' });
        expect(a.ok).toBe(false);
        if (!a.ok) {
          expect(a.err.message).toMatch(/GitLab said: labels is invalid\)/);
          // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting none is left
          expect(a.err.message).not.toMatch(/[\x00-\x1f\x7f-\x9f]|evil/);
        }
      },
    );
  });
});

describe('unicode paths', () => {
  it('a path typed in the other Unicode normal form (NFC "é" for the NFD "e\u0301" git stored) finds the file', async () => {
    const nfd = 'docs/cafe\u0301/men\u0303u.md';
    const nfc = nfd.normalize('NFC');
    expect(nfc).not.toBe(nfd);
    await withDiffs([...files(40), simDiff(nfd, `@@ -1 +1 @@\n-old\n+new ${nfd}\n`)], async () => {
      for (const asked of [nfc, nfd]) {
        const a = await attempt('merge_requests_get_diff', { ...MR, path: asked });
        expect(a.ok, a.ok ? '' : a.err.message).toBe(true);
        // the name as GitLab has it, to use with repository_get_file
        if (a.ok) expect(a.r.newPath).toBe(nfd);
      }
    });
    // a file in each form: each name finds its own
    await withDiffs([simDiff(nfd, '@@ -1 +1 @@\n-a\n+nfd\n'), simDiff(nfc, '@@ -1 +1 @@\n-a\n+nfc\n')], async () => {
      for (const asked of [nfc, nfd]) {
        const a = await attempt('merge_requests_get_diff', { ...MR, path: asked });
        expect(a.ok && a.r.newPath).toBe(asked);
      }
    });
  });
});

describe('counts GitLab did not make', () => {
  it('a negative or absurd x-total on every answer never shows up as a count', async () => {
    for (const lie of ['-5', '99999999999999999999999']) {
      await withTamper(
        (_req, a) => (a.headers['x-total'] !== undefined ? setHeader(a, 'x-total', lie) : undefined),
        async () => {
          for (const [name, args] of [
            ['pipelines_list', { project: 'platform/api', ref: 'feature/invoices' }],
            ['pipelines_get', { project: 'platform/api', pipelineId: 1030 }],
            ['merge_requests_list', { project: 'platform/api' }],
            ['pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }],
          ] as const) {
            const a = await attempt(name, args);
            expect(a.ok, `${name} ${lie}: ${a.ok ? '' : a.err.message}`).toBe(true);
            const text = JSON.stringify(a.ok ? a.r : {});
            // before: "refs/merge-requests/7/head (1e+23 pipelines)" in pipelines_list's note
            expect(text.match(/.{0,80}(-5\b|e\+2|99999999999999999).{0,40}/)?.[0], `${name} ${lie}`).toBeUndefined();
          }
        },
      );
    }
  });
});
