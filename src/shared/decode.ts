import { createRequire } from 'node:module';
import type { CronExpressionParser } from 'cron-parser';
import { MAX_TIMER_MS } from './duration.js';

/**
 * The boundary in: everything redtask reads back from Redis is decoded here, because anything
 * can be written there (another program, a hand-run command, a bug, an older or newer redtask).
 * Each decoder checks types and ranges and returns either the value or the reason it is not
 * one; none of them throws on bad data. What fails is quarantined by the caller (a task is
 * dead-lettered, a schedule paused, a listing shows the entry as corrupt), never thrown through
 * a worker. The limits below are the same ones the library checks on the way in, so whatever
 * redtask writes, it reads back.
 */

/** A decoded value, or why the stored text is not one. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

// ---------------------------------------------------------------------------------------------
// Limits, shared with the checks on input.

/** Attempts per task, at most. */
export const MAX_ATTEMPTS = 1000;
export const MIN_PRIORITY = -100;
export const MAX_PRIORITY = 100;
/** The longest backoff delay (a year): a retry time stays a whole number of ms, never Infinity. */
export const MAX_BACKOFF_MS = 366 * 86_400_000;
/** The shortest and longest interval of an `every` schedule. */
export const MIN_EVERY_MS = 1000;
export const MAX_EVERY_MS = 366 * 86_400_000;
/**
 * Deepest nesting of a payload, result or progress value. Deeper JSON parses, but then breaks
 * code that walks it recursively (printing, comparing, a handler): a stack overflow per task.
 */
export const MAX_JSON_DEPTH = 512;
/** The furthest time a JavaScript Date holds (ms from the epoch, either way). */
export const MAX_TIME_MS = 8.64e15;

export const TASK_NAME = /^[^|\n]{0,200}$/;
export const GROUP_NAME = /^[A-Za-z0-9._:-]{1,64}$/;
export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function isInt(v: unknown, min: number, max: number): v is number {
  return Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
}

/** An object as JSON.parse makes one: not null, not an array. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value for a reason: short, whatever it is. */
function show(v: unknown): string {
  let s: string;
  try {
    s = v === undefined ? 'undefined' : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// JSON

/**
 * Whether JSON text nests at most `max` levels deep. Text with at most `max` opening brackets
 * cannot nest deeper, so most text is only searched for them (natively), not walked.
 */
export function jsonDepthOk(text: string, max = MAX_JSON_DEPTH): boolean {
  if (text.length <= max) return true;
  let opening = 0;
  for (const bracket of ['[', '{']) {
    for (let i = text.indexOf(bracket); i >= 0; i = text.indexOf(bracket, i + 1)) {
      if (++opening > max) return depthWithin(text, max);
    }
  }
  return true;
}

/** Walks the text, brackets inside strings aside. */
function depthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > max) return false;
    } else if (c === 93 || c === 125) depth--;
  }
  return true;
}

