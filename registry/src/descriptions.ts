/**
 * What a description must carry (issue 9, the team's rule): a tool description is one short sentence
 * that says what an agent needs to choose the tool, without repeating the title; an argument
 * description carries what the argument's name, type, enum, default and bounds do not (format, units,
 * semantics). Free-form string arguments and required arguments always have one.
 */

/** Longest tool description: one short sentence. */
export const MAX_TOOL_DESCRIPTION = 120;
/** Longest argument description. */
export const MAX_ARGUMENT_DESCRIPTION = 70;

/** Words that carry no information of their own in an argument description. */
const FILLER = new Set(
  'a an the of to in on by or and for with is are be as at from its it this these that only all any max maximum min minimum most number count value values list page size filter status state name names'.split(
    ' ',
  ),
);
const TYPE_WORDS = new Set(['string', 'integer', 'number', 'boolean', 'array', 'object', 'true', 'false', 'flag']);

type Schema = Record<string, unknown>;

const wordsOf = (text: string): string[] =>
  text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);

const stem = (word: string) => word.replace(/(ies|es|s)$/, '');

/** Problems of one tool description, given its title. */
export function toolDescriptionProblems(title: string, description: string): string[] {
  const d = description.trim();
  const p: string[] = [];
  if (d.length === 0) return ['no description'];
  if (d.length > MAX_TOOL_DESCRIPTION) p.push(`description is ${d.length} chars (at most ${MAX_TOOL_DESCRIPTION})`);
  if (/[.!?]\s+\S/.test(d)) p.push('description is more than one sentence');
  const t = title.trim();
  if (t.length > 0 && new RegExp(`(?<!\\w)${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?!\\w)`, 'i').test(d))
    p.push(`description repeats the title "${t}"`);
  return p;
}

/** Problems of a tool's input-schema argument descriptions (top-level arguments). */
export function argumentDescriptionProblems(inputSchema: Schema): string[] {
  const props = (inputSchema.properties ?? {}) as Record<string, Schema>;
  const required = new Set(Array.isArray(inputSchema.required) ? (inputSchema.required as string[]) : []);
  const p: string[] = [];
  for (const [name, schema] of Object.entries(props)) {
    const description = typeof schema.description === 'string' ? schema.description.trim() : '';
    const freeString = schema.type === 'string' && !Array.isArray(schema.enum) && !('const' in schema);
    if (!description) {
      if (required.has(name)) p.push(`${name}: a required argument needs a description`);
      else if (freeString) p.push(`${name}: a free-form string argument needs a description (format, meaning)`);
      continue;
    }
    if (description.length > MAX_ARGUMENT_DESCRIPTION)
      p.push(`${name}: description is ${description.length} chars (at most ${MAX_ARGUMENT_DESCRIPTION})`);
    const known = new Set([
      ...wordsOf(name),
      ...(Array.isArray(schema.enum) ? schema.enum.flatMap((v) => wordsOf(String(v))) : []),
      ...('default' in schema ? wordsOf(JSON.stringify(schema.default)) : []),
    ]);
    const knownStems = new Set([...known].map(stem));
    // a tool name (keys_list) says where the value comes from
    const names = description.match(/\b[a-z]+(?:_[a-z]+)+\b/g) ?? [];
    const news = [...names, ...wordsOf(description)].filter(
      (w) => !FILLER.has(w) && !TYPE_WORDS.has(w) && !known.has(w) && !knownStems.has(stem(w)),
    );
    if (news.length === 0)
      p.push(`${name}: description "${description}" only repeats the name, type, enum or default; drop it or say more`);
  }
  return p;
}
