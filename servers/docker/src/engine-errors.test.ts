import { describe, expect, it } from 'vitest';
import { engineError, parseDockerHost } from './engine-errors.js';

const EP = 'unix:///var/run/docker.sock';
const live = () => new AbortController().signal;
const httpErr = (statusCode: number, message?: string) =>
  Object.assign(new Error('x'), { statusCode, json: message ? { message } : null });
const sysErr = (code: string) => Object.assign(new Error('x'), { code });

describe('engineError', () => {
  it('maps engine HTTP statuses to stable codes and keeps the engine message', () => {
    const nf = engineError(EP, httpErr(404, 'No such container: web'), 'container "web"', live(), 1000);
    expect(nf.code).toBe('ERR_NOT_FOUND');
    expect(nf.message).toContain('container "web"');
    expect(engineError(EP, httpErr(409, 'container is paused'), 's', live(), 1000)).toMatchObject({
      code: 'ERR_CONFLICT',
    });
    expect(engineError(EP, httpErr(400, 'bad filter'), 's', live(), 1000)).toMatchObject({ code: 'ERR_INVALID_INPUT' });
    const e500 = engineError(EP, httpErr(500, 'driver failed'), 's', live(), 1000);
    expect(e500.code).toBe('ERR_BACKEND_ERROR');
    expect(e500.message).toMatch(/HTTP 500.*driver failed/);
  });

  it('connection failures are ERR_BACKEND_UNAVAILABLE naming the endpoint; EACCES hints at socket permissions', () => {
    for (const code of ['ECONNREFUSED', 'ENOENT']) {
      const e = engineError(EP, sysErr(code), 's', live(), 1000);
      expect(e.code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(e.message).toContain(EP);
      expect(e.message).toMatch(/DOCKER_HOST/);
    }
    // A connection that was made and then dropped is not a wrong address: it says the call broke.
    for (const code of ['ECONNRESET', 'EPIPE']) {
      const e = engineError(EP, sysErr(code), 's', live(), 1000);
      expect(e.code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(e.message).toContain(EP);
      expect(e.message).toMatch(new RegExp(`broke during the call about s \\(${code}\\); retry`));
      expect(e.message).not.toMatch(/DOCKER_HOST/);
    }
    expect(engineError(EP, sysErr('EACCES'), 's', live(), 1000).message).toMatch(/permission/);
  });

  it('a fired timeout wins over whatever error the abort produced', () => {
    const timeout = AbortSignal.abort();
    const e = engineError(EP, httpErr(404), 's', timeout, 1234);
    expect(e.code).toBe('ERR_BACKEND_TIMEOUT');
    expect(e.message).toMatch(/1234 ms/);
  });

  it('long engine messages are clipped', () => {
    const e = engineError(EP, httpErr(500, 'y'.repeat(5000)), 's', live(), 1000);
    expect(e.message.length).toBeLessThan(500);
  });

  it("an id prefix several containers share is the caller's to fix: ERR_INVALID_INPUT saying to give more of the id", () => {
    // dockerd 20.10 answers 500 (a system error); a release that calls it a bad parameter answers 400
    for (const status of [500, 400]) {
      const e = engineError(
        EP,
        httpErr(status, 'Multiple IDs found with provided prefix: 2'),
        'container "2"',
        live(),
        1,
      );
      expect(e.code).toBe('ERR_INVALID_INPUT');
      expect(e.message).toMatch(/^container "2" is an id prefix that more than one container's id starts with/);
      expect(e.message).toMatch(/more characters of the id, or the container's name \(see containers_list\)$/);
    }
  });
});

describe('parseDockerHost', () => {
  it('accepts tcp://, http://, [ipv6] and unix:// forms', () => {
    expect(parseDockerHost('tcp://10.0.0.5:2375')).toEqual({ kind: 'tcp', host: '10.0.0.5', port: 2375 });
    expect(parseDockerHost('http://docker:2375/')).toEqual({ kind: 'tcp', host: 'docker', port: 2375 });
    expect(parseDockerHost('tcp://[::1]:2375')).toEqual({ kind: 'tcp', host: '::1', port: 2375 });
    expect(parseDockerHost('unix:///run/user/1000/docker.sock')).toEqual({
      kind: 'unix',
      socketPath: '/run/user/1000/docker.sock',
    });
  });
  it('refuses credentials, missing ports, bad ports and other schemes', () => {
    for (const bad of [
      'tcp://user:pass@h:2375',
      'tcp://h',
      'tcp://h:0',
      'tcp://h:70000',
      'ssh://h',
      'npipe:////./pipe/docker',
    ]) {
      expect(() => parseDockerHost(bad), bad).toThrow(/DOCKER_HOST/);
    }
  });
});
