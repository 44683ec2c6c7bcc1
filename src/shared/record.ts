import { CorruptRecordError, UsageError } from './errors.js';
import { parseDuration } from './duration.js';

/**
 * A task record is one string, "<id>|<made>|<max>|<publishedAt>|<name>|<opts>|<data>", so that a
 * waiting task costs one list element (no per-task hash). Lua reads only the head (id, made,
 * max); the rest is the client's. opts is "" or JSON of numbers and fixed words (never a '|'),
 * data is the task's payload as JSON.
 */
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

const NAME = /^[^|\n]{0,200}$/;

export function validateTaskName(name: string): string {
  if (!NAME.test(name)) throw new UsageError(`invalid task name ${JSON.stringify(name)}: at most 200 characters, no '|' or newline`);
  return name;
}

export function encodeOpts(backoff: Backoff | undefined, timeoutMs?: number, priority = 0, group = '', notify = false): string {
  const o: StoredOpts = {};
  if (notify) o.w = 1;
  if (priority !== 0) o.p = priority;
  if (group !== '') o.g = group;
  if (backoff) {
    o.bt = backoff.type === 'fixed' ? 'f' : 'e';
    o.bd = backoff.delay;
    if (backoff.maxDelay !== undefined) o.bm = backoff.maxDelay;
  }
  if (timeoutMs !== undefined) o.t = timeoutMs;
  return Object.keys(o).length > 0 ? JSON.stringify(o) : '';
}

export function decodeBackoff(opts: StoredOpts): Backoff {
  if (!opts.bt) return DEFAULT_BACKOFF;
  return { type: opts.bt === 'f' ? 'fixed' : 'exponential', delay: opts.bd ?? 1000, maxDelay: opts.bm };
}

/** The longest backoff delay (a year): a retry time stays a whole number of ms, never Infinity. */
const MAX_BACKOFF_MS = 366 * 86_400_000;

/**
 * A backoff as the library takes it (an object or a spec string), checked: a delay that is not a
 * whole number of ms would make every retry of the task fail in Redis.
 */
export function checkBackoff(backoff: Backoff | string | undefined): Backoff | undefined {
  if (backoff === undefined) return undefined;
  if (typeof backoff === 'string') return parseBackoff(backoff);
  const ms = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_BACKOFF_MS;
  const ok =
    (backoff.type === 'fixed' || backoff.type === 'exponential') &&
    ms(backoff.delay) &&
    (backoff.maxDelay === undefined || (backoff.type === 'exponential' && ms(backoff.maxDelay)));
  if (!ok) {
    throw new UsageError(`invalid backoff ${JSON.stringify(backoff)}: use { type: 'fixed' | 'exponential', delay, maxDelay? } with whole numbers of ms up to ${MAX_BACKOFF_MS}`);
  }
  return backoff;
}

/** Parses "exponential[:base[:max]]" or "fixed:delay" (durations as in parseDuration). */
export function parseBackoff(spec: string): Backoff {
  const [type, a, b, ...rest] = spec.split(':');
  if (rest.length === 0) {
    if ((type === 'exponential' || type === 'exp') && b === undefined) {
      return { type: 'exponential', delay: a ? parseDuration(a, 'backoff delay') : 1000, maxDelay: 3_600_000 };
    }
    if (type === 'exponential' || type === 'exp') {
      return { type: 'exponential', delay: parseDuration(a ?? '1000', 'backoff delay'), maxDelay: parseDuration(b!, 'backoff maximum') };
    }
    if (type === 'fixed' && a !== undefined && b === undefined) return { type: 'fixed', delay: parseDuration(a, 'backoff delay') };
  }
  throw new UsageError(`invalid backoff ${JSON.stringify(spec)}: use exponential[:base[:max]] or fixed:<delay>, e.g. exponential:1s:10m`);
}

/**
 * Delay before the attempt after `attempt` (1-based) failed. Exponential uses "equal jitter":
 * a random point in the upper half of base * 2^(attempt-1), capped at maxDelay.
 */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const delay = backoffDelayOf(backoff, attempt, random);
  // (A stored record's backoff that is not a number, from outside the library, gets the default.)
  return Number.isFinite(delay) && delay >= 0 ? Math.min(delay, MAX_BACKOFF_MS) : backoffDelayOf(DEFAULT_BACKOFF, attempt, random);
}

function backoffDelayOf(backoff: Backoff, attempt: number, random: () => number): number {
  if (backoff.type === 'fixed') return backoff.delay;
  const full = Math.min(backoff.delay * 2 ** Math.max(0, attempt - 1), backoff.maxDelay ?? MAX_BACKOFF_MS, MAX_BACKOFF_MS);
  return Math.round(full / 2 + random() * (full / 2));
}

const HEAD = /^(\d+)\|(\d+)\|(\d+)\|(\d+)\|([^|]*)\|([^|]*)\|/;

/** Splits a record into its fields; throws CorruptRecordError when it is not one. */
export function decodeRecord<T = unknown>(e: string): TaskRecord<T> {
  const m = HEAD.exec(e);
  if (!m) {
    const id = /^\d+\|/.test(e) ? e.slice(0, e.indexOf('|')) : undefined;
    throw new CorruptRecordError(id !== undefined ? `corrupt task record ${id}: bad head` : `corrupt task record: ${JSON.stringify(e.slice(0, 80))}`);
  }
  const [head, id, made, max, ts, name, opts] = m as unknown as [string, string, string, string, string, string, string];
  let data: T;
  let parsedOpts: StoredOpts;
  try {
    data = JSON.parse(e.slice(head.length)) as T;
    parsedOpts = opts ? (JSON.parse(opts) as StoredOpts) : {};
  } catch {
    throw new CorruptRecordError(`corrupt task record ${id}: its payload is not valid JSON`);
  }
  return { id, made: Number(made), maxAttempts: Number(max), publishedAt: Number(ts), name, opts: parsedOpts, data };
}

/** The id at the head of a record, or undefined. */
export function recordId(e: string): string | undefined {
  return /^(\d+)\|/.exec(e)?.[1];
}
