import { clipChars, jsonBytes, ListPage, pageByKey, tupleKey } from '@ravenhelm/kit';
import { z } from 'zod';
import type { Labels, PromRule, PromRuleGroup } from '../backends/prometheus.js';
import { StringMap } from '../labels.js';
import { type LabelMatcher, MATCHER_HINT, MatcherText, matcherTest, parseMatchers } from '../matchers.js';
import { formatDuration, instantOf } from '../time.js';
import { Cursor, defineTool, distinctKeys, listBudget, READ_ANNOTATIONS, withoutItems } from './define.js';

/** Bounds of one rule's entry; each cut is stated in the answer (`cut`, `queryChars`, `alerts.total`). */
export const RULE_BOUNDS = { queryChars: 1000, errorChars: 500, annotationChars: 300 } as const;

const STATES = ['firing', 'pending', 'inactive'] as const;
const Text = StringMap;

const RuleAlert = z.object({ labels: Text, state: z.string(), activeAt: z.string(), value: z.string() });

const RuleSummary = z.object({
  name: z.string(),
  type: z.enum(['alert', 'record']),
  group: z.string(),
  file: z.string(),
  health: z.string(),
  lastError: z.string().optional(),
  state: z.string().optional(),
  for: z.string().optional(),
  keepFiringFor: z.string().optional(),
  query: z.string(),
  queryChars: z.number().int().optional(),
  labels: Text,
  annotations: Text.optional(),
  alerts: z
    .object({ total: z.number().int(), firing: z.number().int(), pending: z.number().int(), items: z.array(RuleAlert) })
    .optional(),
  lastEvaluation: z.string().nullable(),
  evaluationSeconds: z.number().nullable(),
});
type RuleSummary = z.output<typeof RuleSummary>;

/**
 * An alerting rule's state as counted and filtered: firing, pending, or else inactive. Prometheus 3 reports
 * "unknown" for a rule not evaluated yet (rules/alerting.go StateUnknown), which Prometheus 2 called inactive;
 * counted as it was, the rule fell out of every count. The rule's own `state` still says "unknown".
 */
function activeState(r: PromRule): 'firing' | 'pending' | 'inactive' {
  return r.state === 'firing' || r.state === 'pending' ? r.state : 'inactive';
}

/** Broken rules first, then what pages (firing), what is about to (pending), then the quiet rest. */
export function ruleRank(r: PromRule): number {
  if (r.health === 'err') return 0;
  if (r.type === 'alerting') {
    if (r.state === 'firing') return 1;
    if (r.state === 'pending') return 2;
  }
  if (r.health === 'unknown') return 3;
  return r.type === 'alerting' ? 4 : 5;
}

/**
 * A test of a label set against every matcher (Prometheus semantics: an absent label has the value "", regexes
 * anchored, RE2), each compiled once per call, not once per rule. Own labels only: a matcher on `constructor` or
 * `toString` read Object.prototype's function (re2js threw on it, `=` never matched).
 */
export function labelTest(matchers: readonly LabelMatcher[]): (labels: Labels) => boolean {
  const tests = matchers.map(matcherTest);
  return (labels) => tests.every((t) => t(labels));
}

const seconds = (s: number) => (s === 0 ? '0s' : formatDuration(s));

/** One rule as the agent reads it: its alerts' labels without the ones every alert of the rule carries. */
export function summarizeRule(g: PromRuleGroup, r: PromRule, alertsPerRule: number): RuleSummary {
  const labels = r.labels ?? {};
  const out: RuleSummary = {
    name: r.name,
    type: r.type === 'alerting' ? 'alert' : 'record',
    group: g.name,
    file: g.file,
    health: r.health,
    ...(r.lastError ? { lastError: clipChars(r.lastError, RULE_BOUNDS.errorChars) } : {}),
    query: clipChars(r.query, RULE_BOUNDS.queryChars),
    ...(r.query.length > RULE_BOUNDS.queryChars ? { queryChars: r.query.length } : {}),
    labels,
    lastEvaluation: r.lastEvaluation ?? null,
    evaluationSeconds: r.evaluationTime ?? null,
  };
  if (r.type !== 'alerting') return out;
  const alerts = r.alerts ?? [];
  const firing = alerts.filter((a) => a.state === 'firing');
  // Firing before pending, oldest first: the one that has paged longest leads. Prometheus lists a rule's
  // alerts in no set order (a Go map), so they are sorted here, by activeAt and then by labels: each call
  // lists the same few.
  const key = (a: { labels: Labels }) => JSON.stringify(Object.entries(a.labels).sort(([x], [y]) => (x < y ? -1 : 1)));
  const oldestFirst = (a: (typeof alerts)[number], b: (typeof alerts)[number]) =>
    instantOf(a.activeAt) - instantOf(b.activeAt) || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  const listed = [...firing.sort(oldestFirst), ...alerts.filter((a) => a.state !== 'firing').sort(oldestFirst)].slice(
    0,
    alertsPerRule,
  );
  return {
    ...out,
    state: r.state ?? 'inactive',
    for: seconds(r.duration ?? 0),
    ...(r.keepFiringFor ? { keepFiringFor: seconds(r.keepFiringFor) } : {}),
    annotations: Object.fromEntries(
      Object.entries(r.annotations ?? {}).map(([k, v]) => [k, clipChars(v, RULE_BOUNDS.annotationChars)]),
    ),
    alerts: {
      total: alerts.length,
      firing: firing.length,
      pending: alerts.filter((a) => a.state === 'pending').length,
      items: listed.map((a) => ({
        labels: Object.fromEntries(Object.entries(a.labels).filter(([k, v]) => k !== 'alertname' && labels[k] !== v)),
        state: a.state,
        activeAt: a.activeAt ?? '',
        value: a.value ?? '',
      })),
    },
  };
}

