import { createRequire } from 'node:module';
import type { CronExpressionParser } from 'cron-parser';
import { MAX_TIMER_MS } from '../duration.js';
import { decodeJson, type Decoded, fail, isInt, isObject, MAX_ATTEMPTS, MAX_EVERY_MS, MAX_PRIORITY, MAX_TIME_MS, MIN_EVERY_MS, MIN_PRIORITY, show, TASK_NAME } from './common.js';
import { type Backoff, backoffProblem, decodeTemplate } from './task.js';

/** Schedules: their stored definitions, task templates and fire states, decoded (see ../decode.ts). */

// ---------------------------------------------------------------------------------------------
// Schedules

export type OverlapPolicy = 'allow' | 'skip' | 'queue-one';
export type CatchUpPolicy = 'none' | 'latest' | 'all';

export const OVERLAP_POLICIES: readonly OverlapPolicy[] = ['allow', 'skip', 'queue-one'];
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ['none', 'latest', 'all'];

/** The definition as stored (JSON in the schedules HASH). `rev` comes first: Lua reads it with a pattern. */
export interface StoredSchedule {
  rev: string;
  cron?: string;
  every?: number;
  tz?: string;
  /** every: due times are anchor + k·every, k >= 1. */
  anchor: number;
  /** Only due times after this count (creation, a change of timing, a resume). */
  since: number;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  window: number;
  paused: boolean;
  priority: number;
  taskName: string;
  attempts: number;
  timeout?: number;
  backoff?: Backoff;
  createdAt: number;
  updatedAt: number;
}

/**
 * A decoded schedule definition, or why it is not one. `rev` is the definition's rev when one
 * can be read where the scripts read it (for a write that replaces exactly this definition);
 * `quarantined` is true for a definition that a scheduler already set aside (see
 * quarantinedSchedule).
 */
export type DecodedSchedule = { ok: true; value: StoredSchedule } | { ok: false; reason: string; rev?: string; quarantined: boolean };

let parser: typeof CronExpressionParser | undefined;

/** cron-parser (with luxon) is loaded on first use: a program that reads no cron expression does not pay for it. */
export function cronParser(): typeof CronExpressionParser {
  parser ??= (createRequire(import.meta.url)('cron-parser') as { CronExpressionParser: typeof CronExpressionParser }).CronExpressionParser;
  return parser;
}

/** Field ranges of 5- and 6-field expressions, for the step check cron-parser leaves out. */
const CRON_FIELDS: Record<number, Array<[string, number]>> = {
  5: [['minute', 60], ['hour', 24], ['day of month', 31], ['month', 12], ['day of week', 8]],
  6: [['second', 60], ['minute', 60], ['hour', 24], ['day of month', 31], ['month', 12], ['day of week', 8]],
};

/**
 * Why a cron expression is not one redtask takes, or undefined. Beyond cron-parser's own
 * check: fewer than 5 fields (it right-aligns them, so "0 9 * *" would fire every minute of one
 * hour a month), more than 6, and a step longer than its field (e.g. "*\/61" minutes, which can
 * only mean :00). Aliases (@hourly...) are left to cron-parser.
 */
