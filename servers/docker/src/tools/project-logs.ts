import { jsonBytes, sliceChars, type ToolContext } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import type { LogResult } from '../backend.js';
import { nameShown, serviceOf } from '../state.js';
import type { DockerServices } from './define.js';
import { parseWindow } from './log-window.js';
import {
  assembleLogText,
  beforeDeadline,
  buildLineFilter,
  cutNoteOf,
  logCap,
  logGapOf,
  readLogs,
  ttyNotesOf,
} from './logs.js';

/** What compose_get_logs asks for. */
export interface ProjectLogInput {
  project: string;
  tail: number;
  since?: string | undefined;
  until?: string | undefined;
  streams: 'both' | 'stdout' | 'stderr';
  grep?: string | undefined;
  grepMode: 'substring' | 'regex';
  ignoreCase: boolean;
  timestamps: boolean;
  maxBytes?: number | undefined;
}

/** What an answer says about the containers whose log was not read (or not read to the end) in time. */
function lateNotesOf(late: readonly Docker.ContainerInfo[]): string[] {
  if (late.length === 0) return [];
  const services = [...new Set(late.map(serviceOf))].slice(0, 10);
  let who = late.map((c) => nameShown(c.Names)).join(', ');
  if (who.length > 500) who = `${who.slice(0, 500).replace(/, [^,]*$/, '')}, …`;
  return [
    `no logs from ${late.length} container(s) not read before the call's time limit (${who}); read them with services ${JSON.stringify(services)}, a smaller tail or a narrower since/until`,
  ];
}

/** The notes of the reads that were cut, one per container up to MAX_GAPS_LISTED, then counted. */
function cutNotesOf(cuts: readonly string[]): string[] {
  const notes = cuts.slice(0, MAX_GAPS_LISTED).map((n) => sliceChars(n, 1200));
  if (cuts.length > MAX_GAPS_LISTED) {
    notes.push(
      `${cuts.length - MAX_GAPS_LISTED} more containers' logs were read only in part too (the oldest of the lines asked for); read them with logs_get`,
    );
  }
  return notes;
}

/** Containers whose log could not be read are named one by one up to this many, then counted. */
const MAX_GAPS_LISTED = 10;

/**
 * The compose_get_logs answer: the merged, time-ordered logs of a project's containers (`containers`
 * resolves them once the input is checked). A container whose log cannot be read is a gap stated in
 * `notes` (which one, and why); the others are still returned, after what `notesOf` says about the containers.
 * The whole answer (services and notes included) is fitted to the output budget.
 */
export async function readProjectLogs(
  ctx: ToolContext<DockerServices>,
  input: ProjectLogInput,
  containers: () => Promise<Docker.ContainerInfo[]>,
  notesOf: (containers: readonly Docker.ContainerInfo[]) => string[] = () => [],
) {
  const { since, until } = parseWindow(input);
  const filter = buildLineFilter(input);
  const list = await containers();
  const perService = new Map<string, number>();
  for (const c of list) perService.set(serviceOf(c), (perService.get(serviceOf(c)) ?? 0) + 1);
  const { services, notes: serviceNotes } = fitServices([...perService.keys()], ctx.maxOutputBytes / 4);
  const both = input.streams === 'both';
  const readCap = logCap(input.maxBytes, ctx.maxOutputBytes, reservedFor(services, [])).cap;
  const merged: LogResult = { lines: [], scanned: 0, matched: 0, dropped: 0, droppedBytes: 0 };
  const gaps: string[] = [];
  const ttys: string[] = [];
  // Reads end shortly before the call's deadline: the logs read so far are answered, the rest named as not read.
  const stop = beforeDeadline(ctx);
  const late: Docker.ContainerInfo[] = [];
  // A read cut at the deadline or the engine-call timeout answers the lines it had, with a since to resume.
  const cuts: string[] = [];
  for (const c of list) {
    const service = serviceOf(c);
    const name = nameShown(c.Names);
    const prefix = (perService.get(service) ?? 0) > 1 ? name : service;
    if (stop.aborted && !ctx.signal.aborted) {
      late.push(c);
      continue;
    }
    try {
      // a listing does not say whether a container has a TTY, and that decides how its log is framed
      const tty = (await ctx.docker.inspect(c.Id, stop)).Config?.Tty === true;
      if (tty) ttys.push(`"${name}" (service ${service})`);
      const res = await readLogs(
        ctx.docker,
        c.Id,
        {
          ...input,
          since,
          until,
          filter,
          cap: readCap,
          tty,
          partial: true,
          render: (ts, body, stream) =>
            `${prefix} | ${input.timestamps && ts ? `${ts} ` : ''}${both && stream === 'stderr' ? '[stderr] ' : ''}${body}`,
        },
        stop,
      );
      if (res.cut) {
        const how = cutNoteOf(res.cut, res.scanned, `logs_get container ${JSON.stringify(name)}`);
        cuts.push(`the log of container ${JSON.stringify(name)} (service ${service}) was read only in part: ${how}`);
      }
      merged.lines.push(...res.lines);
      merged.scanned += res.scanned;
      merged.matched += res.matched;
      merged.dropped += res.dropped;
      merged.droppedBytes += res.droppedBytes;
    } catch (err) {
      if (stop.aborted && !ctx.signal.aborted) late.push(c);
      else gaps.push(`${name} (service ${service}): ${logGapOf(err, ctx.signal, { id: c.Id, name })}`);
    }
  }
  const gapNotes = gaps.slice(0, MAX_GAPS_LISTED).map((g) => sliceChars(`no logs from ${g}`, 300));
  if (gaps.length > MAX_GAPS_LISTED) {
    const rest = gaps.slice(MAX_GAPS_LISTED).map((g) => g.split(' ')[0]);
    const note = `no logs from ${rest.length} more containers either: ${rest.join(', ')}`;
    // a long list ends at the last whole name
    gapNotes.push(note.length <= 600 ? note : `${note.slice(0, 600).replace(/, [^,]*$/, '')}, …`);
  }
  const extraNotes = [
    ...notesOf(list),
    ...serviceNotes,
    ...ttyNotesOf(ttys, input.streams),
    ...gapNotes,
    ...cutNotesOf(cuts),
    ...lateNotesOf(late),
  ];
  const { cap, notes } = logCap(input.maxBytes, ctx.maxOutputBytes, reservedFor(services, extraNotes));
  const answer = assembleLogText(merged, cap, [...notes, ...extraNotes]);
  return {
    project: input.project,
    services,
    ...answer,
    // the lines asked for were not all read
    ...(cuts.length > 0 ? { truncated: true } : {}),
    matchedLines: merged.matched,
    scannedLines: merged.scanned,
  };
}

/**
 * What the services list and the extra notes take beyond logCap's 1024 bytes: those cover the project name,
 * the counts and the notes assembleLogText adds (at most about 850 bytes together), and a few services.
 */
function reservedFor(services: string[], notes: string[]): number {
  return Math.max(0, jsonBytes(services) + (notes.length > 0 ? jsonBytes(notes) : 0) - 150);
}

/** The service names, as many as fit `maxBytes` of JSON, and a note when some were left out. */
function fitServices(all: string[], maxBytes: number): { services: string[]; notes: string[] } {
  if (jsonBytes(all) <= maxBytes) return { services: all, notes: [] };
  const services: string[] = [];
  let size = 2;
  for (const s of all) {
    size += jsonBytes(s) + 1;
    if (size > maxBytes) break;
    services.push(s);
  }
  return {
    services,
    notes: [
      `services: the first ${services.length} of ${all.length} are listed, to stay within the output budget; the log lines name every service`,
    ],
  };
}
