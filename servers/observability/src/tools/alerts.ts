import {
  clipChars,
  type KeyPage,
  ListPage,
  MAX_PATTERN_SIZE,
  newestFirstKey,
  pageByKey,
  ToolError,
  tupleKey,
} from '@ravenhelm/kit';
import { z } from 'zod';
import type { AmAlert, AmSilence } from '../backends/alertmanager.js';
import { labelsInput, ownValue, putLabel, StringMap } from '../labels.js';
import {
  formatMatcher,
  fromAmMatcher,
  MATCHER_HINT,
  MAX_REGEX_VALUES,
  Matchers,
  MatcherText,
  matcherTest,
  narrows,
  parseMatchers,
  toAmMatcher,
  tooLargeToTest,
} from '../matchers.js';
import { formatDuration, instantOf, parseDuration } from '../time.js';
import { Cursor, defineTool, distinctKeys, listBudget, READ_ANNOTATIONS } from './define.js';

const Labels = StringMap;

const ALERT_STATES = ['active', 'suppressed', 'unprocessed'] as const;
const SEVERITY_RANK: Record<string, number> = {
  critical: 0,
  error: 1,
  high: 1,
  warning: 2,
  medium: 2,
  info: 3,
  low: 3,
};

const AlertSummary = z.object({
  name: z.string(),
  state: z.enum(ALERT_STATES),
  severity: z.string().nullable(),
  labels: Labels,
  annotations: Labels,
  startsAt: z.string(),
  endsAt: z.string(),
  updatedAt: z.string().nullable(),
  fingerprint: z.string(),
  generatorURL: z.string().optional(),
  silencedBy: z.array(z.string()),
  inhibitedBy: z.array(z.string()),
  receivers: z.array(z.string()),
  /** What the bounds below left out of this alert; absent when nothing was. */
  cut: z.array(z.string()).optional(),
});

/**
 * Bounds of one alert's entry (a sender may attach any number of labels and annotations of any length), so
 * one alert cannot take a page's whole budget; each cut is said in the alert's `cut`.
 */
export const ALERT_BOUNDS = { labels: 40, labelChars: 200, annotationChars: 500, annotationsChars: 2_000 };

export function summarizeAlert(a: AmAlert): z.output<typeof AlertSummary> {
  const cut: string[] = [];
  // alertname and severity first: the labels an agent reads and matches on most.
  const labelEntries = Object.entries(a.labels).sort(
    ([x], [y]) => Number(y === 'alertname' || y === 'severity') - Number(x === 'alertname' || x === 'severity'),
  );
  if (labelEntries.length > ALERT_BOUNDS.labels) {
    cut.push(`labels: ${ALERT_BOUNDS.labels} of ${labelEntries.length} kept`);
  }
  const keptLabels = labelEntries.slice(0, ALERT_BOUNDS.labels);
  const longLabels = keptLabels.filter(([, v]) => v.length > ALERT_BOUNDS.labelChars).length;
  if (longLabels) cut.push(`${longLabels} label value(s) cut to ${ALERT_BOUNDS.labelChars} chars`);
  const annotationEntries = Object.entries(a.annotations ?? {});
  const annotations: Record<string, string> = {};
  let chars = 0;
  let longAnnotations = 0;
  for (const [k, v] of annotationEntries) {
    const value = clipChars(v, ALERT_BOUNDS.annotationChars);
    if (chars + k.length + value.length > ALERT_BOUNDS.annotationsChars && chars > 0) break;
    if (value !== v) longAnnotations++;
    putLabel(annotations, k, value);
    chars += k.length + value.length;
  }
  const keptAnnotations = Object.keys(annotations).length;
  if (longAnnotations) cut.push(`${longAnnotations} annotation value(s) cut to ${ALERT_BOUNDS.annotationChars} chars`);
  if (keptAnnotations < annotationEntries.length) {
    cut.push(
      `annotations: ${keptAnnotations} of ${annotationEntries.length} kept (${ALERT_BOUNDS.annotationsChars} chars in all)`,
    );
  }
  if ((a.generatorURL?.length ?? 0) > ALERT_BOUNDS.annotationChars) {
    cut.push(`generatorURL cut to ${ALERT_BOUNDS.annotationChars} chars`);
  }
  return {
    name: a.labels.alertname ?? '',
    state: a.status.state,
    severity: a.labels.severity ?? null,
    labels: Object.fromEntries(keptLabels.map(([k, v]) => [k, clipChars(v, ALERT_BOUNDS.labelChars)])),
    annotations,
    startsAt: a.startsAt,
    endsAt: a.endsAt,
    updatedAt: a.updatedAt ?? null,
    fingerprint: a.fingerprint,
    ...(a.generatorURL ? { generatorURL: clipChars(a.generatorURL, ALERT_BOUNDS.annotationChars) } : {}),
    silencedBy: a.status.silencedBy ?? [],
    inhibitedBy: a.status.inhibitedBy ?? [],
    receivers: (a.receivers ?? []).map((r) => r.name),
    ...(cut.length ? { cut } : {}),
  };
}

