// End to end: onboard an agent through the Zitadel server (SDK Client over stdio), log in as that
// agent at the simulator with the key it got (JWT-profile grant, JWT access token with per-project
// role claims), and call the Docker server over HTTP with that token through the real auth package:
// exactly the promised scopes work, nothing more - not even a same-named role of another project.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  oauthAuthenticatorFactory,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBody } from '../fixtures/kit-harness.js';
import { connectStdio, ROLE_SCOPES, type StdioSession, startZitadelFixture, type ZitadelFixture } from './harness.js';

const RESOURCE = 'https://mcp.ravenhelm.test/docker';
let fx: ZitadelFixture;
let s: StdioSession;
let docker: { rt: SuiteRuntime; http: HttpServerHandle } | undefined;
const dir = mkdtempSync(join(tmpdir(), 'rh-zitadel-e2e-'));

beforeAll(async () => {
  fx = await startZitadelFixture();
  s = await connectStdio(fx.env);
  const config = loadConfig({
    backendSchema: dockerServer.backendConfig,
    env: {
      RAVENHELM_HTTP_PORT: '0',
      RAVENHELM_PUBLIC_URL: RESOURCE,
      RAVENHELM_AUTH_ISSUER: fx.sim.issuer,
      RAVENHELM_AUTH_AUDIENCES: fx.ids.projectId,
      RAVENHELM_AUTH_PROJECT_ID: fx.ids.projectId,
      RAVENHELM_AUTH_ALLOWED_ORG_IDS: fx.ids.orgId,
      RAVENHELM_AUDIT_FILE: join(dir, 'docker-audit.jsonl'),
    },
    overrides: { 'auth.roleScopes': ROLE_SCOPES },
  });
  const rt = await createRuntime(dockerServer as never, config, silentLogger());
  const http = await startHttp(rt, { authenticator: oauthAuthenticatorFactory(config), authorizationServers: [] });
  docker = { rt, http };
}, 60_000);

afterAll(async () => {
  await docker?.http.shutdown();
  await docker?.rt.close();
  await s?.close();
  await fx?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The agent's access token, as the agent would get it with its key file. */
async function agentToken(keyFile: string, projects: string[]): Promise<string> {
  const k = JSON.parse(keyFile) as { keyId: string; userId: string; key: string };
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: k.keyId })
    .setIssuer(k.userId)
    .setSubject(k.userId)
    .setAudience(fx.sim.issuer)
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(createPrivateKey(k.key));
  const scope = [
    'openid',
    ...projects.map((p) => `urn:zitadel:iam:org:project:id:${p}:aud`),
    'urn:zitadel:iam:org:projects:roles',
  ];
  const res = await fetch(`${fx.sim.url}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      scope: scope.join(' '),
    }),
  });
  const body = (await res.json()) as { access_token: string };
  return body.access_token;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON-RPC answers are checked field by field
type Loose = Record<string, any>;

async function rpc(token: string, body: unknown) {
  const res = await fetch(docker?.http.url as string, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Loose };
}

describe('onboard an agent, then use its token on the Docker server', () => {
  it('the agent gets exactly mcp:docker:read - not the same-named admin role of another project', async () => {
    const onboarded = await s.client.callTool({
      name: 'agents_onboard',
      arguments: { username: 'agent-e2e', scopes: ['mcp:docker:read'] },
    });
    expect(onboarded.isError).toBeFalsy();
    const out = onboarded.structuredContent as {
      roles: string[];
      scopes: string[];
      user: { id: string };
      key: { keyFile: string };
    };
    expect(out).toMatchObject({ roles: ['docker.reader'], scopes: ['mcp:docker:read'] });
    // Somebody also grants it `docker.admin` in the billing project: a role of the same name elsewhere.
    fx.sim.grants.push({
      id: '42',
      userId: out.user.id,
      projectId: fx.ids.otherProjectId,
      orgId: fx.ids.orgId,
      roleKeys: ['docker.admin'],
    });
    const token = await agentToken(out.key.keyFile, [fx.ids.projectId, fx.ids.otherProjectId]);
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims[`urn:zitadel:iam:org:project:${fx.ids.otherProjectId}:roles`]).toEqual({
      'docker.admin': { [fx.ids.orgId]: 'ravenhelm.zitadel.test' },
    });

    const list = await rpc(token, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(list.status).toBe(200);
    const names = (list.json.result.tools as { name: string; annotations: { readOnlyHint: boolean } }[]).map(
      (t) => t.name,
    );
    const specs = dockerServer.tools;
    const readOnly = specs.filter((t) => t.scopes.every((sc) => sc === 'mcp:docker:read')).map((t) => t.name);
    expect(names.sort()).toEqual(readOnly.filter((n) => specs.find((t) => t.name === n)?.tier !== 'HIGH').sort());

    const read = await rpc(token, callBody('containers_list', { name: 'rh-zitadel-e2e-nothing' }));
    expect(read.status).toBe(200);
    expect(read.json.result.isError).toBeFalsy();
    const write = await rpc(token, callBody('containers_restart', { container: 'rh-zitadel-e2e-nothing' }));
    expect(write.status).toBe(403);
    expect(write.json.error.data).toMatchObject({
      code: 'ERR_INSUFFICIENT_SCOPE',
      requiredScopes: ['mcp:docker:write'],
    });
  });
});