/** JSON text, parsed; `what` names it in the reason ("its payload"). */
export function decodeJson(text: string, what = 'the value'): Decoded<unknown> {
  if (!jsonDepthOk(text)) return fail(`${what}: nested more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return fail(`${what}: not valid JSON`);
  }
}

// ---------------------------------------------------------------------------------------------
// Task records

export interface Backoff {
  type: 'exponential' | 'fixed';
  /** Base delay (exponential) or the delay (fixed), ms. */
  delay: number;
  /** Upper bound for exponential delays, ms. */
  maxDelay?: number;
}

export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF: Backoff = { type: 'exponential', delay: 1000, maxDelay: 3_600_000 };

/** Options stored with a task (short keys: they are kept per task in Redis). */
export interface StoredOpts {
  /** backoff type: e = exponential, f = fixed */
  bt?: 'e' | 'f';
  /** backoff delay ms */
  bd?: number;
  /** backoff max delay ms */
  bm?: number;
  /** timeout of one attempt, ms */
  t?: number;
  /** priority (-100..100; absent: 0) */
  p?: number;
  /** schedule that published the task (set by fire-17.lua) */
  sn?: string;
  /** due time (ms) of that schedule's fire */
  sd?: number;
  /** fair group */
  g?: string;
  /** 1: a publisher waits for the outcome (announced on the queue's events channel) */
  w?: 1;
}

/**
 * A task record is one string, "<id>|<made>|<max>|<publishedAt>|<name>|<opts>|<data>", so that a
 * waiting task costs one list element (no per-task hash). Lua reads only the head (id, made,
 * max); the rest is the client's. opts is "" or JSON of numbers and fixed words (never a '|'),
 * data is the task's payload as JSON.
 */
export interface TaskRecord<T = unknown> {
  id: string;
  /** Attempts that have ended without success. */
  made: number;
  maxAttempts: number;
  publishedAt: number;
  name: string;
  opts: StoredOpts;
  data: T;
}

/** The fields before the options: what can be read of a record whose options or payload are bad. */
export type RecordHead = Pick<TaskRecord, 'id' | 'made' | 'maxAttempts' | 'publishedAt' | 'name'>;

/**
 * A decoded task record, or why it is not one, with what could be read: the id when the record
 * starts with one, the head when its fields are valid.
 */
export type DecodedTask<T = unknown> = { ok: true; value: TaskRecord<T> } | { ok: false; reason: string; id?: string; head?: RecordHead };

const HEAD = /^(\d+)\|(\d+)\|(\d+)\|(\d+)\|([^|]*)\|([^|]*)\|/;

/** The id at the head of a record, or undefined. */
export function recordId(e: string): string | undefined {
  return /^(\d+)\|/.exec(e)?.[1];
}

/** Checks one stored option; the reason when it is out of its range. */
const OPT_CHECKS: Record<keyof StoredOpts, (v: unknown) => boolean> = {
  bt: (v) => v === 'e' || v === 'f',
  bd: (v) => isInt(v, 0, MAX_BACKOFF_MS),
  bm: (v) => isInt(v, 0, MAX_BACKOFF_MS),
  t: (v) => isInt(v, 1, MAX_TIMER_MS),
  p: (v) => isInt(v, MIN_PRIORITY, MAX_PRIORITY),
  sn: (v) => typeof v === 'string' && SCHEDULE_NAME.test(v),
  sd: (v) => isInt(v, 0, MAX_TIME_MS),
  g: (v) => typeof v === 'string' && GROUP_NAME.test(v),
  w: (v) => v === 1,
};

/** The options of a task published with none (most tasks): one shared, frozen value. */
const NO_OPTS: Decoded<StoredOpts> = Object.freeze({ ok: true, value: Object.freeze({}) });

/** A task's stored options: "" or a JSON object whose known keys hold valid values. */
export function decodeOpts(text: string): Decoded<StoredOpts> {
  if (text === '') return NO_OPTS;
  const parsed = decodeJson(text, 'its options');
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (!isObject(o)) return fail(`its options ${show(o)} are not an object`);
  for (const key in o) {
    const check = OPT_CHECKS[key as keyof StoredOpts] as ((v: unknown) => boolean) | undefined;
    if (check !== undefined && Object.hasOwn(OPT_CHECKS, key) && !check(o[key])) return fail(`its option ${key} ${show(o[key])} is out of range`);
  }
  // Keys it does not know (a newer redtask's) are left in and never read.
  return { ok: true, value: o as StoredOpts };
}

/** A record whose head is valid and whose options or payload are not. */
function badBody(head: RecordHead, reason: string): { ok: false; reason: string; id: string; head: RecordHead } {
  return { ok: false, id: head.id, head, reason: `corrupt task record ${head.id}: ${reason}` };
}

function decodeFields<T>(
  id: string,
  madeText: string,
  maxText: string,
  tsText: string,
  name: string,
  optsText: string,
  dataText: string,
): DecodedTask<T> {
  const made = Number(madeText);
  const maxAttempts = Number(maxText);
  const publishedAt = Number(tsText);
  let why: string | undefined;
  if (!isInt(maxAttempts, 1, MAX_ATTEMPTS)) why = `its attempts ${maxText.slice(0, 20)} are not from 1 to ${MAX_ATTEMPTS}`;
  else if (!isInt(made, 0, MAX_ATTEMPTS)) why = `its attempts made ${madeText.slice(0, 20)} are not from 0 to ${MAX_ATTEMPTS}`;
  else if (!isInt(publishedAt, 0, MAX_TIME_MS)) why = `its publishing time ${tsText.slice(0, 20)} is out of range`;
  else if (!TASK_NAME.test(name)) why = `its name ${show(name)} is longer than 200 characters or holds a newline`;
  if (why !== undefined) return { ok: false, id, reason: `corrupt task record ${id}: ${why}` };
  // Past the head, a failure keeps the head: what a listing can still show.
  const opts = decodeOpts(optsText);
  if (!opts.ok) return badBody({ id, made, maxAttempts, publishedAt, name }, opts.reason);
  const data = decodeJson(dataText, 'its payload');
  if (!data.ok) return badBody({ id, made, maxAttempts, publishedAt, name }, data.reason);
  return { ok: true, value: { id, made, maxAttempts, publishedAt, name, opts: opts.value, data: data.value as T } };
}

/**
 * A task record as read from Redis (a leased task, a listing), checked: the head's numbers in
 * range, the options a JSON object of valid options, the payload valid JSON no deeper than
 * MAX_JSON_DEPTH. What fails comes back with its reason ("corrupt task record 61: ...").
 */
export function decodeTask<T = unknown>(raw: string): DecodedTask<T> {
  const m = HEAD.exec(raw);
  if (!m) {
    const id = recordId(raw);
    return { ok: false, id, reason: id !== undefined ? `corrupt task record ${id}: bad head` : `corrupt task record: ${JSON.stringify(raw.slice(0, 80))}` };
  }
  return decodeFields<T>(m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!, raw.slice(m[0].length));
}

const TEMPLATE = /^(\d+)\|([^|]*)\|([^|]*)\|/;

/**
 * A schedule's record template, "<max>|<name>|<opts>|<data>" (fire-17.lua makes each task's
 * record of it, adding to its options). Checked as the record it makes would be.
 */
export function decodeTemplate(raw: string): Decoded<{ maxAttempts: number; name: string; opts: StoredOpts; data: unknown }> {
  const m = TEMPLATE.exec(raw);
  if (!m) return fail(`its task template is not "<attempts>|<name>|<options>|<payload>": ${show(raw.slice(0, 40))}`);
  // The fire script appends to the options' closing brace: "{}" would become invalid JSON.
  if (/^\{\s*\}$/.test(m[3]!)) return fail('its task template has empty options "{}"');
  const d = decodeFields(`0`, '0', m[1]!, '0', m[2]!, m[3]!, raw.slice(m[0].length));
  if (!d.ok) return fail(`its task template: ${d.reason.replace(/^corrupt task record 0: /, '')}`);
  const { maxAttempts, name, opts, data } = d.value;
  return { ok: true, value: { maxAttempts, name, opts, data } };
}

/** A task's backoff in the library's words, from its stored options (the default when it has none). */
export function decodeBackoff(opts: StoredOpts): Backoff {
  if (!opts.bt) return DEFAULT_BACKOFF;
  if (opts.bt === 'f') return { type: 'fixed', delay: opts.bd ?? 1000 };
  return { type: 'exponential', delay: opts.bd ?? 1000, maxDelay: opts.bm };
}

/** Whether a backoff object is one the library takes (and so one a stored record may hold). */
export function backoffProblem(b: unknown): string | undefined {
  const ms = (v: unknown) => isInt(v, 0, MAX_BACKOFF_MS);
  const why = `backoff ${show(b)}: not { type: 'fixed' | 'exponential', delay, maxDelay? } with whole numbers of ms up to ${MAX_BACKOFF_MS}`;
  if (!isObject(b)) return why;
  const ok =
    (b.type === 'fixed' || b.type === 'exponential') &&
    ms(b.delay) &&
    (b.maxDelay === undefined || (b.type === 'exponential' && ms(b.maxDelay)));
  return ok ? undefined : why;
}

/** One failed attempt of a task, as kept in its errors entry. */
export interface StoredAttemptError {
  attempt: number;
  at: number;
  error: string;
  worker?: string;
}

/** A task's errors entry: a JSON array of its failed attempts. */
export function decodeAttemptErrors(raw: string): Decoded<StoredAttemptError[]> {
  const parsed = decodeJson(raw, 'its errors');
  if (!parsed.ok) return parsed;
  if (!Array.isArray(parsed.value)) return fail(`its errors ${show(parsed.value)} are not a list`);
  const out: StoredAttemptError[] = [];
  for (const e of parsed.value as unknown[]) {
    if (!isObject(e) || !isInt(e.attempt, 0, 1_000_000) || !isInt(e.at, 0, MAX_TIME_MS) || typeof e.error !== 'string' || (e.worker !== undefined && typeof e.worker !== 'string')) {
      return fail(`its errors hold an entry that is not {attempt, at, error, worker?}: ${show(e)}`);
    }
    out.push(e.worker === undefined ? { attempt: e.attempt, at: e.at, error: e.error } : { attempt: e.attempt, at: e.at, error: e.error, worker: e.worker });
  }
  return { ok: true, value: out };
}

/**
 * The worker holding a lease, from its fencing token "<workerId>.<seq>.<time>" (the head of the task's
 * entry in `active`), or undefined when the token is not of that form.
 */
export function tokenWorker(token: string): string | undefined {
  // (Worker ids have no dots: see the Worker's checks.)
  const dot = token.indexOf('.');
  return dot > 0 ? token.slice(0, dot) : undefined;
}

/**
 * When the lease of a token began: its third part, the worker's time in ms (base 36) when it
 * sent the call that leased the task ("<worker id>.<sequence>.<time>"); undefined without one.
 */
export function tokenLeasedAt(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[0-9a-z]{1,11}$/.test(parts[2]!)) return undefined;
  const ms = parseInt(parts[2]!, 36);
  return isInt(ms, 0, MAX_TIME_MS) ? ms : undefined;
}

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

// ---------------------------------------------------------------------------------------------
// Queue config, workers, counters

/** The settings a queue's config HASH may hold (each a whole number >= 0), besides `paused`. */
export const SETTINGS = [
  'keepCompleted',
  'keepCompletedMs',
  'keepDead',
  'keepDeadMs',
  'maxWaiting',
  'maxActive',
  'rateMax',
  'rateWindowMs',
  'groupMaxActive',
  'groupRateMax',
  'groupRateWindowMs',
] as const;

/** A counter or setting as Redis keeps it: the digits of a whole number >= 0 (a safe integer). */
export function decodeCount(raw: string, what = 'the count'): Decoded<number> {
  const n = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(n)) return fail(`${what} ${show(raw)} is not a whole number >= 0`);
  return { ok: true, value: n };
}

/** One field of a queue's config HASH. */
export function decodeSetting(field: string, raw: string): Decoded<number> {
  if (!(SETTINGS as readonly string[]).includes(field)) return fail(`${show(field)} is not a setting`);
  return decodeCount(raw, field);
}

/** A worker's description, as it writes it into the queue's winfo HASH with each heartbeat. */
export interface StoredWorker {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  running: number;
  startedAt: number;
  version: string;
  /** Its lease (ms): it renews its tasks' leases, and reports, several times per lease. */
  leaseMs?: number;
}

/** A worker's description (JSON), checked field by field. */
export function decodeWorker(raw: string): Decoded<StoredWorker> {
  const parsed = decodeJson(raw, 'its description');
  if (!parsed.ok) return parsed;
  const w = parsed.value;
  if (!isObject(w)) return fail(`its description ${show(w)} is not an object`);
  const str = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;
  if (!str(w.id, 256) || !str(w.host, 256) || !str(w.version, 64)) return fail('its id, host or version is not a string');
  if (!Array.isArray(w.queues) || !w.queues.every((q) => str(q, 128))) return fail(`its queues ${show(w.queues)} are not a list of names`);
  if (!isInt(w.pid, 0, 2 ** 32) || !isInt(w.concurrency, 0, 1_000_000) || !isInt(w.running, 0, 1_000_000)) {
    return fail(`its pid ${show(w.pid)}, concurrency ${show(w.concurrency)} or running ${show(w.running)} is not a whole number in range`);
  }
  if (!isInt(w.startedAt, 0, MAX_TIME_MS)) return fail(`its start time ${show(w.startedAt)} is not a time in ms`);
  if (w.leaseMs !== undefined && !isInt(w.leaseMs, 1, MAX_TIMER_MS)) return fail(`its lease ${show(w.leaseMs)} is not a whole number of ms`);
  const out: StoredWorker = {
    id: w.id as string,
    host: w.host as string,
    pid: w.pid,
    queues: [...(w.queues as string[])],
    concurrency: w.concurrency,
    running: w.running,
    startedAt: w.startedAt,
    version: w.version as string,
  };
  if (w.leaseMs !== undefined) out.leaseMs = w.leaseMs;
  return { ok: true, value: out };
}
