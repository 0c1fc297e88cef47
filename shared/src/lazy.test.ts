import { describe, expect, it } from 'vitest';
import { ToolError } from './errors.js';
import { loadOnce } from './lazy.js';

describe('loadOnce', () => {
  it('loads once for concurrent first calls and keeps the module', async () => {
    let loads = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const load = loadOnce('test client', async () => {
      loads++;
      await gate;
      return { made: loads };
    });
    const pending = [load(), load(), load()];
    release();
    const got = await Promise.all(pending);
    expect(loads).toBe(1);
    expect(got[0]).toBe(got[1]);
    expect(got[1]).toBe(got[2]);
    expect(await load()).toBe(got[0]);
    expect(loads).toBe(1);
  });

  it('turns a failed import into a tool error that says what to do, and retries on the next call', async () => {
    let attempts = 0;
    const load = loadOnce('GitLab client (@gitbeaker/rest)', async () => {
      attempts++;
      // A real failing dynamic import: a chunk or package missing from the installation.
      if (attempts === 1) return (await import(`./no-such-module-${Date.now()}.js`)) as { ok: boolean };
      return { ok: true };
    });
    const err = await load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect((err as ToolError).mapping.kind).toBe('tool');
    expect((err as ToolError).message).toMatch(
      /^this server could not load its GitLab client \(@gitbeaker\/rest\) \(\w+\); .*reinstall or rebuild it/,
    );
    expect(await load()).toEqual({ ok: true });
    expect(attempts).toBe(2);
  });

  it("names the failure's code, else its class, never its message (it may carry paths or values)", async () => {
    const missing = Object.assign(new Error('Cannot find module /srv/app/bundle/gitbeaker-X.mjs'), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const byCode = (await loadOnce('x client', () => Promise.reject(missing))().catch((e: unknown) => e)) as ToolError;
    expect(byCode.message).toContain('(ERR_MODULE_NOT_FOUND)');
    expect(byCode.message).not.toContain('/srv/app');
    const load = loadOnce('x client', () => Promise.reject(new TypeError('token=abc123 went wrong')));
    const byName = (await load().catch((e: unknown) => e)) as ToolError;
    expect(byName.message).toContain('(TypeError)');
    expect(byName.message).not.toContain('abc123');
  });
});
