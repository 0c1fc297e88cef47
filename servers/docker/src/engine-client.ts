/**
 * dockerode's connection layer (docker-modem, and ssh2 behind it), imported on the first engine call (see
 * `DockerBackend`): an idle server does not load it.
 */
import Docker from 'dockerode';
import type { DockerEndpoint } from './engine-errors.js';

/** What the backend uses of docker-modem: one request at a time, answered through a callback. */
export interface DockerModem {
  dial(opts: Record<string, unknown>, cb: (err: unknown, data: unknown) => void): void;
}

/** The modem for one endpoint. Every connection field is given so dockerode's own DOCKER_HOST reading cannot override it. */
export function createModem(ep: DockerEndpoint): DockerModem {
  const docker =
    ep.kind === 'unix'
      ? new Docker({
          socketPath: ep.socketPath,
          host: undefined,
          port: undefined,
          protocol: 'http',
        } as Docker.DockerOptions)
      : new Docker({ host: ep.host, port: ep.port, protocol: 'http', socketPath: undefined } as Docker.DockerOptions);
  return docker.modem as unknown as DockerModem;
}