/**
 * Most severe first, then newest (as instants: Alertmanager keeps the offset each sender wrote, a Prometheus
 * with TZ set sends "+05:00", amtool its host's zone).
 */
export function byUrgency(a: AmAlert, b: AmAlert): number {
  // own keys only: severity="constructor" would read a function from Object.prototype and sort by NaN
  const sa = ownValue(SEVERITY_RANK, a.labels.severity ?? '') ?? 4;
  const sb = ownValue(SEVERITY_RANK, b.labels.severity ?? '') ?? 4;
  return sa - sb || newestFirst(a.startsAt, b.startsAt);
}

function newestFirst(a: string, b: string): number {
  const d = instantOf(b) - instantOf(a);
  return Number.isNaN(d) ? 0 : d; // two times that do not parse
}

/** byUrgency as a key (then the fingerprint), for the kit's pageByKey. */
function urgencyKey(a: AmAlert): string {
  const rank = ownValue(SEVERITY_RANK, a.labels.severity ?? '') ?? 4;
  return tupleKey(String(rank), newestFirstKey(instantOf(a.startsAt)), a.fingerprint);
}

/** The page fields of a key page, with its `cut` when the items before it changed. */
function pageFields(page: KeyPage<unknown>, what: string) {
  const { items: _items, changed, ...rest } = page;
  return {
    ...rest,
    ...(changed
      ? {
          cut: [
            `${what} before this page changed since the previous one: this page goes on after the last one shown; ones now before it are not listed (call again without cursor for all)`,
          ],
        }
      : {}),
  };
}

/** `cut` of a list page: what changed before it (the KeyPage's `changed`). */
const ListCut = z.array(z.string()).optional();

export const alertsList = defineTool({
  name: 'alerts_list',
  toolset: 'alerts',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'List alerts',
  description: 'Alertmanager alerts, most severe first.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    state: z.array(z.enum(ALERT_STATES)).min(1).max(3).optional(),
    severity: z.string().min(1).max(50).optional().describe('severity label'),
    matchers: Matchers,
    limit: z.number().int().min(1).max(200).default(50),
    cursor: Cursor,
  }),
  output: z.object({
    counts: z.object({ active: z.number().int(), suppressed: z.number().int(), unprocessed: z.number().int() }),
    alerts: z.array(AlertSummary),
    ...ListPage,
    cut: ListCut,
  }),
  handler: async (input, { alertmanager, signal, maxOutputBytes }) => {
    const all = (await alertmanager.alerts(parseMatchers(input.matchers).map(formatMatcher), signal)).filter(
      (a) => input.severity === undefined || a.labels.severity === input.severity,
    );
    const counts = { active: 0, suppressed: 0, unprocessed: 0 };
    for (const a of all) if (a.status.state in counts) counts[a.status.state]++;
    const wanted = new Set(input.state ?? ALERT_STATES);
    const keyed = all
      .filter((a) => wanted.has(a.status.state))
      .map((a) => ({ key: urgencyKey(a), item: summarizeAlert(a) }));
    const page = pageByKey(distinctKeys(keyed), {
      tool: 'alerts_list',
      bind: JSON.stringify([[...wanted].sort(), input.severity ?? null, input.matchers ?? []]),
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: listBudget(maxOutputBytes),
    });
    return { counts, alerts: page.items, ...pageFields(page, 'alerts') };
  },
});

/** Distinct alert names listed per group, at most; a group with more says so in its `cut`. */
const MAX_GROUP_ALERT_NAMES = 10;

