/**
 * One file Traefik's file provider cannot decode keeps it from loading the whole directory (pkg/provider/file/
 * file.go: collectFileConfigs fails, the provider keeps its previous configuration), and Traefik's API has no
 * per-file error. routes_apply / routes_remove then time out: the note must name the file that most likely blocks
 * the directory, judged from what the server can see (files failing its own YAML check, else the newest file it
 * did not write), without quoting the file. Through the real bin over stdio and the simulator.
 */
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmed, connectStdio, type Structured, useTraefikSession } from './harness.js';

const session = useTraefikSession();
let slow: Client;

beforeAll(async () => {
  slow = await connectStdio({ ...session.fx.env, TRAEFIK_LOAD_TIMEOUT_MS: '700' });
});
afterAll(async () => {
  await slow?.close();
});

const put = (rel: string, text: string, ageSeconds = 0) => {
  const path = join(session.fx.dir, rel);
  writeFileSync(path, text);
  if (ageSeconds > 0) {
    const t = Date.now() / 1000 - ageSeconds;
    utimesSync(path, t, t);
  }
};

async function applyBlocked(name: string): Promise<string> {
  const { result } = await confirmed(slow, 'routes_apply', {
    name,
    rule: `Host(\`${name}.example.com\`)`,
    servers: ['http://10.0.0.8'],
    dryRun: false,
  });
  expect(result.structuredContent).toMatchObject({ written: true, loaded: false });
  expect(session.fx.sim.fileError).toBeDefined(); // the simulator (Traefik) refused the directory
  return (result.structuredContent as Structured).note as string;
}

/** Removes the bad file and waits until the simulator loads the directory again. */
async function clear(rel: string) {
  rmSync(join(session.fx.dir, rel), { recursive: true, force: true });
  for (let i = 0; i < 100 && session.fx.sim.fileError !== undefined; i++) await new Promise((r) => setTimeout(r, 25));
  expect(session.fx.sim.fileError).toBeUndefined();
}

describe('the file that blocks the directory is named', () => {
  it('a file in a subdirectory that is not YAML, by its place and position only', async () => {
    put('handmade.yml', 'http:\n  routers: {}\n', 3600);
    mkdirSync(join(session.fx.dir, 'team'));
    put('team/broken.yml', 'http:\n  routers: [unclosed-secret-token\n');
    const note = await applyBlocked('first');
    expect(note).toMatch(/one bad file blocks the whole directory/);
    expect(note).toMatch(/"team\/broken\.yml" in .* does not parse as YAML \(line \d+, column \d+\): fix or remove it/);
    expect(note).not.toContain('unclosed-secret-token');
    expect(note).not.toContain('handmade');
    await clear('team');
  });

  it('a file whose top level is a list', async () => {
    put('list.yaml', '- http\n- tcp\n');
    const note = await applyBlocked('second');
    expect(note).toMatch(/"list\.yaml" in .* is not a YAML mapping at its top level: fix or remove it/);
    await clear('list.yaml');
  });

  it('a file our YAML check passes but Traefik refuses: the newest file the server did not write', async () => {
    // yaml.v3 reads 2024-01-01 as a timestamp, which paerser refuses ("unsupported type: struct")
    put('when.yml', 'http:\n  routers:\n    dated:\n      rule: 2024-01-01\n      service: s\n', 60);
    put('older.yml', 'http:\n  routers: {}\n', 7200);
    const note = await applyBlocked('third');
    expect(note).toMatch(
      /no other file fails our YAML check .*; the newest file this server did not write is "when\.yml" \(changed \d+ s ago\): check it first/,
    );
    await clear('when.yml');
  });

  it('routes_remove names it too', async () => {
    put('list.yaml', '- http\n');
    const { result } = await confirmed(slow, 'routes_remove', { name: 'first', dryRun: false });
    expect(result.structuredContent).toMatchObject({ written: true, loaded: false });
    expect((result.structuredContent as Structured).note).toMatch(/"list\.yaml" in .* is not a YAML mapping/);
    await clear('list.yaml');
  });
});
