import { decodeCursor, encodeCursor, jsonBytes, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { isAwsError } from '../backend.js';
import { asJsonObject, checkSecret, type Finding, isPlaceholder } from '../checks.js';
import { displayPath, literalValue, readEntry, scanFiles } from '../files.js';
import { defineTool } from './define.js';
import { staleRotationNote } from './rotation.js';
import { Cursor, decodeListCursor, Issue, nextListCursor, Page, SecretName } from './shapes.js';
import { jsonText, putTarget, refuseInexact } from './values.js';

const MAX_FINDINGS = 500;
/** Errors that say the service is busy or slow, not that a secret cannot be read. */
const BUSY = new Set(['ERR_BACKEND_UNAVAILABLE', 'ERR_BACKEND_TIMEOUT']);
const DAY = 86_400_000;

export const storeAudit = defineTool({
  name: 'store_audit',
  toolset: 'store',
  tier: 'LOW',
  scopes: ['mcp:secrets:read'],
  title: 'Audit the secret store',
  description: 'Finds empty, placeholder, weak-default, weak and stale secrets; names and findings only; paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    namePrefix: z.string().max(512).optional().describe('Only names starting with it'),
    maxAgeDays: z.number().int().min(1).max(3650).optional(),
    limit: z.number().int().min(1).max(100).default(50),
    cursor: Cursor,
  }),
  output: z.object({
    scanned: z.number(),
    clean: z.number(),
    total: z.number(),
    findings: z.array(
      z.object({ name: z.string(), issue: Issue, key: z.string().optional(), detail: z.string().optional() }),
    ),
    ...Page,
    note: z.string().optional(),
  }),
  handler: async (input, { sm, signal, strength, maxOutputBytes }) => {
    const at = decodeListCursor(input.cursor, { tool: 'store_audit', namePrefix: input.namePrefix });
    const page = await sm.list(
      { namePrefix: input.namePrefix, maxResults: Math.min(100, at.s + input.limit), nextToken: at.t },
      signal,
    );
    const listed = page.SecretList ?? [];
    const entries = listed.slice(at.s, at.s + input.limit);
    const maxAgeDays = input.maxAgeDays ?? strength.maxAgeDays;
    // A read the service throttles (or that times out) says nothing about the secret: the page stops before it,
    // no later read is sent (a throttled service asked for the rest of the page at once is a retry storm), and the
    // cursor continues from it.
    let busy: { at: number; err: ToolError } | undefined;
    const perSecret = await mapLimit(entries, 4, async (e, i) => {
      if (busy && i > busy.at) return [];
      const name = e.Name ?? e.ARN ?? '?';
      const found: (Finding & { key?: string })[] = [];
      let versionDate: Date | undefined;
      try {
        const got = await sm.getValue(name, {}, signal);
        versionDate = got.CreatedDate;
        if (got.SecretString !== undefined) found.push(...checkSecret(got.SecretString, strength));
      } catch (err) {
        if (signal.aborted) throw err;
        if (err instanceof ToolError && BUSY.has(err.code)) {
          if (!busy || i < busy.at) busy = { at: i, err };
          return [];
        }
        const aws = err instanceof ToolError ? String(err.details.awsError ?? err.code) : 'error';
        found.push({ issue: 'unreadable', detail: aws });
      }
      // Our rotations store a new version; the service sets LastRotatedDate only for its own rotations.
      const last = Math.max(e.LastRotatedDate?.getTime() ?? 0, versionDate?.getTime() ?? e.CreatedDate?.getTime() ?? 0);
      const ageDays = Math.floor((Date.now() - last) / DAY);
      if (last > 0 && ageDays > maxAgeDays) {
        found.push({ issue: 'stale', detail: `${ageDays} days > ${maxAgeDays}${staleRotationNote(e, Date.now())}` });
      }
      return found.map((f) => ({ name, ...f }));
    });
    // Whole secrets, in order, while their findings fit the budget (at least one): the cursor continues
    // after the last secret answered, so the findings of the others come on the next page, none lost.
    const stop = busy as { at: number; err: ToolError } | undefined;
    if (stop?.at === 0) {
      throw new ToolError(
        stop.err.code,
        `${stop.err.message}; store_audit read no secret of this page and sent no further reads: retry later${input.cursor ? ' with the same cursor' : ''}`,
        stop.err.details,
      );
    }
    let covered = 0;
    let rows: (typeof perSecret)[number] = [];
    for (const found of perSecret.slice(0, stop?.at)) {
      const more = [...rows, ...found];
      if (covered > 0 && jsonBytes(more) > maxOutputBytes - 1024) break;
      rows = more;
      covered++;
    }
    const findings = fitBudget(rows, maxOutputBytes);
    const next = nextListCursor(at, at.s + covered, listed.length, page.NextToken);
    return {
      scanned: covered,
      clean: perSecret.slice(0, covered).filter((f) => f.length === 0).length,
      findings,
      total: rows.length,
      truncated: next !== undefined || findings.length < rows.length,
      ...(next ? { nextCursor: next } : {}),
      ...(stop && covered === stop.at
        ? {
            note: `stopped before "${entries[stop.at]?.Name ?? '?'}": Secrets Manager answered ${String(stop.err.details.awsError ?? stop.err.code)}; the rest of the page was not read: continue later with nextCursor`,
          }
        : {}),
    };
  },
});