export const alertsListGroups = defineTool({
  name: 'alerts_list_groups',
  toolset: 'alerts',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'Alert groups',
  description: 'Alerts grouped by route: labels, receiver, state counts.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    matchers: Matchers,
    limit: z.number().int().min(1).max(200).default(50),
    cursor: Cursor,
  }),
  output: z.object({
    groups: z.array(
      z.object({
        labels: Labels,
        receiver: z.string(),
        alerts: z.number().int(),
        states: z.object({ active: z.number().int(), suppressed: z.number().int(), unprocessed: z.number().int() }),
        alertNames: z.array(z.string()),
        /** What the bounds left out of this group; absent when nothing was. */
        cut: z.array(z.string()).optional(),
      }),
    ),
    ...ListPage,
    cut: ListCut,
  }),
  handler: async (input, { alertmanager, signal, maxOutputBytes }) => {
    const groups = await alertmanager.groups(parseMatchers(input.matchers).map(formatMatcher), signal);
    const rows = groups.map((g) => {
      const states = { active: 0, suppressed: 0, unprocessed: 0 };
      for (const a of g.alerts ?? []) if (a.status.state in states) states[a.status.state]++;
      const names = [...new Set((g.alerts ?? []).map((a) => a.labels.alertname ?? ''))];
      return {
        labels: g.labels,
        receiver: g.receiver?.name ?? '',
        alerts: g.alerts?.length ?? 0,
        states,
        alertNames: names.slice(0, MAX_GROUP_ALERT_NAMES),
        ...(names.length > MAX_GROUP_ALERT_NAMES
          ? {
              cut: [
                `alertNames: ${MAX_GROUP_ALERT_NAMES} of ${names.length} shown; alerts_list with the group labels as matchers lists every alert`,
              ],
            }
          : {}),
      };
    });
    // A group is its receiver and labels: listed by receiver, then label pairs by name (as Alertmanager's UI).
    const keyed = rows.map((row) => ({ key: groupKey(row.receiver, row.labels), item: row }));
    const page = pageByKey(distinctKeys(keyed), {
      tool: 'alerts_list_groups',
      bind: JSON.stringify(input.matchers ?? []),
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: listBudget(maxOutputBytes),
    });
    return { groups: page.items, ...pageFields(page, 'groups') };
  },
});

/** A group's key: its receiver, then its label pairs sorted by name (code-unit order, as the keys sort). */
function groupKey(receiver: string, labels: Record<string, string>): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return tupleKey(receiver, ...pairs.flat());
}

const SILENCE_STATES = ['active', 'pending', 'expired'] as const;
const SilenceSummary = z.object({
  id: z.string(),
  state: z.enum(SILENCE_STATES),
  matchers: z.array(z.string()),
  createdBy: z.string(),
  comment: z.string(),
  startsAt: z.string(),
  endsAt: z.string(),
});

function summarizeSilence(s: AmSilence): z.output<typeof SilenceSummary> {
  return {
    id: s.id,
    state: s.status.state,
    matchers: s.matchers.map((m) => formatMatcher(fromAmMatcher(m))),
    createdBy: s.createdBy,
    comment: clipChars(s.comment, 500),
    startsAt: s.startsAt,
    endsAt: s.endsAt,
  };
}

export const alertsListSilences = defineTool({
  name: 'alerts_list_silences',
  toolset: 'alerts',
  tier: 'LOW',
  scopes: ['mcp:observability:read'],
  title: 'List silences',
  description: 'Alertmanager silences, newest first.',
  annotations: READ_ANNOTATIONS,
  input: z.object({
    state: z.array(z.enum(SILENCE_STATES)).min(1).max(3).default(['active', 'pending']),
    labels: labelsInput({ labels: 100, nameChars: 200, valueChars: 1000 })
      .optional()
      .describe("An alert's labels: only silences that mute it"),
    matchers: Matchers.describe(`As written in the silence; ${MATCHER_HINT}`),
    limit: z.number().int().min(1).max(200).default(50),
    cursor: Cursor,
  }),
  output: z.object({ silences: z.array(SilenceSummary), ...ListPage, cut: ListCut }),
  handler: async (input, { alertmanager, signal, maxOutputBytes }) => {
    const wanted = new Set(input.state);
    const { labels } = input;
    // Alertmanager's own filter compares matcher text (api/v2/api.go CheckSilenceMatchesFilterLabels), so
    // `service="checkout"` does not find a silence on service=~"check.*": `labels` evaluates each silence's
    // matchers against an alert's label set the way Alertmanager mutes it (all must match).
    // A regex whose repeats make it too large to compile here (MAX_PATTERN_SIZE; Alertmanager took it, from its
    // API or amtool) is not evaluated: compiling one took seconds of the event loop on every call. Its silence
    // is listed as one that may mute the alert, and the answer says so.
    let undecided = 0;
    const mutes = (s: AmSilence) => {
      if (!labels) return true;
      const matchers = s.matchers.map(fromAmMatcher);
      const large = matchers.filter(tooLargeToTest);
      if (!matchers.filter((m) => !large.includes(m)).every((m) => matcherTest(m)(labels))) return false;
      if (large.length > 0) undecided++;
      return true;
    };
    const keyed = (await alertmanager.silences(parseMatchers(input.matchers).map(formatMatcher), signal))
      .filter((s) => wanted.has(s.status.state) && mutes(s))
      .map((s) => ({ key: tupleKey(newestFirstKey(instantOf(s.startsAt)), s.id), item: summarizeSilence(s) }));
    const page = pageByKey(distinctKeys(keyed), {
      tool: 'alerts_list_silences',
      bind: JSON.stringify([[...wanted].sort(), labels ? Object.entries(labels).sort() : null, input.matchers ?? []]),
      cursor: input.cursor,
      limit: input.limit,
      maxBytes: listBudget(maxOutputBytes),
    });
    const fields = pageFields(page, 'silences');
    if (undecided === 0) return { silences: page.items, ...fields };
    const large = `${undecided} silence(s) listed may not mute these labels: a regex of theirs repeats past ${MAX_PATTERN_SIZE} steps and is not evaluated here; read their matchers`;
    return { silences: page.items, ...fields, cut: [...(fields.cut ?? []), large] };
  },
});

