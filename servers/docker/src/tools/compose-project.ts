import { clipChars, type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { COMPOSE_PROJECT_LABEL, nameShown, serviceOf } from '../state.js';
import type { DockerServices } from './define.js';

/**
 * A `docker compose run` container: Compose labels it oneoff=True with the service it ran. It is no replica
 * of the service, and docker compose ps, start, stop and restart leave it out (their oneOffExclude filter).
 */
export const isOneOff = (c: Docker.ContainerInfo): boolean =>
  c.Labels?.['com.docker.compose.oneoff']?.toLowerCase() === 'true';

/** Splits a project's containers into the services' own and the one-off `run` containers. */
export function withoutOneOffs(all: readonly Docker.ContainerInfo[]): {
  own: Docker.ContainerInfo[];
  oneOffs: Docker.ContainerInfo[];
} {
  return { own: all.filter((c) => !isOneOff(c)), oneOffs: all.filter(isOneOff) };
}

/** Where Compose ran from: it labels every container it makes with it (docker/compose pkg/api/labels.go). */
export const WORKING_DIR_LABEL = 'com.docker.compose.project.working_dir';

/** The containers of each working dir, for the dirs the containers name (containers without the label aside). */
export function byWorkingDir(containers: readonly Docker.ContainerInfo[]): Map<string, Docker.ContainerInfo[]> {
  const dirs = new Map<string, Docker.ContainerInfo[]>();
  for (const c of containers) {
    const dir = c.Labels?.[WORKING_DIR_LABEL];
    if (dir) dirs.set(dir, [...(dirs.get(dir) ?? []), c]);
  }
  return dirs;
}

/** Working dirs an answer names: at most DIRS_SHOWN, each cut to 200 characters. */
export const DIRS_SHOWN = 5;
export const shownDir = (dir: string) => clipChars(dir, 200);
export const quotedDirs = (sorted: readonly string[]) =>
  sorted
    .slice(0, DIRS_SHOWN)
    .map((d) => JSON.stringify(shownDir(d)))
    .join(', ');

/**
 * Compose finds a project's containers by the project label alone (and its `ls` merges the config files of
 * every container of the name: docker/compose pkg/compose/ls.go), so two deployments given the same project
 * name in different directories are one project to it. Starting, stopping or restarting them as one would act
 * on a deployment the caller did not mean: refused, naming each working dir and its containers.
 */
export function refuseMixedDeployments(project: string, containers: readonly Docker.ContainerInfo[]): void {
  const dirs = byWorkingDir(containers);
  if (dirs.size < 2) return;
  const each = [...dirs.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, DIRS_SHOWN)
    .map(([dir, cs]) => `${JSON.stringify(shownDir(dir))}: ${namesOf(cs)}`);
  throw new ToolError(
    'ERR_CONFLICT',
    `nothing was done: compose project "${project}" is ${dirs.size} deployments from different working dirs (${WORKING_DIR_LABEL}): ${each.join('; ')}. Act on one deployment's containers with containers_start/containers_stop/containers_restart, or choose services that only one of them has`,
    {
      project,
      workingDirs: [...dirs.keys()].sort().slice(0, DIRS_SHOWN).map(shownDir),
    },
  );
}

/** The first `max` names, then how many more. */
export const listed = (names: readonly string[], max: number) =>
  `${names.slice(0, max).join(', ')}${names.length > max ? ` and ${names.length - max} more` : ''}`;

/** The project's containers (optionally some services), sorted by service then name; ERR_NOT_FOUND when none match. */
export async function projectContainers(
  ctx: ToolContext<DockerServices>,
  project: string,
  services?: string[],
  opts: { oneDeployment?: boolean } = {},
): Promise<Docker.ContainerInfo[]> {
  const all = await ctx.docker.listContainers({ label: [`${COMPOSE_PROJECT_LABEL}=${project}`] }, ctx.signal);
  if (all.length === 0) {
    throw new ToolError(
      'ERR_NOT_FOUND',
      `no container carries the label ${COMPOSE_PROJECT_LABEL}=${project}; see the known projects with compose_list_projects`,
    );
  }
  let chosen = all;
  if (services) {
    const known = new Set(all.map(serviceOf));
    const missing = services.filter((s) => !known.has(s));
    if (missing.length > 0) {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `project "${project}" has no service ${missing.map((s) => `"${s}"`).join(', ')}; its services are: ${listed([...known].sort(), 50)}`,
      );
    }
    const wanted = new Set(services);
    chosen = all.filter((c) => wanted.has(serviceOf(c)));
  }
  chosen.sort(
    (a, b) => serviceOf(a).localeCompare(serviceOf(b)) || nameShown(a.Names).localeCompare(nameShown(b.Names)),
  );
  if (opts.oneDeployment) refuseMixedDeployments(project, chosen);
  return chosen;
}

/** Names a message lists before counting the rest. */
export const NAMES_SHOWN = 10;

/** The first NAMES_SHOWN names of rows (named) or containers, then how many more. */
export function namesOf(items: readonly ({ name: string } | Docker.ContainerInfo)[]): string {
  return listed(
    items.map((i) => ('name' in i ? i.name : nameShown(i.Names))),
    NAMES_SHOWN,
  );
}
