/**
 * The approvals console: one static page, one script, one stylesheet, all served from 'self' under a
 * strict Content-Security-Policy (no inline script or style). The script logs the operator in with
 * OIDC (authorization code + PKCE S256, public client), keeps the access token in memory only, and
 * uses the server's /approvals API. Every value from the API is put in the page with textContent.
 */

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ravenhelm approvals</title>
<link rel="icon" href="/approvals/console/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/approvals/console/app.css">
<script type="module" src="/approvals/console/app.js"></script>
</head>
<body>
<header>
  <h1>Ravenhelm approvals <span id="server"></span></h1>
  <div id="session">
    <button type="button" id="login" hidden>Sign in</button>
    <span id="who"></span>
    <button type="button" id="refresh" hidden>Refresh</button>
  </div>
</header>
<main>
  <p id="status" role="status" aria-live="polite"></p>
  <p id="empty" hidden>No pending approval requests.</p>
  <ul id="requests" aria-label="Pending approval requests"></ul>
</main>
</body>
</html>
`;

export const CONSOLE_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#24292f"/><path d="M4 8.5l2.5 2.5L12 5.5" stroke="#fff" stroke-width="2" fill="none"/></svg>';

export const CONSOLE_CSS = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f8fa; }
body { margin: 0; }
header { display: flex; justify-content: space-between; align-items: center; padding: .75rem 1.5rem; background: #24292f; color: #fff; }
header h1 { font-size: 1.2rem; margin: 0; }
#server { font-weight: normal; opacity: .8; }
main { max-width: 60rem; margin: 1rem auto; padding: 0 1rem; }
#requests { list-style: none; padding: 0; }
.request { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 1rem; margin-bottom: 1rem; }
.request h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
.request dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0 0 .75rem; }
.request dt { font-weight: 600; }
.request dd { margin: 0; overflow-wrap: anywhere; }
.request pre { margin: 0; white-space: pre-wrap; font-size: .9rem; }
.request label { display: block; font-weight: 600; margin-bottom: .25rem; }
.request textarea { width: 100%; box-sizing: border-box; min-height: 3rem; }
.actions { display: flex; gap: .5rem; margin-top: .5rem; }
button { font: inherit; padding: .4rem .9rem; border-radius: 6px; border: 1px solid #8c959f; background: #fff; cursor: pointer; }
button:focus-visible, textarea:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
button.approve { background: #1f883d; color: #fff; border-color: #1a7f37; }
button.reject { background: #cf222e; color: #fff; border-color: #a40e26; }
button:disabled { opacity: .5; cursor: not-allowed; }
#status { min-height: 1.5rem; }
.note { color: #57606a; }
`;

