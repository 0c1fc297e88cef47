/**
 * The gitbeaker side of the backend, imported on the first GitLab call (see `GitLabBackend`): its
 * resources, request builder and their dependencies stay off the start-up path of an idle server.
 */
import { createRequesterFn } from '@gitbeaker/requester-utils';
import { Gitlab } from '@gitbeaker/rest';
import { createHandler, type HandlerOptions } from './client.js';

export type Api = InstanceType<typeof Gitlab<false>>;

export interface ApiOptions extends HandlerOptions {
  host: string;
  token: () => Promise<string>;
  queryTimeout: number;
}

/** gitbeaker resources over our request handler: it builds endpoints, queries and bodies; we send them. */
export function createApi({ host, token, queryTimeout, ...handler }: ApiOptions): Api {
  return new Gitlab({
    host,
    token,
    queryTimeout,
    requesterFn: createRequesterFn(
      (_service, requestOptions) => Promise.resolve(requestOptions),
      createHandler(handler),
    ),
    // client-side throttling is GitLab's job here; we honour its 429s instead
    rateLimits: {},
  }) as Api;
}