export const RuleDefinition = z.object({
  name: z.string(),
  group: z.string(),
  query: z.string(),
  queryChars: z.number().int().optional(),
  for: z.string(),
  health: z.string(),
  state: z.string(),
});

/** The alerting rules named `names` (what incident_get_context shows beside firing alerts): at most `max`. */
export function alertRuleDefinitions(
  groups: readonly PromRuleGroup[],
  names: ReadonlySet<string>,
  max: number,
  queryChars = 300,
): { total: number; items: z.output<typeof RuleDefinition>[] } {
  const all = groups.flatMap((g) =>
    (g.rules ?? []).filter((r) => r.type === 'alerting' && names.has(r.name)).map((r) => ({ g, r })),
  );
  return {
    total: all.length,
    items: all.slice(0, max).map(({ g, r }) => ({
      name: r.name,
      group: g.name,
      query: clipChars(r.query, queryChars),
      ...(r.query.length > queryChars ? { queryChars: r.query.length } : {}),
      for: seconds(r.duration ?? 0),
      health: r.health,
      state: r.state ?? 'inactive',
    })),
  };
}

export const alertsListRules = defineTool({
  name: 'alerts_list_rules',
  toolset: 'alerts',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'List rules',
  description: 'Prometheus alerting and recording rules, broken and firing first.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    type: z.enum(['alert', 'record']).optional(),
    state: z.array(z.enum(STATES)).min(1).max(3).optional().describe('Alerting rules in these states'),
    health: z.enum(['ok', 'err', 'unknown']).optional(),
    name: z.string().min(1).max(200).optional().describe('Substring'),
    group: z.string().min(1).max(200).optional().describe('Substring'),
    matchers: z.array(MatcherText).max(20).optional().describe(`On rule labels, all must match; ${MATCHER_HINT}`),
    alertsPerRule: z.number().int().min(0).max(50).default(3),
    limit: z.number().int().min(1).max(200).default(50),
    cursor: Cursor,
  }),
  output: z.object({
    counts: z.object({
      firing: z.number().int(),
      pending: z.number().int(),
      inactive: z.number().int(),
      recording: z.number().int(),
      err: z.number().int(),
    }),
    groups: z.number().int(),
    rules: z.array(RuleSummary),
    cut: z.array(z.string()).optional(),
    ...ListPage,
  }),
  handler: async (input, { prometheus, signal, maxOutputBytes }) => {
    const { groups } = await prometheus.rules(input.type, signal);
    const labelsOk = labelTest(parseMatchers(input.matchers));
    const name = input.name?.toLowerCase();
    const group = input.group?.toLowerCase();
    const kind = input.type === 'alert' ? 'alerting' : input.type === 'record' ? 'recording' : undefined;
    // Newer filters (rule_name[], group_limit...) are unknown to older servers: everything is filtered here.
    const matched = (groups ?? [])
      .filter((g) => !group || g.name.toLowerCase().includes(group))
      .flatMap((g) =>
        (g.rules ?? [])
          .map((r) => ({ g, r }))
          .filter(({ r }) => !kind || r.type === kind)
          .filter(({ r }) => !name || r.name.toLowerCase().includes(name))
          .filter(({ r }) => labelsOk(r.labels ?? {})),
      );
    const counts = { firing: 0, pending: 0, inactive: 0, recording: 0, err: 0 };
    for (const { r } of matched) {
      if (r.health === 'err') counts.err++;
      if (r.type === 'recording') counts.recording++;
      else counts[activeState(r)]++;
    }
    const states = input.state ? new Set<string>(input.state) : undefined;
    const keyed = matched
      .filter(({ r }) => !input.health || r.health === input.health)
      .filter(({ r }) => !states || (r.type === 'alerting' && states.has(activeState(r))))
      .map(({ g, r }) => ({ key: ruleKey(g, r), item: summarizeRule(g, r, input.alertsPerRule) }));
    // Room for counts, the page fields and the `cut` statements beside the rules.
    const listed = listBudget(maxOutputBytes);
    const maxBytes = Math.max(Math.floor(listed / 2), listed - 1024);
    const { changed, ...page } = pageByKey(distinctKeys(keyed), {
      tool: 'alerts_list_rules',
      bind: JSON.stringify([input.type, input.state, input.health, input.name, input.group, input.matchers ?? []]),
      cursor: input.cursor,
      legacyOffset: legacyRulesOffset,
      limit: input.limit,
      maxBytes,
    });
    const shrunk = fitRules(page.items, maxBytes);
    const cut = [...statedCuts(page.items, input.alertsPerRule), ...shrunk];
    if (changed) cut.unshift(RULES_CHANGED);
    return {
      counts,
      groups: (groups ?? []).length,
      rules: page.items,
      ...(cut.length ? { cut } : {}),
      ...withoutItems(page),
    };
  },
});

