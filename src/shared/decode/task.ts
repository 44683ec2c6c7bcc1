import { MAX_TIMER_MS } from '../duration.js';
import { decodeJson, type Decoded, fail, GROUP_NAME, isInt, isObject, MAX_ATTEMPTS, MAX_BACKOFF_MS, MAX_PRIORITY, MAX_TIME_MS, MIN_PRIORITY, SCHEDULE_NAME, show, TASK_NAME } from './common.js';

/** Task records, their options, their attempt errors and lease tokens, decoded (see ../decode.ts). */

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

