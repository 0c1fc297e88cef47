/**
 * What the browser sees of the dev issuer's sign-in: the HTML pages (no script, no style), the redirects
 * back to the client, and the scope choice: which server scopes a sign-in offers, how they are shown as
 * checkboxes, and how the posted choice is checked against them. Codes, verifiers and tokens never appear
 * in a page.
 */
import type { ServerResponse } from 'node:http';
import { type ClientView, DEV_APPROVER_SCOPE } from './clients.js';
import { CLIENT_ONLY_SCOPES } from './dynamic.js';

export interface PendingLogin {
  client: ClientView;
  redirectUri: string;
  state: string | undefined;
  challenge: string;
  /** `openid` / `offline_access` as requested: passed through, never shown as a choice. */
  clientScopes: string[];
  /** The server scopes the person may tick; the only ones the POST may grant. */
  offered: string[];
  /** The server scopes the client asked for: ticked when the page opens. */
  requested: string[];
  resource: string;
  expires: number;
}

/** What a scope of each level lets a token do, in a line, beside its checkbox. */
const SCOPE_MEANINGS: Record<string, string> = {
  read: 'list and read',
  write: 'start, stop, restart and other changes',
  admin: 'HIGH-tier tools, which also need a SPIFFE ID over mTLS',
  approve: 'approve or deny requests waiting in the approvals console',
};
/** `docker` for `mcp:docker:write`; undefined for a scope not named after a server. */
const serverOf = (scope: string) => /^mcp:([^:\s]+):[^:\s]+$/.exec(scope)?.[1];

/**
 * The server scopes the person may choose from. A configured client: its own. A self-registered one: those
 * of the servers its request names, since the issuer has no other way to tell a resource's server and a
 * token for one server has no use for another's scopes; all it may have when the request names no server.
 */
export function choosableScopes(client: ClientView, requested: readonly string[]): string[] {
  const all = [...new Set(client.scopes ?? [DEV_APPROVER_SCOPE])].filter((s) => !CLIENT_ONLY_SCOPES.has(s));
  const servers = new Set(requested.map(serverOf).filter((s) => s !== undefined));
  if (!client.registered || servers.size === 0) return all;
  return all.filter((s) => requested.includes(s) || servers.has(serverOf(s) ?? ''));
}

/** The person's choice, checked against what this login offered: the form is never trusted. */
export function readScopeChoice(form: URLSearchParams, pending: PendingLogin): { chosen: string[]; refused: string[] } {
  const chosen = [...new Set(form.getAll('scope'))];
  return { chosen, refused: chosen.filter((s) => !pending.offered.includes(s)) };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** What the person entered, kept when the sign-in form comes back with `problem`. */
export interface SignInRetry {
  problem: string;
  chosen: readonly string[];
  user: string;
}

/** The sign-in form for the pending login `id`; `again` refills it when it comes back with a problem. */
export function sendSignInPage(
  res: ServerResponse,
  status: number,
  id: string,
  login: PendingLogin,
  users: readonly string[],
  again?: SignInRetry,
): ServerResponse {
  const { client, resource } = login;
  const ticked = again?.chosen ?? login.requested;
  const user = again?.user ?? users[0] ?? '';
  const options = users.map((u) => `<option value="${escapeHtml(u)}"></option>`).join('');
  const boxes = login.offered
    .map((s, i) => {
      const meaning = SCOPE_MEANINGS[s.split(':').at(-1) ?? ''];
      return `<input type="checkbox" name="scope" value="${escapeHtml(s)}" id="scope-${i}"${ticked.includes(s) ? ' checked' : ''}>
<label for="scope-${i}"><code>${escapeHtml(s)}</code>${meaning ? `: ${escapeHtml(meaning)}` : ''}</label><br>`;
    })
    .join('\n');
  return sendPage(
    res,
    status,
    'Sign in (dev issuer)',
    `${again ? `<p role="alert"><strong>${escapeHtml(again.problem)}</strong></p>\n` : ''}<p><strong>Development only.</strong> This is the demo's dev issuer: there is no password. Any dev user
name signs in as that person, and the token carries the scopes ticked below.</p>
<p>${
      client.registered
        ? `${client.registered.name ? `<strong>${escapeHtml(client.registered.name)}</strong>, a` : 'A'} client that registered itself as <code>${escapeHtml(client.clientId)}</code>,`
        : `Client <code>${escapeHtml(client.clientId)}</code>`
    } asks for a token for <code>${escapeHtml(resource)}</code>.</p>
<form method="post" action="/authorize">
<input type="hidden" name="login" value="${id}">
<p><label for="user">Dev user name</label><br>
<input id="user" name="user" list="dev-users" required autocomplete="username" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]{0,62}" aria-describedby="user-hint" value="${escapeHtml(user)}">
<datalist id="dev-users">${options}</datalist><br>
<span id="user-hint">For example ${users.map((u) => `<code>${escapeHtml(u)}</code>`).join(' or ')}; letters, digits, ".", "_", "-".</span></p>
${
  boxes
    ? `<fieldset>
<legend>What the token may do (the client asked for the ticked ones; tick more or fewer, at least one)</legend>
${boxes}
</fieldset>`
    : ''
}
<p><button type="submit" name="action" value="allow">Sign in</button>
<button type="submit" name="action" value="deny" formnovalidate>Cancel</button></p>
</form>`,
    new URL(login.redirectUri).origin,
  );
}

/** The answer when the posted form ticks a scope this login did not offer: nothing is granted. */
export function sendScopeNotAllowed(
  res: ServerResponse,
  pending: PendingLogin,
  refused: readonly string[],
): ServerResponse {
  return sendPage(
    res,
    400,
    'Scope not allowed',
    `<p>The client may not receive <code>${escapeHtml(refused.join(' '))}</code> for <code>${escapeHtml(pending.resource)}</code>
(it may receive: <code>${escapeHtml(pending.offered.join(' ') || 'no server scope')}</code>). Nothing was granted; start again from the client.</p>`,
  );
}

export function sendRedirect(
  res: ServerResponse,
  redirectUri: string,
  params: Record<string, string | undefined>,
): ServerResponse {
  const target = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
  return res
    .writeHead(303, { location: target.toString(), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
    .end();
}

export function sendPage(
  res: ServerResponse,
  status: number,
  title: string,
  body: string,
  formTarget?: string,
): ServerResponse {
  // No script and no style at all; the form may post here and then redirect to the client's origin.
  const csp = `default-src 'none'; form-action 'self'${formTarget ? ` ${formTarget}` : ''}; base-uri 'none'; frame-ancestors 'none'`;
  return res
    .writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    })
    .end(
      `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} - Ravenhelm dev issuer</title></head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`,
    );
}
