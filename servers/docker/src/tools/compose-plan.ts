import { createHash } from 'node:crypto';
import type { ToolContext } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import type { LifecycleAction } from '../lifecycle.js';
import { nameShown, shortId } from '../state.js';
import { namesOf, projectContainers, withoutOneOffs } from './compose-project.js';
import type { DockerServices } from './define.js';

/** Containers a plan lists by name; the rest are counted (and bound all the same by the set digest). */
const PLAN_NAMES = 50;

/**
 * The plan of a project lifecycle call: names the containers it resolves to, and hands them to the handler
 * (ctx.planned) once the kit checked this plan. The kit binds a confirmation (or an approval) to the text,
 * so a container that joins or leaves the project before the confirmed call refuses it (ERR_CONFLICT); one
 * that joins after that check is left alone, since the handler acts on the planned containers only.
 */
export const planProject =
  (action: LifecycleAction) =>
  async (
    { project, services }: { project: string; services?: string[] | undefined },
    ctx: ToolContext<DockerServices>,
  ): Promise<{ text: string; bound: Docker.ContainerInfo[] }> => {
    const { own, oneOffs } = withoutOneOffs(await projectContainers(ctx, project, services, { oneDeployment: true }));
    const left =
      oneOffs.length > 0
        ? `; left as they are: ${oneOffs.length} one-off container(s) of docker compose run (${namesOf(oneOffs)})`
        : '';
    return { text: `${planOf(action, project, services, own)}${left}`, bound: own };
  };

function planOf(
  action: LifecycleAction,
  project: string,
  services: string[] | undefined,
  containers: readonly Docker.ContainerInfo[],
): string {
  const listed = containers.slice(0, PLAN_NAMES).map((c) => `${nameShown(c.Names)} (${shortId(c.Id)})`);
  const more = containers.length - listed.length;
  // Every id, sorted: the set itself, even past the names shown.
  const set = createHash('sha256')
    .update(
      containers
        .map((c) => c.Id)
        .sort()
        .join(','),
    )
    .digest('hex')
    .slice(0, 16);
  const scope = services
    ? `services ${services.join(', ')} of compose project "${project}"`
    : `compose project "${project}"`;
  return (
    `${action} the ${containers.length} container(s) of ${scope}, and only these: ${listed.join(', ')}` +
    `${more > 0 ? ` and ${more} more` : ''} (container set ${set})`
  );
}