const MIN_SILENCE_SECONDS = 60;
const MAX_SILENCE_SECONDS = 7 * 86_400;

export const alertsCreateSilence = defineTool({
  name: 'alerts_create_silence',
  toolset: 'alerts',
  tier: 'MEDIUM',
  scopes: ['mcp:observability:write'],
  title: 'Create a silence',
  description: 'Silence matching alerts for 1m to 7d.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    matchers: z.array(MatcherText).min(1).max(20).describe(`All must match; ${MATCHER_HINT}`),
    author: z.string().min(1).max(200).describe('createdBy'),
    comment: z.string().min(3).max(2000).describe('Why'),
    duration: z.string().min(2).max(10).describe('e.g. "2h"'),
  }),
  output: z.object({ silence: SilenceSummary }),
  plan: (input) =>
    `silence alerts matching ${parseMatchers(input.matchers).map(formatMatcher).join(', ')} for ${input.duration}`,
  handler: async (input, { alertmanager, signal }) => {
    const seconds = parseDuration(input.duration, 'duration');
    if (seconds < MIN_SILENCE_SECONDS || seconds > MAX_SILENCE_SECONDS) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `duration: ${formatDuration(seconds)} is outside 1m..7d; silences longer than a week hide real problems`,
      );
    }
    const matchers = parseMatchers(input.matchers);
    // Exclusions and open regexes narrow nothing provably: one matcher must name what is silenced.
    if (!matchers.some(narrows)) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        'matchers: a silence must name at least one concrete label value: name="value", or name=~ a short list of ' +
          'exact values (e.g. alertname="DiskFull", alertname=~"DiskFull|HighLoad"); open regexes (.*, +, \\w, ' +
          `[a-z]*, (?i)) may match every alert and != or !~ only exclude: list the values instead (at most ${MAX_REGEX_VALUES})`,
      );
    }
    const now = Date.now();
    const sent = {
      matchers: matchers.map(toAmMatcher),
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + seconds * 1000).toISOString(),
      createdBy: input.author,
      comment: input.comment,
    };
    const id = await alertmanager.createSilence(sent, signal);
    try {
      return { silence: summarizeSilence(await alertmanager.silence(id, signal)) };
    } catch (err) {
      // The silence exists: failing here (Alertmanager busy, the call's time spent) made callers create it again.
      if (signal.aborted) throw err;
      return { silence: summarizeSilence({ ...sent, id, status: { state: 'active' } }) };
    }
  },
});

export const alertsExpireSilence = defineTool({
  name: 'alerts_expire_silence',
  toolset: 'alerts',
  tier: 'MEDIUM',
  scopes: ['mcp:observability:write'],
  title: 'Expire a silence',
  description: 'End a silence now; an expired one is a no-op.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({
    silenceId: z
      .string()
      .regex(/^[0-9a-fA-F-]{8,64}$/, 'must be a silence id (a UUID)')
      .describe('From alerts_list_silences'),
  }),
  output: z.object({ silence: SilenceSummary, previousState: z.enum(SILENCE_STATES), alreadyExpired: z.boolean() }),
  handler: async (input, { alertmanager, signal }) => {
    const before = await alertmanager.silence(input.silenceId, signal);
    if (before.status.state === 'expired') {
      return { silence: summarizeSilence(before), previousState: 'expired' as const, alreadyExpired: true };
    }
    await alertmanager.expireSilence(input.silenceId, signal);
    const after = await alertmanager.silence(input.silenceId, signal);
    return { silence: summarizeSilence(after), previousState: before.status.state, alreadyExpired: false };
  },
});

export const alertTools = [alertsList, alertsListGroups, alertsListSilences, alertsCreateSilence, alertsExpireSilence];
