import { parseToolInput } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { composeRestart } from './compose.js';

describe('compose service names', () => {
  it("takes every name the Compose file schema allows for a service (^[a-zA-Z0-9._-]+$), a leading '_' or '.' too", () => {
    for (const name of ['web', '_migrate', '.hidden', '-x', 'db_1.2-a']) {
      expect(parseToolInput(composeRestart, { project: 'shop', services: [name] }).services).toEqual([name]);
    }
    for (const name of ['a b', 'a/b', 'ü']) {
      expect(() => parseToolInput(composeRestart, { project: 'shop', services: [name] })).toThrow(
        /must be a compose service name/,
      );
    }
  });
});
