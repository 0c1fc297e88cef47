/**
 * Fair share of the Docker server's engine-call slots (its own Semaphore, backend.maxConcurrentCalls):
 * the real Docker Engine behind a Unix-socket proxy that holds each container list for DELAY_MS, two
 * agents with their own tokens as real SDK clients over Streamable HTTP. Agent A fires 32 container lists
 * at once, 28 of them wait for the 4 slots; agent B's one list gets the next free slot instead of waiting
 * behind all of A's (first in, first out, it would finish after A's eighth wave).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DockerServices, dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { type Agents, expectFairShare, serveAgents } from './fair-backend-harness.js';

const DELAY_MS = 200;
const SLOTS = 4;
const FLOOD = 32;

const dir = mkdtempSync(join(tmpdir(), 'rh-fair-docker-'));
let slow: FaultProxy;
let served: Agents<DockerServices>;

beforeAll(async () => {
  slow = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: join(dir, 'docker.sock') });
  slow.only = /^GET \/[^ ]*containers\/json/;
  served = await serveAgents<DockerServices>(dockerServer, {
    env: { DOCKER_HOST: `unix://${slow.socketPath}` },
    scopes: ['mcp:docker:read'],
    agents: ['a', 'b'],
    overrides: { 'backend.timeoutMs': 20_000, 'backend.maxConcurrentCalls': SLOTS },
  });
}, 60_000);

afterAll(async () => {
  await served?.close();
  await slow?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("one agent's flood of container lists does not make another agent's list wait behind it", async () => {
  const list = { name: 'containers_list', arguments: { limit: 1 } };
  const first = await served.clients.b?.callTool(list);
  expect(first?.isError, JSON.stringify(first?.content)).toBeFalsy();
  await expectFairShare(
    served,
    slow,
    { delayMs: DELAY_MS, flood: FLOOD, call: list, slots: served.services.docker.slots },
    'fair docker',
  );
}, 60_000);
