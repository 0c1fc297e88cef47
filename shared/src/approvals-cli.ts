#!/usr/bin/env node
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { visible, visibleDeep } from './visible.js';

const USAGE = `usage: ravenhelm-approvals list            --url URL [--all] [--json]  [--token-env VAR]
       ravenhelm-approvals show    <id>     --url URL [--json]           [--token-env VAR]
       ravenhelm-approvals approve <id>     --url URL [--comment TEXT]   [--token-env VAR]
       ravenhelm-approvals reject  <id>     --url URL [--comment TEXT]   [--token-env VAR]

  --url        the server's base URL (https://docker-mcp.example:8443); plain http only to loopback
  --token-env  the environment variable holding your bearer token (default RAVENHELM_APPROVALS_TOKEN);
               the token needs the approver scope (mcp:approvals:approve) or the role the policy names.
               Tokens are never accepted on the command line: argv shows in ps and shell history.
Exit codes: 0 done, 1 refused by the server, 2 usage, 3 server unreachable.
`;

type Out = { write(s: string): unknown };
export interface CliIo {
  env?: NodeJS.ProcessEnv;
  out?: Out;
  err?: Out;
  fetch?: typeof fetch;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const Url = z
  .string()
  .pipe(z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }))
  .refine((u) => {
    const parsed = new URL(u);
    return parsed.protocol === 'https:' || LOOPBACK.has(parsed.hostname);
  }, 'must use https:// (plain http:// only to a loopback address: the bearer token would travel in clear)');
const Id = z
  .string()
  .regex(/^apr_[A-Za-z0-9_-]{32}$/, 'must be an approval request id (apr_ followed by 32 characters)');
const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,63}$/, 'must be an environment variable name like MY_TOKEN');
const Comment = z
  .string()
  .max(500, 'must be at most 500 characters')
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

const Decision = z.object({ subject: z.string(), at: z.string(), comment: z.string().optional() });
const View = z.object({
  id: z.string(),
  server: z.string(),
  tool: z.string(),
  state: z.string(),
  requester: z.object({ subject: z.string(), clientId: z.string().optional(), spiffeId: z.string().optional() }),
  args: z.unknown(),
  plan: z.string(),
  approvers: z.string(),
  count: z.number(),
  approvals: z.array(Decision),
  rejections: z.array(Decision),
  expiresAt: z.string(),
  secondsLeft: z.number(),
  canDecide: z.boolean(),
});
type View = z.infer<typeof View>;
const ApiError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const issuesOf = (e: z.ZodError) => e.issues.map((i) => i.message).join('; ');