export const CONSOLE_JS = String.raw`
const $ = (id) => document.getElementById(id);
const state = { token: null, config: null, oidc: null };

function say(text) { $('status').textContent = text; }

function b64url(bytes) {
  let s = '';
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function randomString() { return b64url(crypto.getRandomValues(new Uint8Array(32))); }
async function challengeOf(verifier) {
  return b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
}
function redirectUri() { return location.origin + '/approvals/console'; }

async function discover() {
  const res = await fetch(state.config.issuer.replace(/\/$/, '') + '/.well-known/openid-configuration');
  if (!res.ok) throw new Error('the identity provider did not answer its discovery document (' + res.status + ')');
  return res.json();
}

async function login() {
  const verifier = randomString();
  const st = randomString();
  sessionStorage.setItem('rh-pkce', JSON.stringify({ verifier, state: st }));
  const u = new URL(state.oidc.authorization_endpoint);
  u.searchParams.set('response_type', 'code');
  u.searchParams.set('client_id', state.config.clientId);
  u.searchParams.set('redirect_uri', redirectUri());
  u.searchParams.set('scope', state.config.scope);
  u.searchParams.set('state', st);
  u.searchParams.set('code_challenge', await challengeOf(verifier));
  u.searchParams.set('code_challenge_method', 'S256');
  u.searchParams.set('resource', state.config.resource);
  location.assign(u.toString());
}

async function finishLogin(params) {
  const saved = JSON.parse(sessionStorage.getItem('rh-pkce') || 'null');
  sessionStorage.removeItem('rh-pkce');
  history.replaceState(null, '', '/approvals/console');
  if (params.get('error')) throw new Error('sign-in failed: ' + params.get('error'));
  if (!saved || saved.state !== params.get('state')) throw new Error('sign-in failed: the state does not match; sign in again');
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: params.get('code') || '',
    redirect_uri: redirectUri(),
    client_id: state.config.clientId,
    code_verifier: saved.verifier,
    resource: state.config.resource,
  });
  const res = await fetch(state.oidc.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const json = await res.json();
  if (!res.ok || !json.access_token) throw new Error('sign-in failed: ' + (json.error_description || json.error || res.status));
  state.token = json.access_token;
}

async function api(path, init) {
  const res = await fetch(path, {
    ...(init || {}),
    headers: { authorization: 'Bearer ' + state.token, ...((init && init.headers) || {}) },
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((json.error && json.error.message) || ('the server answered ' + res.status));
  return json;
}

function left(seconds) {
  if (seconds <= 0) return 'expired';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? m + ' min ' + s + ' s left' : s + ' s left';
}

function field(dl, name, value, pre) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  if (pre) {
    const p = document.createElement('pre');
    p.textContent = value;
    dd.append(p);
  } else dd.textContent = value;
  dl.append(dt, dd);
  return dd;
}

function render(list) {
  const ul = $('requests');
  ul.replaceChildren();
  $('empty').hidden = list.length > 0;
  for (const r of list) {
    const li = document.createElement('li');
    li.className = 'request';
    li.dataset.id = r.id;
    const h = document.createElement('h2');
    h.id = 'title-' + r.id;
    h.textContent = r.tool + ' on ' + r.server;
    li.setAttribute('aria-labelledby', h.id);
    const dl = document.createElement('dl');
    field(dl, 'Plan', r.plan, true);
    field(dl, 'Requester', r.requester.subject + (r.requester.clientId ? ' (client ' + r.requester.clientId + ')' : ''));
    field(dl, 'SPIFFE ID', r.requester.spiffeId || 'none');
    field(dl, 'Arguments', JSON.stringify(r.args, null, 2), true);
    field(dl, 'Approvals', r.approvals.length + ' of ' + r.count + ' (' + r.approvers + ')' +
      (r.approvals.length ? ': ' + r.approvals.map((a) => a.subject).join(', ') : ''));
    const time = field(dl, 'Time left', left(r.secondsLeft));
    time.className = 'time-left';
    time.dataset.expires = r.expiresAt;
    field(dl, 'Request id', r.id);
    li.append(h, dl);
    if (r.canDecide) {
      const label = document.createElement('label');
      label.htmlFor = 'comment-' + r.id;
      label.textContent = 'Comment (optional)';
      const text = document.createElement('textarea');
      text.id = 'comment-' + r.id;
      text.maxLength = 500;
      const actions = document.createElement('div');
      actions.className = 'actions';
      for (const [action, name] of [['approve', 'Approve'], ['reject', 'Reject']]) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = action;
        b.textContent = name;
        b.setAttribute('aria-describedby', h.id);
        b.addEventListener('click', () => decide(r.id, action, text.value, actions));
        actions.append(b);
      }
      li.append(label, text, actions);
    } else {
      const p = document.createElement('p');
      p.className = 'note';
      p.textContent = 'You cannot decide this request (your own, already decided by you, or another approver group).';
      li.append(p);
    }
    ul.append(li);
  }
}

async function decide(id, action, comment, actions) {
  for (const b of actions.querySelectorAll('button')) b.disabled = true;
  try {
    const r = await api('/approvals/' + encodeURIComponent(id) + '/' + action, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(comment.trim() ? { comment: comment.trim() } : {}),
    });
    say(action === 'approve'
      ? (r.state === 'approved' ? 'Approved: ' + r.tool + ' may now run once.' : 'Your approval is recorded; another approver is needed.')
      : 'Rejected: ' + r.tool + ' will not run.');
  } catch (e) {
    say(e.message);
  }
  await load();
}

async function load() {
  try {
    const json = await api('/approvals');
    render(json.approvals);
  } catch (e) {
    say(e.message);
  }
}

function tick() {
  for (const dd of document.querySelectorAll('.time-left')) {
    dd.textContent = left(Math.floor((Date.parse(dd.dataset.expires) - Date.now()) / 1000));
  }
}

async function main() {
  const res = await fetch('/approvals/console/config.json');
  if (!res.ok) { say('The approvals console is not configured on this server (set approvals.consoleClientId).'); return; }
  state.config = await res.json();
  $('server').textContent = state.config.server;
  state.oidc = await discover();
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) await finishLogin(params);
  if (!state.token) {
    $('login').hidden = false;
    $('login').addEventListener('click', () => { login().catch((e) => say(e.message)); });
    say('Sign in to see pending requests.');
    return;
  }
  $('refresh').hidden = false;
  $('refresh').addEventListener('click', () => { load(); });
  $('who').textContent = 'signed in';
  say('');
  await load();
  setInterval(tick, 1000);
  // Periodic refresh, but never under an operator who is typing a comment.
  setInterval(() => {
    const typing = [...document.querySelectorAll('textarea')].some((t) => t.value || t === document.activeElement);
    if (!typing) load();
  }, 15000);
}

main().catch((e) => say(e.message));
`;