/**
 * Drops rows from the end until the answer fits the output budget, keeping at least one so paging moves on
 * (the caller reports truncation).
 */
function fitBudget<T>(rows: T[], maxOutputBytes: number): T[] {
  const out = [...rows];
  while (out.length > 1 && jsonBytes(out) > maxOutputBytes - 1024) out.pop();
  return out;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const filesAudit = defineTool({
  name: 'files_audit',
  toolset: 'files',
  tier: 'LOW',
  scopes: ['mcp:secrets:read'],
  title: 'Audit .env and compose files',
  description:
    'Scans .env* and compose files under the roots for placeholders, weak defaults, plain-text secrets; no values.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    path: z.string().max(4096).optional().describe('File or folder inside a root; default: all roots'),
    limit: z.number().int().min(1).max(MAX_FINDINGS).default(200),
    cursor: Cursor,
  }),
  output: z.object({
    files: z.number(),
    skipped: z.array(z.string()),
    findings: z.array(
      z.object({
        file: z.string(),
        line: z.number(),
        key: z.string(),
        issue: Issue,
        detail: z.string().optional(),
      }),
    ),
    total: z.number(),
    truncated: z.boolean(),
    nextCursor: z.string().optional(),
  }),
  handler: async ({ path, limit, cursor }, { files, strength, maxOutputBytes, signal }) => {
    const start = decodeCursor(cursor);
    const scan = await scanFiles(files, strength, path, signal);
    // Findings in file and line order (folders are read sorted); the cursor continues after the last shown.
    const rows = scan.findings.slice(start, start + limit).map((f) => ({
      file: f.file,
      line: f.line,
      key: f.key,
      issue: f.issue,
      ...(f.detail ? { detail: f.detail } : {}),
    }));
    const skipped = scan.skipped.slice(0, 30).map((s) => `${s.file}: ${s.reason}`);
    if (scan.capped) skipped.push(`*: stopped after ${files.maxFiles} files (backend.files.maxFiles)`);
    const findings = fitBudget(rows, maxOutputBytes - jsonBytes(skipped));
    const after = start + findings.length;
    const more = after < scan.findings.length;
    return {
      files: scan.files,
      skipped,
      findings,
      total: scan.findings.length,
      truncated: scan.capped || more || scan.skipped.length > 30,
      ...(more ? { nextCursor: encodeCursor(after) } : {}),
    };
  },
});

