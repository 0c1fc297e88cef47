/** Where the Docker Engine is and how its failures become ToolErrors with stable codes. */
import { isBrokenConnection, sliceChars, stripTerminalControls, ToolError } from '@ravenhelm/kit';

export type DockerEndpoint = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number };

/** Parses a DOCKER_HOST value; throws a plain Error naming the accepted forms. */
export function parseDockerHost(value: string): DockerEndpoint {
  if (value.startsWith('unix://')) {
    const socketPath = value.slice('unix://'.length);
    if (!socketPath.startsWith('/'))
      throw new Error('DOCKER_HOST unix:// needs an absolute socket path, e.g. unix:///var/run/docker.sock');
    return { kind: 'unix', socketPath };
  }
  const m = /^(?:tcp|http):\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/.exec(value);
  if (!m)
    throw new Error(
      'DOCKER_HOST must look like tcp://host:port or unix:///path/to/docker.sock (TLS endpoints are not supported)',
    );
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error('DOCKER_HOST port must be between 1 and 65535');
  return { kind: 'tcp', host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EPERM',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ENOTSOCK',
]);

/**
 * Maps a failed engine call to a ToolError: timeouts, cancellations, HTTP statuses (404 names what was
 * looked for) and connection failures (which name the endpoint and say to check DOCKER_HOST / dockerd).
 */
export function engineError(
  endpoint: string,
  err: unknown,
  subject: string,
  timeout: AbortSignal,
  timeoutMs: number,
): ToolError {
  // already explained (a too-large answer, a deadline reached while queued)
  if (err instanceof ToolError) return err;
  if (timeout.aborted) {
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `the Docker Engine at ${endpoint} did not answer about ${subject} within ${timeoutMs} ms; check that dockerd is healthy, then retry`,
    );
  }
  const e = err as { name?: string; code?: string; statusCode?: number; json?: unknown; message?: string };
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') {
    return new ToolError('ERR_BACKEND_TIMEOUT', `the call to the Docker Engine about ${subject} was cancelled`);
  }
  if (typeof e?.statusCode === 'number') {
    const status = e.statusCode;
    const engineMessage = engineMessageOf(e.json) ?? '';
    if (status === 404) {
      return new ToolError(
        'ERR_NOT_FOUND',
        `${subject} was not found on the Docker Engine${engineMessage ? ` (${engineMessage})` : ''}; check the name or id with containers_list`,
        { status },
      );
    }
    if (status === 304) return new ToolError('ERR_CONFLICT', `${subject} is already in that state`, { status });
    // a reference that is no name and prefixes several ids: dockerd 20.10 answers 500, a stricter one 400
    if (AMBIGUOUS_PREFIX.test(engineMessage)) {
      return new ToolError(
        'ERR_INVALID_INPUT',
        `${subject} is an id prefix that more than one container's id starts with (${engineMessage}); give more characters of the id, or the container's name (see containers_list)`,
        { status },
      );
    }
    if (status === 409)
      return new ToolError(
        'ERR_CONFLICT',
        `the Docker Engine refused the request for ${subject}: ${engineMessage || 'conflict'}`,
        { status },
      );
    if (status === 400)
      return new ToolError(
        'ERR_INVALID_INPUT',
        `the Docker Engine rejected the request for ${subject}: ${engineMessage || 'bad parameter'}`,
        { status },
      );
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `the Docker Engine failed on ${subject} (HTTP ${status})${engineMessage ? `: ${engineMessage}` : ''}`,
      { status },
    );
  }
  const code = e?.code ?? '';
  // A connection that was made, then dropped: not an engine that cannot be reached.
  if (isBrokenConnection(code)) {
    // the socket was open: the engine (or whatever serves its socket) dropped it mid-call
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the connection to the Docker Engine at ${endpoint} broke during the call about ${subject} (${code}); retry, and if it repeats check dockerd and anything proxying its socket`,
      { code },
    );
  }
  if (UNAVAILABLE_CODES.has(code)) {
    const hint =
      code === 'EACCES' || code === 'EPERM'
        ? 'the server may not have permission to use the Docker socket'
        : 'check DOCKER_HOST / the socket path and that dockerd is running';
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the Docker Engine is unreachable at ${endpoint} (${code}); ${hint}`,
      { code },
    );
  }
  return new ToolError(
    'ERR_BACKEND_ERROR',
    `the Docker Engine call about ${subject} failed (${code || e?.name || 'error'}); check dockerd at ${endpoint}`,
  );
}

const AMBIGUOUS_PREFIX = /multiple IDs found with provided prefix/i;

function engineMessageOf(json: unknown): string | undefined {
  let msg: unknown = json;
  if (Buffer.isBuffer(json)) msg = json.toString('utf8');
  if (msg && typeof msg === 'object' && typeof (msg as { message?: unknown }).message === 'string')
    msg = (msg as { message: string }).message;
  if (typeof msg !== 'string') return undefined;
  // the engine quotes what a container's owner chose (its command, paths) as it is, terminal controls included
  const text = stripTerminalControls(msg).trim();
  return text === '' ? undefined : sliceChars(text, 300);
}

/** An engine error about a container, naming it as the caller knows it instead of by the 64-hex id a call used. */
export function namedAfter(err: unknown, id: string, name: string): unknown {
  return err instanceof ToolError && err.message.includes(id)
    ? new ToolError(err.code, err.message.split(id).join(name), { ...err.details })
    : err;
}

/** The engine's 501 "configured logging driver does not support reading": no retry can read that log. */
export function isUnreadableLogDriver(err: ToolError): boolean {
  return err.details.status === 501 || /does not support reading/i.test(err.message);
}
