/**
 * For the backend-metrics tests: scrapes a server's /metrics over HTTP (what Prometheus reads) and picks
 * samples out of the text exposition format.
 */
import { BACKEND_OUTCOMES } from '@ravenhelm/kit';
import { expect } from 'vitest';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the text format: one sample per line, comments skipped. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The samples of the server behind `mcpUrl` (its /metrics, unauthenticated like Prometheus scrapes it). */
export async function scrape(mcpUrl: string): Promise<Sample[]> {
  const res = await fetch(new URL('/metrics', mcpUrl));
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

/** The sum of the samples named `name` whose labels include `labels` (0 when none). */
export function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Per-outcome request counts of one backend: `{ ok: 3, http_5xx: 1 }` (outcomes never seen are absent). */
export function outcomes(samples: Sample[], backend: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'ravenhelm_backend_requests_total' || s.labels.backend !== backend || s.value === 0) continue;
    out[s.labels.outcome as string] = s.value;
  }
  return out;
}

/** What changed between two outcome maps. */
export function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** The ravenhelm_backend_* series (name + labels), one string each, sorted: their count must stay bounded. */
export function backendSeries(samples: Sample[]): string[] {
  return samples
    .filter((s) => s.name.startsWith('ravenhelm_backend_'))
    .map((s) => `${s.name}${JSON.stringify(s.labels)}`)
    .sort();
}

/** Every ravenhelm_backend_* label is one of the bounded set: server, backend (a known name), outcome, le. */
export function expectBoundedLabels(samples: Sample[], server: string, backends: readonly string[]): void {
  for (const s of samples) {
    if (!s.name.startsWith('ravenhelm_backend_')) continue;
    for (const [k, v] of Object.entries(s.labels)) {
      if (k === 'server') expect(v).toBe(server);
      else if (k === 'backend') expect(backends).toContain(v);
      else if (k === 'outcome') expect(BACKEND_OUTCOMES as readonly string[]).toContain(v);
      else expect(k, `${s.name} label ${k}="${v}"`).toBe('le');
    }
  }
}
