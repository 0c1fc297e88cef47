import type Docker from 'dockerode';
import type { DockerBackend } from '../backend.js';
import { type ContainerStateT, healthOfStatusText, nameOf, nameShown, shortId } from '../state.js';

/**
 * The list row of one container, found by id (prefix) or exact name: the engine answers a list from its
 * in-memory view without taking the container's lock, which an inspect waits on (a container busy stopping
 * or starting), so a list still answers when an inspect of that container hangs. Undefined when none matches.
 */
export async function listRowOf(
  docker: DockerBackend,
  ref: string,
  signal: AbortSignal,
): Promise<Docker.ContainerInfo | undefined> {
  if (/^[0-9a-f]{1,64}$/.test(ref)) {
    const byId = (await docker.listContainers({ id: [ref] }, signal)).filter((c) => c.Id.startsWith(ref));
    if (byId.length === 1) return byId[0];
  }
  // the name filter is an unanchored pattern: the exact name is picked from what it returns
  const escaped = ref.replace(/[.]/g, '\\.');
  const byName = await docker.listContainers({ name: [`^/${escaped}$`] }, signal);
  return byName.find((c) => nameOf(c.Names) === ref);
}

/**
 * A container's state as far as its list row tells it: the state, health and exit code of its status text
 * ("Exited (1) 2 minutes ago"). What only an inspect knows (OOM kill, restart count, start and finish times)
 * reads false, 0 and null: the answer must say so.
 */
export function stateOfListRow(c: Docker.ContainerInfo): ContainerStateT {
  const exited = /^Exited \((-?\d+)\)/.exec(c.Status);
  return {
    id: shortId(c.Id),
    name: nameShown(c.Names),
    state: c.State,
    running: c.State === 'running',
    health: healthOfStatusText(c.Status),
    exitCode: exited ? Number(exited[1]) : null,
    oomKilled: false,
    restartCount: 0,
    startedAt: null,
    finishedAt: null,
  };
}