/**
 * A rule's place: its rank (broken, firing, pending...), then file, group and rule name, which a group added or
 * removed elsewhere leaves as they are (a position in Prometheus's list moves with it). Group names are unique
 * in a file; a name used twice in one group gets its occurrence number (distinctKeys).
 */
function ruleKey(g: PromRuleGroup, r: PromRule): string {
  return tupleKey(String(ruleRank(r)), g.file, g.name, r.name);
}

/** Said when the rules before the cursor are not the ones the earlier pages held (the kit's `changed`). */
const RULES_CHANGED =
  'rules before this page changed since the previous one (a rule changed state, or rules were added or removed): this page goes on after the last rule shown; rules now before it are not listed (call again without cursor for all)';

/**
 * The offset of a cursor in the form this tool issued before it paged by key (`r:<offset>:<digest>`, from an
 * older replica), undefined for any other: pageByKey reads an offset only through this (legacyOffset), so an
 * offset cursor of another tool is refused.
 */
export function legacyRulesOffset(cursor: string): number | undefined {
  const m = /^r:(\d{1,9}):[A-Za-z0-9_-]{11}$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  return m ? Number(m[1]) : undefined;
}

/** A rule's label and annotation values are cut to this when its entry alone would not fit without alerts. */
const FIT_VALUE_CHARS = 100;

/**
 * Makes a page whose single entry is over `maxBytes` fit (a page always keeps one): fewer of its alerts
 * listed, then its label and annotation values cut. Returns the statements of these cuts.
 */
export function fitRules(rules: RuleSummary[], maxBytes: number): string[] {
  let fewerAlerts = 0;
  let valuesCut = 0;
  for (const r of rules) {
    if (jsonBytes(rules) <= maxBytes) break;
    const alerts = r.alerts;
    if (alerts && alerts.items.length > 0) {
      fewerAlerts++;
      while (alerts.items.length > 0 && jsonBytes(rules) > maxBytes)
        alerts.items = alerts.items.slice(0, Math.floor(alerts.items.length * 0.7));
    }
    if (jsonBytes(rules) > maxBytes) {
      const cutValues = (t: Record<string, string>) =>
        Object.fromEntries(
          Object.entries(t).map(([k, v]) => [clipChars(k, FIT_VALUE_CHARS), clipChars(v, FIT_VALUE_CHARS)]),
        );
      r.labels = cutValues(r.labels);
      if (r.annotations) r.annotations = cutValues(r.annotations);
      valuesCut++;
    }
  }
  const cut: string[] = [];
  if (fewerAlerts)
    cut.push(
      `output budget: fewer active alerts listed on ${fewerAlerts} rule(s) (alerts.items against alerts.total); lower alertsPerRule, or alerts_list with matchers alertname="<rule>" lists them all`,
    );
  if (valuesCut)
    cut.push(`output budget: label and annotation values cut to ${FIT_VALUE_CHARS} chars on ${valuesCut} rule(s)`);
  return cut;
}

/** Says, once per kind, what the entries of this page leave out and how to see it. */
function statedCuts(rules: readonly RuleSummary[], alertsPerRule: number): string[] {
  const cut: string[] = [];
  const longQueries = rules.filter((r) => r.queryChars !== undefined).length;
  if (longQueries)
    cut.push(`query cut to ${RULE_BOUNDS.queryChars} chars on ${longQueries} rule(s); queryChars is the full length`);
  // Rules with more alerts than alertsPerRule (fewer still when the budget cut them: see fitRules).
  const fewerAlerts = rules.filter((r) => r.alerts && r.alerts.total > alertsPerRule);
  if (fewerAlerts.length) {
    cut.push(
      `active alerts: ${alertsPerRule} listed per rule (alertsPerRule, up to 50) on ${fewerAlerts.length} rule(s); alerts.total counts all; alerts_list has them`,
    );
  }
  if (rules.some((r) => (r.lastError?.length ?? 0) > RULE_BOUNDS.errorChars))
    cut.push(`lastError cut to ${RULE_BOUNDS.errorChars} chars`);
  if (rules.some((r) => Object.values(r.annotations ?? {}).some((v) => v.length > RULE_BOUNDS.annotationChars)))
    cut.push(`annotation values cut to ${RULE_BOUNDS.annotationChars} chars`);
  return cut;
}

export const ruleTools = [alertsListRules];
