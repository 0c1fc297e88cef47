import { z } from 'zod';
import { defineTool } from './define.js';
import { v3DoubleQuoted } from './route-yaml.js';
import { checkRule, EntryPoints, Middlewares, RouteName, Rule, Tls } from './routes.js';

export const labelsGenerate = defineTool({
  name: 'labels_generate',
  toolset: 'labels',
  tier: 'LOW',
  scopes: ['mcp:traefik:read'],
  title: 'Docker labels for a route',
  description: 'Docker-provider labels and a compose snippet for a router + service; validates the rule.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    name: RouteName,
    rule: Rule,
    port: z.number().int().min(1).max(65535).describe('Container port'),
    scheme: z.enum(['http', 'https', 'h2c']).optional().describe('Backend scheme'),
    entryPoints: EntryPoints,
    middlewares: Middlewares,
    priority: z.number().int().min(1).max(1_000_000).optional(),
    tls: Tls,
  }),
  output: z.object({ labels: z.array(z.string()), compose: z.string() }),
  handler: async (input) => {
    checkRule(input.rule);
    const r = `traefik.http.routers.${input.name}`;
    const s = `traefik.http.services.${input.name}`;
    const labels = ['traefik.enable=true', `${r}.rule=${input.rule}`];
    if (input.entryPoints?.length) labels.push(`${r}.entrypoints=${input.entryPoints.join(',')}`);
    if (input.middlewares?.length) labels.push(`${r}.middlewares=${input.middlewares.join(',')}`);
    if (input.priority) labels.push(`${r}.priority=${input.priority}`);
    if (input.tls) {
      labels.push(`${r}.tls=true`);
      if (input.tls.certResolver) labels.push(`${r}.tls.certresolver=${input.tls.certResolver}`);
      if (input.tls.options) labels.push(`${r}.tls.options=${input.tls.options}`);
    }
    labels.push(`${r}.service=${input.name}`, `${s}.loadbalancer.server.port=${input.port}`);
    if (input.scheme) labels.push(`${s}.loadbalancer.server.scheme=${input.scheme}`);
    // Compose interpolates "$": a regex like `^/api$` must be written "$$" in a compose file. Compose reads the file
    // with yaml.v3, which JSON's quoting does not suit for NEL, LS, PS and C1 controls (v3DoubleQuoted).
    const compose = `labels:\n${labels.map((l) => `  - ${v3DoubleQuoted(l.replaceAll('$', '$$$$'))}`).join('\n')}\n`;
    return { labels, compose };
  },
});
