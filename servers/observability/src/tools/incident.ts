import { clipChars, jsonBytes, RavenhelmError, sliceChars, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { StringMap } from '../labels.js';
import { SeriesStats, summarizeMatrix } from '../summary.js';
import { DurationInput, parseDuration, toNanos } from '../time.js';
import { byUrgency } from './alerts.js';
import { defineTool, listBudget, READ_ANNOTATIONS } from './define.js';
import { flattenStreams } from './logs.js';
import { alertRuleDefinitions, RuleDefinition } from './rules.js';

/** Service and alert names are substituted into PromQL/LogQL string literals: only characters that cannot end one. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const SafeName = z.string().regex(SAFE_NAME, 'may contain only letters, digits, "_", ".", ":" and "-" (at most 128)');

const SectionError = z.object({ code: z.string(), message: z.string() });
type SectionError = z.output<typeof SectionError>;

function sectionError(err: unknown): SectionError {
  if (err instanceof RavenhelmError) return { code: err.code, message: err.message };
  return { code: 'ERR_INTERNAL', message: 'unexpected error; the server log has the details' };
}

/** Replaces `$service` (or `${service}`) in a template; the name is already restricted to SAFE_NAME. */
export function fillTemplate(template: string, service: string): string {
  return template.replace(/\$\{service\}|\$service\b/g, service);
}

const TOP_SERIES = { sortBy: 'max', order: 'desc', offset: 0, topK: 5, points: 0 } as const;
/** Alerting rules shown beside the alerts: their expression and `for`, at most this many. */
const MAX_RULES = 5;

const SeriesStatsOnly = z.object({ labels: StringMap, stats: SeriesStats });

const Section = {
  ok: z.boolean(),
  backend: z.string(),
  error: SectionError.optional(),
  skipped: z.string().optional(),
};

export const incidentGetContext = defineTool({
  name: 'incident_get_context',
  toolset: 'incident',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Incident context',
  description: 'Firing alerts, key metrics and recent error logs of a service or alert.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    service: SafeName.optional().describe('Matched on configured labels'),
    alertName: SafeName.optional().describe('Gives the service'),
    range: DurationInput.default('1h').describe('Lookback'),
    maxAlerts: z.number().int().min(1).max(50).default(10),
    maxLogLines: z.number().int().min(1).max(200).default(20),
  }),
  output: z.object({
    service: z.string().nullable(),
    alertName: z.string().nullable(),
    start: z.string(),
    end: z.string(),
    partial: z.boolean(),
    failedBackends: z.array(z.string()),
    alerts: z.object({
      ...Section,
      total: z.number().int(),
      truncated: z.boolean(),
      items: z.array(
        z.object({
          name: z.string(),
          severity: z.string().nullable(),
          state: z.string(),
          startsAt: z.string(),
          summary: z.string().nullable(),
          labels: StringMap,
        }),
      ),
      rules: z
        .object({ total: z.number().int(), items: z.array(RuleDefinition), error: SectionError.optional() })
        .optional(),
    }),
    metrics: z.object({
      ...Section,
      items: z.array(
        z.object({
          name: z.string(),
          query: z.string(),
          ok: z.boolean(),
          error: SectionError.optional(),
          total: z.number().int(),
          series: z.array(SeriesStatsOnly),
        }),
      ),
    }),
    logs: z.object({
      ...Section,
      query: z.string().nullable(),
      lines: z.array(z.object({ time: z.string(), line: z.string(), labels: StringMap })),
      series: z.array(SeriesStatsOnly).optional(),
      truncated: z.boolean(),
      scannedLines: z.number().int().nullable(),
    }),
    warnings: z.array(z.string()).optional(),
    cut: z.array(z.string()).optional(),
  }),
  handler: async (input, ctx) => {
    const { prometheus, alertmanager, loki, incident, signal, maxOutputBytes } = ctx;
    if (!input.service && !input.alertName) {
      throw new ToolError('ERR_INVALID_INPUT', 'give a service, an alertName, or both');
    }
    const rangeSeconds = parseDuration(input.range, 'range');
    if (rangeSeconds > 7 * 86_400) throw new ToolError('ERR_INVALID_INPUT', 'range: at most 7d');
    const end = Date.now() / 1000;
    const start = end - rangeSeconds;

    // Alerts first: with only an alert name, they tell us which service to look at.
    const alerts = await (async () => {
      try {
        const all = await alertmanager.alerts([], signal);
        const hits = all
          .filter((a) => a.status.state === 'active')
          .filter(
            (a) =>
              (input.alertName !== undefined && a.labels.alertname === input.alertName) ||
              (input.service !== undefined && incident.serviceLabels.some((l) => a.labels[l] === input.service)),
          )
          .sort(byUrgency);
        return { ok: true, hits };
      } catch (err) {
        return { ok: false, hits: [], error: sectionError(err) };
      }
    })();
    const service =
      input.service ??
      alerts.hits
        .map((a) => incident.serviceLabels.map((l) => a.labels[l]).find((v) => v !== undefined && SAFE_NAME.test(v)))
        .find((v) => v !== undefined);
    const noService =
      service === undefined ? 'no service given and none found on a firing alert with that name' : undefined;

    // The Prometheus alerting rules behind these alerts: what fires them and after how long.
    const ruleNames = new Set(
      [input.alertName, ...alerts.hits.slice(0, input.maxAlerts).map((a) => a.labels.alertname)].filter(
        (n): n is string => n !== undefined,
      ),
    );
    // What Prometheus and Loki said beside the data (a partial answer, a limit hit): kept per source, in order.
    const metricNotes: string[][] = incident.metricTemplates.map(() => []);
    const logNotes: string[] = [];
    const [metrics, logs, rules] = await Promise.all([
      (async () => {
        if (!service) return { ok: false, skipped: noService, items: [] };
        const step = Math.max(1, Math.ceil(rangeSeconds / 120));
        const items = await Promise.all(
          incident.metricTemplates.map(async (t, i) => {
            const query = fillTemplate(t.query, service);
            try {
              const data = await prometheus.queryRange(query, start, end, step, signal);
              for (const w of data.warnings ?? []) metricNotes[i]?.push(`Prometheus (${t.name}): ${w}`);
              const result = data.resultType === 'matrix' ? data.result : [];
              const s = summarizeMatrix(result, { ...TOP_SERIES, maxBytes: 4096 });
              return {
                name: t.name,
                query,
                ok: true,
                total: s.total,
                series: s.series.map(({ labels, stats }) => ({ labels, stats })),
              };
            } catch (err) {
              return { name: t.name, query, ok: false, error: sectionError(err), total: 0, series: [] };
            }
          }),
        );
        const unreachable = items.find((i) => i.error && /BACKEND_(UNAVAILABLE|TIMEOUT)/.test(i.error.code));
        return { ok: !unreachable, items, ...(unreachable?.error ? { error: unreachable.error } : {}) };
      })(),
      (async () => {
        if (!service)
          return { ok: false, skipped: noService, query: null, lines: [], truncated: false, scannedLines: null };
        const query = fillTemplate(incident.logQuery, service);
        try {
          const res = await loki.queryRange(
            { query, startNs: toNanos(start), endNs: toNanos(end), limit: input.maxLogLines, direction: 'backward' },
            signal,
          );
          for (const w of res.warnings ?? []) logNotes.push(`Loki: ${w}`);
          const scannedLines = res.stats.summary?.totalLinesProcessed ?? null;
          if (res.resultType !== 'streams') {
            // A metric logQuery (count_over_time, rate...): its series summarized like metric templates.
            const s = summarizeMatrix(res.series, { ...TOP_SERIES, maxBytes: 4096 });
            return {
              ok: true,
              query,
              lines: [],
              series: s.series.map(({ labels, stats }) => ({ labels, stats })),
              truncated: s.nextOffset !== undefined,
              scannedLines,
            };
          }
          const { streams, lines } = flattenStreams(res.streams, 'backward', 300);
          return {
            ok: true,
            query,
            lines: lines
              .slice(0, input.maxLogLines)
              .map((l) => ({ time: l.time, line: l.line, labels: streams[l.stream] ?? {} })),
            truncated: lines.length >= input.maxLogLines,
            scannedLines,
          };
        } catch (err) {
          return { ok: false, error: sectionError(err), query, lines: [], truncated: false, scannedLines: null };
        }
      })(),
      (async () => {
        if (ruleNames.size === 0) return undefined;
        try {
          const { groups } = await prometheus.rules('alert', signal);
          return alertRuleDefinitions(groups ?? [], ruleNames, MAX_RULES);
        } catch (err) {
          return { total: 0, items: [], error: sectionError(err) };
        }
      })(),
    ]);

    const out = {
      service: service ?? null,
      alertName: input.alertName ?? null,
      start: new Date(start * 1000).toISOString(),
      end: new Date(end * 1000).toISOString(),
      partial: false,
      failedBackends: [] as string[],
      alerts: {
        ok: alerts.ok,
        backend: 'Alertmanager',
        ...(alerts.error ? { error: alerts.error } : {}),
        total: alerts.hits.length,
        truncated: alerts.hits.length > input.maxAlerts,
        items: alerts.hits.slice(0, input.maxAlerts).map((a) => ({
          name: a.labels.alertname ?? '',
          severity: a.labels.severity ?? null,
          state: a.status.state,
          startsAt: a.startsAt,
          summary: sliceChars(a.annotations?.summary ?? a.annotations?.description ?? '', 300) || null,
          labels: a.labels,
        })),
        ...(rules ? { rules } : {}),
      },
      metrics: { backend: 'Prometheus', ...metrics },
      logs: { backend: 'Loki', ...logs },
    };
    for (const s of [out.alerts, out.metrics, out.logs] as { backend: string; error?: SectionError }[])
      if (s.error) out.failedBackends.push(s.backend);
    out.partial =
      out.failedBackends.length > 0 ||
      out.metrics.items.some((i) => !i.ok) ||
      'skipped' in out.metrics ||
      (rules !== undefined && 'error' in rules);
    const notes = [...metricNotes.flat(), ...logNotes];
    const warnings =
      notes.length > MAX_WARNINGS
        ? [...notes.slice(0, MAX_WARNINGS - 1), `(${notes.length - MAX_WARNINGS + 1} more warnings not shown)`]
        : notes;
    if (warnings.length) Object.assign(out, { warnings });
    const cut = fitIncident(out, listBudget(maxOutputBytes), {
      alertsHint: input.alertName
        ? `alertname="${input.alertName}"`
        : `${incident.serviceLabels[0] ?? 'service'}="${service}"`,
      maxAlerts: input.maxAlerts,
    });
    return cut.length ? { ...out, cut } : out;
  },
});

