import { describe, expect, it } from 'vitest';
import { watchedItem } from './routes.js';

describe('watchedItem: what shows that Traefik dropped a removed file', () => {
  it('the router named like the file, when the file defines it (every file this server writes)', () => {
    const own = 'http:\n  routers:\n    other: {}\n    shop: {}\n';
    expect(watchedItem(own, 'shop')).toEqual({ path: 'api/http/routers', name: 'shop@file' });
  });

  it("else the file's first router, TCP or UDP router, then service or middleware", () => {
    const cases: [content: string, path: string, name: string][] = [
      ['http:\n  routers:\n    legacy-web: {}\n', 'api/http/routers', 'legacy-web@file'],
      ['tcp:\n  routers:\n    db: {}\n  services:\n    pg: {}\n', 'api/tcp/routers', 'db@file'],
      ['udp:\n  services:\n    dns: {}\n', 'api/udp/services', 'dns@file'],
      ['http:\n  middlewares:\n    auth: {}\n', 'api/http/middlewares', 'auth@file'],
    ];
    for (const [content, path, name] of cases)
      expect(watchedItem(content, 'handmade'), content).toEqual({ path, name });
  });

  it('the router named like the file when the file defines nothing or is not YAML', () => {
    for (const content of ['', 'http: {}\n', 'http: [unclosed\n', '- a list\n', 'http:\n  routers: [a]\n'])
      expect(watchedItem(content, 'shop'), content).toEqual({ path: 'api/http/routers', name: 'shop@file' });
  });
});
