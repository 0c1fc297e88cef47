import type { EffectiveTool, ToolSpec } from './types.js';

/** The command that rewrites docs/tools.md; named in the generated header and in staleness errors. */
export const DOCS_COMMAND = 'npm run docs';

type AnyTool = ToolSpec | EffectiveTool;
type Schema = Record<string, unknown>;

/** Servers alphabetically, each server's tools in declaration order (Array#sort is stable). */
function ordered<T extends AnyTool>(specs: readonly T[]): T[] {
  return [...specs].sort((a, b) => (a.server < b.server ? -1 : a.server > b.server ? 1 : 0));
}

function tierLabel(tool: AnyTool): string {
  const declared = 'declaredTier' in tool ? tool.declaredTier : tool.tier;
  return declared === tool.tier ? tool.tier : `${tool.tier} (raised from ${declared})`;
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

/** A plain-text table for the terminal: server, tool, tier, scopes, read-only, destructive. */
export function renderToolTable(specs: readonly AnyTool[]): string {
  const header = ['SERVER', 'TOOL', 'TIER', 'SCOPES', 'READ-ONLY', 'DESTRUCTIVE'];
  const rows = ordered(specs).map((t) => [
    t.server,
    t.name,
    tierLabel(t),
    t.scopes.join(', '),
    yesNo(t.annotations.readOnlyHint),
    yesNo(t.annotations.destructiveHint),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  return `${[header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

// ---- JSON Schema -> parameter rows ----

export interface ParameterRow {
  name: string;
  type: string;
  required: boolean;
  description: string;
  default?: unknown;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short type expression for a JSON Schema: `string`, `integer`, `"a" | "b"`, `string[]`, `Ref`. */
export function schemaType(schema: unknown): string {
  if (!isSchema(schema)) return 'any';
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').pop() || 'any';
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const union = (schema.anyOf ?? schema.oneOf) as unknown;
  if (Array.isArray(union)) return [...new Set(union.map(schemaType))].join(' | ');
  const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type];
  const names = types.map((type) => {
    if (type === 'array') {
      const inner = schemaType(schema.items);
      return inner.includes(' ') ? `(${inner})[]` : `${inner}[]`;
    }
    return typeof type === 'string' ? type : 'any';
  });
  return names.join(' | ');
}

function hasProperties(schema: Schema): schema is Schema & { properties: Record<string, unknown> } {
  return isSchema(schema.properties) && Object.keys(schema.properties).length > 0;
}

/** One row per property, nested objects flattened as `parent.child` and arrays of objects as `list[].child`. */
export function parameterRows(schema: unknown, prefix = ''): ParameterRow[] {
  if (!isSchema(schema) || !hasProperties(schema)) return [];
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const rows: ParameterRow[] = [];
  for (const [key, raw] of Object.entries(schema.properties)) {
    const prop = isSchema(raw) ? raw : {};
    const name = `${prefix}${key}`;
    const row: ParameterRow = {
      name,
      type: schemaType(prop),
      required: required.has(key),
      description: typeof prop.description === 'string' ? prop.description : '',
    };
    if ('default' in prop) row.default = prop.default;
    rows.push(row);
    if (hasProperties(prop)) rows.push(...parameterRows(prop, `${name}.`));
    else if (isSchema(prop.items) && hasProperties(prop.items)) rows.push(...parameterRows(prop.items, `${name}[].`));
  }
  return rows;
}

// ---- Markdown ----

/** A table cell: one line, pipes escaped (GitHub tables need that inside code spans too). */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

function code(text: string): string {
  return text === '' ? '' : `\`${text}\``;
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to dashes, repeats numbered. */
function slugger(): (heading: string) => string {
  const seen = new Map<string, number>();
  return (heading) => {
    const base = heading
      .toLowerCase()
      .replace(/[^a-z0-9 _-]/g, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}-${n}`;
  };
}

function annotationList(tool: AnyTool): string {
  const a = tool.annotations;
  return `readOnlyHint: ${a.readOnlyHint}, destructiveHint: ${a.destructiveHint}, idempotentHint: ${a.idempotentHint}, openWorldHint: ${a.openWorldHint}`;
}

function parameterTable(tool: AnyTool): string[] {
  const rows = parameterRows(tool.inputSchema);
  if (rows.length === 0) return ['No parameters.'];
  return [
    '| Parameter | Type | Required | Default | Description |',
    '|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${code(r.name)} | ${cell(code(r.type))} | ${yesNo(r.required)} | ${'default' in r ? cell(code(JSON.stringify(r.default))) : ''} | ${cell(r.description)} |`,
    ),
  ];
}

/** The content of docs/tools.md: a summary table per server, then every tool with its parameters. */
export function renderToolsMarkdown(specs: readonly AnyTool[]): string {
  const tools = ordered(specs);
  const servers = [...new Set(tools.map((t) => t.server))];
  const slug = slugger();
  slug('Tool reference');
  const out: string[] = [
    `<!-- Generated by \`${DOCS_COMMAND}\` from the tool declarations in servers/*/src. Do not edit by hand. -->`,
    '',
    '# Tool reference',
    '',
    `Generated from each server's tool declarations by \`${DOCS_COMMAND}\` (\`ravenhelm-registry docs\`); CI runs`,
    `\`${DOCS_COMMAND} -- --check\` and fails when this file is stale. ${count(tools.length, 'tool')} on ${count(servers.length, 'server')}.`,
    '',
    'Tiers: LOW needs the scopes; MEDIUM adds a per-agent rate limit; HIGH adds a SPIFFE ID on the',
    "tool's allowlist and a durable audit record. A policy file can raise a tier, never lower it.",
    '',
    'Refusals differ by transport, with the same message: over Streamable HTTP a missing scope is HTTP 403',
    'with `WWW-Authenticate: Bearer error="insufficient_scope", scope="..."` naming every scope needed (an',
    'OAuth client can step up its token); over stdio there is no HTTP, so the same refusal is a tool result',
    'with `isError: true` and the text `ERR_INSUFFICIENT_SCOPE: <tool> needs scope <scope>; add it to',
    'RAVENHELM_LOCAL_SCOPES`. HIGH tools over stdio need `RAVENHELM_LOCAL_ALLOW_HIGH=true` and',
    "`RAVENHELM_LOCAL_SPIFFE_ID` set to an ID on the tool's allowlist; their refusals say so.",
  ];
  for (const server of servers) {
    const own = tools.filter((t) => t.server === server);
    out.push('', `## ${server}`, '');
    slug(server);
    // Anchors are computed in document order: the summary links to headings that follow it.
    const anchors = own.map((t) => slug(t.name));
    out.push('| Tool | Title | Toolset | Tier | Scopes | Read-only | Destructive |', '|---|---|---|---|---|---|---|');
    own.forEach((t, i) => {
      out.push(
        `| [${code(t.name)}](#${anchors[i]}) | ${cell(t.title)} | ${code(t.toolset)} | ${cell(tierLabel(t))} | ${t.scopes.map(code).join(', ')} | ${yesNo(t.annotations.readOnlyHint)} | ${yesNo(t.annotations.destructiveHint)} |`,
      );
    });
    for (const t of own) {
      out.push('', `### ${code(t.name)}`, '', `**${t.title.trim()}**`, '', t.description.trim(), '');
      out.push(
        `- Toolset: ${code(t.toolset)}`,
        `- Tier: ${tierLabel(t)}`,
        `- Scopes: ${t.scopes.map(code).join(', ')}`,
        `- Annotations: ${annotationList(t)}`,
        '',
        ...parameterTable(t),
      );
    }
  }
  return `${out.join('\n')}\n`;
}