export function cronProblem(expr: string, tz = 'UTC', now = Date.now()): string | undefined {
  const fields = expr.trim().split(/\s+/);
  if (!fields[0]?.startsWith('@')) {
    const ranges = CRON_FIELDS[fields.length];
    if (!ranges) return `${fields.length} fields; use 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)`;
    for (let i = 0; i < fields.length; i++) {
      for (const m of fields[i]!.matchAll(/\/(\d+)/g)) {
        const [what, size] = ranges[i]!;
        if (Number(m[1]) > size) return `the ${what} step ${m[1]} is longer than the field (${size} values)`;
      }
    }
  }
  try {
    cronParser().parse(expr, { tz, currentDate: now });
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return undefined;
}

/** Whether an IANA time zone name is known here. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const REV = /^\{"rev":"([A-Za-z0-9]+)"/;

/** The rev of a stored definition as the scripts read it (schedule-3.lua), or undefined. */
export function scheduleRev(raw: string): string | undefined {
  return REV.exec(raw)?.[1];
}

/**
 * What a scheduler writes in place of a definition that does not decode: paused (so the fire
 * script publishes nothing from it even for an older scheduler), with the reason and the text
 * it replaced. Publishing the schedule again replaces it; deleting it removes it.
 */
export function quarantinedSchedule(rev: string, reason: string, stored: string): string {
  return JSON.stringify({ rev, paused: true, corrupt: reason, stored });
}

/** Why a stored definition's fields are not a schedule's, or undefined. */
function scheduleProblem(d: Record<string, unknown>): string | undefined {
  const time = (v: unknown) => isInt(v, -MAX_TIME_MS, MAX_TIME_MS);
  if (typeof d.rev !== 'string' || !/^[A-Za-z0-9]+$/.test(d.rev)) return `its rev ${show(d.rev)} is not letters and digits`;
  if ((d.cron === undefined) === (d.every === undefined)) return 'it has both a cron expression and an interval, or neither';
  if (d.every !== undefined) {
    if (!isInt(d.every, MIN_EVERY_MS, MAX_EVERY_MS)) return `its interval ${show(d.every)} is not a whole number of ms from ${MIN_EVERY_MS} to ${MAX_EVERY_MS}`;
    if (d.tz !== undefined) return 'it has a time zone with an interval';
  } else {
    if (d.tz !== undefined && (typeof d.tz !== 'string' || !isTimeZone(d.tz))) return `its time zone ${show(d.tz)} is unknown`;
    if (typeof d.cron !== 'string' || d.cron.length > 1000) return `its cron expression ${show(d.cron)} is not a string`;
    const why = cronProblem(d.cron, (d.tz as string | undefined) ?? 'UTC');
    if (why !== undefined) return `its cron expression ${show(d.cron)} is invalid: ${why}`;
  }
  if (!time(d.anchor) || !time(d.since)) return `its anchor ${show(d.anchor)} or start ${show(d.since)} is not a time in ms`;
  if (!time(d.createdAt) || !time(d.updatedAt)) return `its creation ${show(d.createdAt)} or change ${show(d.updatedAt)} is not a time in ms`;
  if (!OVERLAP_POLICIES.includes(d.overlap as OverlapPolicy)) return `its overlap policy ${show(d.overlap)} is unknown`;
  if (!CATCH_UP_POLICIES.includes(d.catchUp as CatchUpPolicy)) return `its catch-up policy ${show(d.catchUp)} is unknown`;
  if (!isInt(d.window, 0, MAX_TIME_MS)) return `its catch-up window ${show(d.window)} is not a whole number of ms >= 0`;
  if (typeof d.paused !== 'boolean') return `its paused flag ${show(d.paused)} is not true or false`;
  if (!isInt(d.priority, MIN_PRIORITY, MAX_PRIORITY)) return `its priority ${show(d.priority)} is not from ${MIN_PRIORITY} to ${MAX_PRIORITY}`;
  if (typeof d.taskName !== 'string' || !TASK_NAME.test(d.taskName)) return `its task name ${show(d.taskName)} is invalid`;
  if (!isInt(d.attempts, 1, MAX_ATTEMPTS)) return `its attempts ${show(d.attempts)} are not from 1 to ${MAX_ATTEMPTS}`;
  if (d.timeout !== undefined && !isInt(d.timeout, 1, MAX_TIMER_MS)) return `its timeout ${show(d.timeout)} is not a whole number of ms from 1 to ${MAX_TIMER_MS}`;
  if (d.backoff !== undefined) {
    const why = backoffProblem(d.backoff);
    if (why !== undefined) return `its ${why}`;
  }
  return undefined;
}

const SCHEDULE_FIELDS = [
  'rev', 'cron', 'every', 'tz', 'anchor', 'since', 'overlap', 'catchUp', 'window', 'paused', 'priority', 'taskName', 'attempts', 'timeout', 'createdAt', 'updatedAt',
] as const satisfies ReadonlyArray<keyof StoredSchedule>;

/**
 * A schedule definition (JSON in the schedules HASH), checked: an interval a whole number of ms
 * in range, a cron expression that parses (in a known zone), policies known, numbers in range.
 */
export function decodeSchedule(raw: string): DecodedSchedule {
  const rev = scheduleRev(raw);
  const parsed = decodeJson(raw, 'its definition');
  if (!parsed.ok) return { ok: false, reason: parsed.reason, rev, quarantined: false };
  const d = parsed.value;
  if (!isObject(d)) return { ok: false, reason: `its definition ${show(d)} is not an object`, rev, quarantined: false };
  if (typeof d.corrupt === 'string') return { ok: false, reason: d.corrupt, rev, quarantined: true };
  const why = scheduleProblem(d);
  if (why !== undefined) return { ok: false, reason: why, rev, quarantined: false };
  // Only the fields of a definition, checked above, are kept (in the stored order, rev first).
  const def: Record<string, unknown> = {};
  for (const field of SCHEDULE_FIELDS) if (d[field] !== undefined) def[field] = d[field];
  if (d.backoff !== undefined) {
    const b = d.backoff as unknown as Backoff;
    def.backoff = b.maxDelay === undefined ? { type: b.type, delay: b.delay } : { type: b.type, delay: b.delay, maxDelay: b.maxDelay };
  }
  return { ok: true, value: def as unknown as StoredSchedule };
}

/**
 * A stored schedule checked whole: its definition and, when given (null: none stored), its task
 * template. A schedule whose template is missing or bad publishes nothing sound, so it counts
 * as corrupt as well.
 */
export function decodeStoredSchedule(raw: string, template?: string | null): DecodedSchedule {
  const d = decodeSchedule(raw);
  if (!d.ok || template === undefined) return d;
  if (template === null) return { ok: false, reason: 'it has no task template', rev: d.value.rev, quarantined: false };
  const t = decodeTemplate(template);
  return t.ok ? d : { ok: false, reason: t.reason, rev: d.value.rev, quarantined: false };
}

/** The fire state (schedstate HASH): "<lastDue>|<lastId>|<fired>|<skipped>|<queued>|<lastFiredAt>". */
export interface ScheduleState {
  lastDue: number;
  lastId: string;
  fired: number;
  skipped: number;
  queued: number;
  lastFiredAt: number;
}

export const EMPTY_SCHEDULE_STATE: ScheduleState = { lastDue: 0, lastId: '', fired: 0, skipped: 0, queued: 0, lastFiredAt: 0 };

const STATE = /^(-?\d+)\|(\d*)\|(\d+)\|(\d+)\|(-?\d+)\|(\d+)$/;

/**
 * A schedule's fire state; none stored is the empty state. A state that does not decode is
 * what fire-17.lua takes for the empty state too (and overwrites at the schedule's next fire).
 */
export function decodeScheduleState(raw: string | null | undefined): Decoded<ScheduleState> {
  if (raw === null || raw === undefined) return { ok: true, value: EMPTY_SCHEDULE_STATE };
  const m = STATE.exec(raw);
  if (!m) return fail(`its state ${show(raw)} is not "<lastDue>|<lastId>|<fired>|<skipped>|<queued>|<lastFiredAt>"`);
  const [lastDue, fired, skipped, queued, lastFiredAt] = [m[1], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  if (![lastDue, fired, skipped, queued, lastFiredAt].every((n) => Number.isSafeInteger(n))) return fail(`its state ${show(raw)} holds numbers out of range`);
  return { ok: true, value: { lastDue, lastId: m[2]!, fired, skipped, queued, lastFiredAt } };
}