/** Backend warnings listed, at most (each already bounded by its backend). */
const MAX_WARNINGS = 6;

/** Alert label values and summaries are cut to this when even one alert would not fit. */
const LABEL_CHARS = 200;

interface IncidentOut {
  alerts: {
    total: number;
    truncated: boolean;
    items: { name: string; summary: string | null; labels: Record<string, string> }[];
    rules?: { total: number; items: unknown[] };
  };
  metrics: { items: { name: string; total: number; series: unknown[] }[] };
  logs: { lines: unknown[]; truncated: boolean };
}

/**
 * Shrinks the answer until it fits `budget`: the oldest log lines first, then the least urgent alerts, the
 * rules behind them, the lowest-ranked metric series, then long alert labels and the last log line. Returns
 * what was left out, by section, with how to see it.
 */
export function fitIncident(
  out: IncidentOut,
  budget: number,
  opts: { alertsHint: string; maxAlerts: number },
): string[] {
  const alerts = out.alerts;
  const listed = { lines: out.logs.lines.length, alerts: alerts.items.length, rules: alerts.rules?.items.length ?? 0 };
  let seriesDropped = 0;
  let labelsCut = 0;
  const steps: (() => boolean)[] = [
    () => {
      if (out.logs.lines.length <= 1) return false;
      out.logs.lines = out.logs.lines.slice(0, Math.floor(out.logs.lines.length * 0.7));
      return true;
    },
    () => {
      if (alerts.items.length <= 1) return false;
      // Sorted most urgent first: the least urgent go.
      alerts.items = alerts.items.slice(0, Math.max(1, Math.floor(alerts.items.length * 0.7)));
      return true;
    },
    () => {
      if (!alerts.rules || alerts.rules.items.length <= 1) return false;
      alerts.rules.items = alerts.rules.items.slice(0, -1);
      return true;
    },
    () => {
      const widest = [...out.metrics.items].sort((a, b) => b.series.length - a.series.length)[0];
      if (!widest || widest.series.length === 0) return false;
      widest.series = widest.series.slice(0, -1);
      seriesDropped++;
      return true;
    },
    () => {
      const long = alerts.items.filter(
        (a) => a.name.length > LABEL_CHARS || Object.values(a.labels).some((v) => v.length > LABEL_CHARS),
      );
      if (long.length === 0 || labelsCut > 0) return false;
      for (const a of long) {
        a.name = clipChars(a.name, LABEL_CHARS);
        a.labels = Object.fromEntries(
          Object.entries(a.labels).map(([k, v]) => [clipChars(k, LABEL_CHARS), clipChars(v, LABEL_CHARS)]),
        );
      }
      labelsCut = long.length;
      return true;
    },
    () => {
      if (out.logs.lines.length === 0) return false;
      out.logs.lines = [];
      return true;
    },
    () => {
      if (alerts.items.length === 0) return false;
      alerts.items = [];
      return true;
    },
  ];
  // The statements of the cuts take room too: shrink until the answer and they fit together.
  let cut = statements();
  for (let i = 0; i < 500 && jsonBytes(out) + jsonBytes(cut) + 8 > budget; i++) {
    if (!steps.some((step) => step())) break;
    cut = statements();
  }
  return cut;

  function statements(): string[] {
    const cut: string[] = [];
    const n = alerts.items.length;
    if (n < alerts.total) {
      alerts.truncated = true;
      const byBudget = listed.alerts - n;
      cut.push(
        `alerts: ${n} of ${alerts.total} listed, most urgent first (${alerts.total - listed.alerts} left out by maxAlerts=${opts.maxAlerts}, ${byBudget} by the output budget); alerts_list with matchers ${opts.alertsHint} lists them all`,
      );
    }
    if (labelsCut) cut.push(`alert names and label values cut to ${LABEL_CHARS} chars on ${labelsCut} alert(s)`);
    if (alerts.rules && alerts.rules.items.length < listed.rules)
      cut.push(
        `alert rules: ${listed.rules - alerts.rules.items.length} of ${listed.rules} left out by the output budget (rules.total counts all); alerts_list_rules with name shows each`,
      );
    if (seriesDropped)
      cut.push(
        `metric series: ${seriesDropped} left out by the output budget (each item's total counts all); metrics_query_range with its query shows them`,
      );
    if (out.logs.lines.length < listed.lines) {
      out.logs.truncated = true;
      cut.push(
        `log lines: ${listed.lines - out.logs.lines.length} of ${listed.lines} left out by the output budget (the oldest); logs_search with logs.query shows them`,
      );
    }
    return cut;
  }
}

export const incidentTools = [incidentGetContext];
