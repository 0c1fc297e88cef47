import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { watchedItem } from './routes.js';

describe('watchedItem: what shows that Traefik dropped a removed file', () => {
  it('the router named like the file, when the file defines it (every file this server writes)', () => {
    const own = 'http:\n  routers:\n    other: {}\n    shop: {}\n';
    expect(watchedItem(parse(own), 'shop')).toEqual({ path: 'api/http/routers', name: 'shop@file' });
  });

  it("else the file's first router, TCP or UDP router, then service or middleware", () => {
    const cases: [content: string, path: string, name: string][] = [
      ['http:\n  routers:\n    legacy-web: {}\n', 'api/http/routers', 'legacy-web@file'],
      ['tcp:\n  routers:\n    db: {}\n  services:\n    pg: {}\n', 'api/tcp/routers', 'db@file'],
      ['udp:\n  services:\n    dns: {}\n', 'api/udp/services', 'dns@file'],
      ['http:\n  middlewares:\n    auth: {}\n', 'api/http/middlewares', 'auth@file'],
    ];
    for (const [content, path, name] of cases)
      expect(watchedItem(parse(content), 'handmade'), content).toEqual({ path, name });
  });

  it('the router named like the file when the file defines nothing or could not be read', () => {
    for (const content of ['', 'http: {}\n', '- a list\n', 'http:\n  routers: [a]\n'])
      expect(watchedItem(parse(content), 'shop'), content).toEqual({ path: 'api/http/routers', name: 'shop@file' });
    expect(watchedItem(undefined, 'shop')).toEqual({ path: 'api/http/routers', name: 'shop@file' });
  });
});