function left(seconds: number): string {
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${seconds}s`;
}

/**
 * One request for a terminal. The server already shows hidden characters (asShown); this does it again,
 * for any server, since an escape sequence in what it prints would rewrite the operator's screen. A plan
 * of several lines is indented under a bar, so no line of it can pass for one of the fields below it.
 */
function describe(view: View): string {
  const v = visibleDeep(view) as View;
  const one = (s: string) => visible(s, { oneLine: true });
  const who = [v.requester.subject, v.requester.clientId && `client ${v.requester.clientId}`, v.requester.spiffeId]
    .filter(Boolean)
    .join(', ');
  const [first = '', ...more] = v.plan.split('\n');
  const lines = [
    `${one(v.id)}  ${one(v.state)}  ${one(v.server)}/${one(v.tool)}`,
    `  requested by ${one(who)}`,
    `  plan:       ${first}`,
    ...more.map((l) => `            | ${l}`),
    `  arguments:  ${JSON.stringify(v.args)}`,
    `  approvers:  ${v.count} x ${one(v.approvers)}; approved by ${v.approvals.map((a) => one(a.subject)).join(', ') || 'nobody yet'}`,
    ...v.rejections.map((r) => `  rejected by ${one(r.subject)}${r.comment ? `: ${one(r.comment)}` : ''}`),
    `  expires:    ${one(v.expiresAt)} (${left(v.secondsLeft)} left)${v.canDecide ? '' : '  [you cannot decide this one]'}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** `ravenhelm-approvals list|show|approve|reject`. */
export async function runApprovalsCli(argv: string[], io: CliIo = {}): Promise<number> {
  const env = io.env ?? process.env;
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  const doFetch = io.fetch ?? fetch;
  try {
    if (argv.some((a) => a === '--token' || a.startsWith('--token='))) {
      throw new CliFailure(
        'a token is never accepted on the command line (argv shows in ps and shell history): export it and pass --token-env NAME',
        2,
      );
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          url: { type: 'string' },
          'token-env': { type: 'string', default: 'RAVENHELM_APPROVALS_TOKEN' },
          comment: { type: 'string' },
          all: { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
          help: { type: 'boolean', default: false },
        },
      });
    } catch (e) {
      throw new CliFailure(`${(e as Error).message}\n${USAGE}`, 2);
    }
    const { values, positionals } = parsed;
    const [command, id, ...extra] = positionals;
    if (values.help) {
      out.write(USAGE);
      return 0;
    }
    const commands = ['list', 'show', 'approve', 'reject'];
    if (!command || !commands.includes(command) || extra.length > 0 || (command === 'list') !== (id === undefined)) {
      throw new CliFailure(USAGE, 2);
    }
    const url = Url.safeParse(values.url ?? '');
    if (!url.success) throw new CliFailure(`--url ${issuesOf(url.error)}`, 2);
    const envName = EnvName.safeParse(values['token-env']);
    if (!envName.success) throw new CliFailure(`--token-env ${issuesOf(envName.error)}`, 2);
    const token = env[envName.data];
    if (!token)
      throw new CliFailure(`the environment variable ${envName.data} is empty: export your bearer token there`, 2);
    if (id !== undefined) {
      const ok = Id.safeParse(id);
      if (!ok.success) throw new CliFailure(`request id ${issuesOf(ok.error)}`, 2);
    }
    let comment: string | undefined;
    if (values.comment !== undefined) {
      if (command !== 'approve' && command !== 'reject')
        throw new CliFailure('--comment goes with approve or reject', 2);
      const c = Comment.safeParse(values.comment);
      if (!c.success) throw new CliFailure(`--comment ${issuesOf(c.error)}`, 2);
      comment = c.data;
    }

    const base = url.data.replace(/\/+$/, '');
    const path =
      command === 'list'
        ? `/approvals${values.all ? '?state=all' : ''}`
        : `/approvals/${id}${command === 'show' ? '' : `/${command}`}`;
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method: command === 'approve' || command === 'reject' ? 'POST' : 'GET',
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(comment !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(comment !== undefined ? { body: JSON.stringify({ comment }) } : {}),
        // 'manual', not 'error': with 'error', undici (Node 20) can lose the timeout of a body read once GC
        // runs (see backend-http.ts); a redirect is refused below instead of followed with the token.
        redirect: 'manual',
        signal: AbortSignal.timeout(15_000),
      });
    } catch (e) {
      throw new CliFailure(`cannot reach ${new URL(base).origin}: ${unreachableWhy(e)}`, 3);
    }
    if (res.status >= 300 && res.status < 400) {
      throw new CliFailure(
        `${new URL(base).origin} answered with a redirect (HTTP ${res.status}); give --url the server's own address`,
        3,
      );
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new CliFailure(
        `${new URL(base).origin} answered ${res.status} without JSON: is --url the MCP server's base URL?`,
        1,
      );
    }
    if (!res.ok) {
      const e = ApiError.safeParse(body);
      throw new CliFailure(
        e.success ? `${e.data.error.code}: ${e.data.error.message}` : `the server answered ${res.status}`,
        1,
      );
    }
    if (command === 'list') {
      const list = z.object({ approvals: z.array(View) }).parse(body).approvals;
      if (values.json) out.write(`${JSON.stringify(list, null, 2)}\n`);
      else if (list.length === 0) out.write(values.all ? 'no approval requests\n' : 'no pending approval requests\n');
      else for (const v of list) out.write(describe(v));
      return 0;
    }
    const view = View.parse(body);
    if (values.json) out.write(`${JSON.stringify(view, null, 2)}\n`);
    else {
      if (command === 'approve') {
        out.write(
          view.state === 'approved'
            ? `approved: ${view.tool} may now run once\n`
            : `your approval is recorded: ${view.approvals.length} of ${view.count}; another approver must approve too\n`,
        );
      } else if (command === 'reject') out.write(`rejected: ${view.tool} will not run\n`);
      out.write(describe(view));
    }
    return 0;
  } catch (e) {
    if (e instanceof CliFailure) {
      err.write(e.message.endsWith('\n') ? e.message : `${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof z.ZodError) {
      err.write(`the server's answer is not an approvals API answer: ${issuesOf(e)}\n`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await runApprovalsCli(process.argv.slice(2));
}

/**
 * Why fetch failed, from its cause (fetch itself only says "TypeError: fetch failed"): an untrusted
 * certificate and a closed port need different fixes.
 */
export function unreachableWhy(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'no answer within 15 s; check --url and that the server runs';
  const code = err.cause?.code ?? '';
  const said = err.cause?.message ?? err.message;
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|TLS/.test(code)) {
    return `its TLS certificate is not trusted (${code}); point NODE_EXTRA_CA_CERTS at the CA that issued it (the demo prints RAVENHELM_CA_FILE)`;
  }
  const detail = said && !(code && said.includes(code)) ? ` (${said})` : '';
  return `${code || err.name}${detail}; check --url and that the server runs`;
}
