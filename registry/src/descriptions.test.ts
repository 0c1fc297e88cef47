import { describe, expect, it } from 'vitest';
import { argumentDescriptionProblems, toolDescriptionProblems } from './descriptions.js';

describe('toolDescriptionProblems', () => {
  it('accepts one short sentence that does not repeat the title', () => {
    expect(
      toolDescriptionProblems('List containers', 'Containers (also stopped) with state and health; paged.'),
    ).toEqual([]);
  });

  it('refuses a repeated title, a second sentence, a long text and none at all', () => {
    expect(toolDescriptionProblems('List containers', 'List containers with state.')).toEqual([
      'description repeats the title "List containers"',
    ]);
    expect(toolDescriptionProblems('T', 'Does one thing. Then another.')).toEqual([
      'description is more than one sentence',
    ]);
    expect(toolDescriptionProblems('T', 'x'.repeat(121))).toEqual(['description is 121 chars (at most 120)']);
    expect(toolDescriptionProblems('T', ' ')).toEqual(['no description']);
    expect(toolDescriptionProblems('Get a secret (masked)', 'Get a secret (masked) view.')).toEqual([
      'description repeats the title "Get a secret (masked)"',
    ]);
  });

  it('does not take a version or a decimal for a sentence end', () => {
    expect(toolDescriptionProblems('T', 'Matches Traefik v3.1 rules, 0.5 s sample.')).toEqual([]);
  });
});

describe('argumentDescriptionProblems', () => {
  const schema = (properties: Record<string, unknown>, required: string[] = []) => ({
    type: 'object',
    properties,
    required,
  });

  it('needs a description on required and free-form string arguments only', () => {
    expect(
      argumentDescriptionProblems(
        schema({ id: { type: 'integer' }, q: { type: 'string' }, mode: { enum: ['a', 'b'] }, n: { type: 'integer' } }, [
          'id',
        ]),
      ),
    ).toEqual([
      'id: a required argument needs a description',
      'q: a free-form string argument needs a description (format, meaning)',
    ]);
  });

  it('refuses descriptions that only repeat the name, type, enum or default', () => {
    expect(
      argumentDescriptionProblems(
        schema({
          limit: { type: 'integer', default: 50, description: 'Page size' },
          health: { enum: ['healthy', 'none'], description: 'Health status' },
          ignoreCase: { type: 'boolean', description: 'Ignore case' },
          streams: { enum: ['both', 'stdout'], default: 'both', description: 'Both streams' },
        }),
      ),
    ).toEqual([
      'limit: description "Page size" only repeats the name, type, enum or default; drop it or say more',
      'health: description "Health status" only repeats the name, type, enum or default; drop it or say more',
      'ignoreCase: description "Ignore case" only repeats the name, type, enum or default; drop it or say more',
      'streams: description "Both streams" only repeats the name, type, enum or default; drop it or say more',
    ]);
  });

  it('accepts descriptions that carry format, units, semantics or where a value comes from', () => {
    expect(
      argumentDescriptionProblems(
        schema(
          {
            since: { type: 'string', description: 'Newer than: "15m", "2h" or ISO-8601' },
            stopTimeoutSeconds: { type: 'integer', description: 'Seconds from SIGTERM to SIGKILL' },
            keyId: { type: 'string', description: 'From keys_list' },
          },
          ['keyId'],
        ),
      ),
    ).toEqual([]);
  });

  it('caps an argument description at 70 characters', () => {
    expect(
      argumentDescriptionProblems(schema({ q: { type: 'string', description: `RE2 ${'x'.repeat(70)}` } })),
    ).toEqual(['q: description is 74 chars (at most 70)']);
  });
});