export const filesMigrate = defineTool({
  name: 'files_migrate',
  toolset: 'files',
  tier: 'HIGH',
  scopes: ['mcp:secrets:write'],
  title: 'Move a file secret to the store',
  description:
    'Stores one key of a scanned file as a secret (or JSON key); the value stays on the server, the file unchanged.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    file: z.string().max(4096).describe('A path files_audit reported'),
    key: z.string().max(256).describe('The variable in that file'),
    name: SecretName,
    jsonKey: z.string().max(256).optional().describe('Store it as this key of a JSON secret'),
    mode: z.enum(['upsert', 'create', 'update']).default('create'),
  }),
  output: z.object({
    name: z.string(),
    versionId: z.string(),
    created: z.boolean(),
    unchanged: z.boolean().optional(),
    file: z.string(),
    line: z.number(),
    reference: z.string(),
    replication: z.string().optional(),
  }),
  // the secret's state as secrets_put reads it: a store it would refuse is refused before confirmation
  plan: async ({ file, key, name, jsonKey, mode }, { sm, signal }) => {
    const target = await putTarget(sm, name, mode, true, signal);
    return {
      text: `Copy the value of ${key} in ${file} into secret "${name}"${jsonKey ? ` under JSON key ${jsonKey}` : ''} (${mode}); the file stays unchanged. ${target.text}`,
      bound: target,
    };
  },
  handler: async ({ file, key, name, jsonKey, mode }, { sm, signal, files, planned }) => {
    const { entry, file: real, root } = await readEntry(file, key, files);
    const literal = literalValue(entry.value);
    if (literal === undefined) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `${key} at line ${entry.line} is a reference (\${...}) with no literal value; nothing to move`,
      );
    }
    if (literal.trim() === '' || isPlaceholder(literal)) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `${key} at line ${entry.line} is empty or a placeholder; set the secret with secrets_put or secrets_rotate`,
      );
    }
    // the plan checked the secret just now; with no confirm policy no plan ran: the same refusals, first
    const { replication } = planned ?? (await putTarget(sm, name, mode, true, signal));
    let existing: Record<string, unknown> | undefined;
    if (mode !== 'create') {
      try {
        const got = await sm.getValue(name, {}, signal);
        existing = asJsonObject(got.SecretString ?? '');
        if (jsonKey !== undefined && !existing) {
          throw new ToolError(
            'ERR_CONFLICT',
            `secret "${name}" exists and is not a JSON object; omit jsonKey or pick another name`,
          );
        }
        if (jsonKey === undefined && existing) {
          // Storing a bare value would drop every other key of the JSON secret.
          throw new ToolError(
            'ERR_CONFLICT',
            `secret "${name}" is a JSON object (keys: ${Object.keys(existing).slice(0, 20).join(', ')}); give jsonKey to set one key`,
          );
        }
        if (jsonKey !== undefined) refuseInexact(name, got.SecretString ?? '', jsonKey, 'setting');
      } catch (err) {
        // no secret, or one without an AWSCURRENT value: store() tells them apart
        if (!isAwsError(err, 'ResourceNotFoundException')) throw err;
      }
    }
    const value =
      jsonKey !== undefined ? jsonText({ ...(existing ?? {}), [jsonKey]: literal }, `secret "${name}"`) : literal;
    const stored = await sm.store(name, value, mode, `moved from ${displayPath(real, root)} (${key})`, signal);
    const from = jsonKey ? `secret ${name}, JSON key ${jsonKey}` : `secret ${name}`;
    return {
      ...stored,
      file: real,
      line: entry.line,
      reference: `Set ${key} from ${from} at deploy time (e.g. \${${key}} injected from Secrets Manager), then replace the literal on line ${entry.line} with a reference`,
      // where the value goes beyond this secret, whatever the confirm policy
      ...(replication && !stored.unchanged ? { replication } : {}),
    };
  },
});

export const auditTools = [storeAudit, filesAudit, filesMigrate] as const;
