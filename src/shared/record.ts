import { CorruptRecordError, UsageError } from './errors.js';
import { parseDuration } from './duration.js';
import {
  backoffProblem,
  type Backoff,
  DEFAULT_BACKOFF,
  decodeTask,
  jsonDepthOk,
  MAX_BACKOFF_MS,
  MAX_JSON_DEPTH,
  type StoredOpts,
  TASK_NAME,
  type TaskRecord,
} from './decode.js';

// The record format and its decoding live in decode.ts (the one module that reads what Redis
// holds); these names stay importable from here.
export { decodeBackoff, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, recordId } from './decode.js';
export type { Backoff, StoredOpts, TaskRecord } from './decode.js';

export function validateTaskName(name: string): string {
  if (!TASK_NAME.test(name)) throw new UsageError(`invalid task name ${JSON.stringify(name)}: at most 200 characters, no '|' or newline`);
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

/**
 * A backoff as the library takes it (an object or a spec string), checked: a delay that is not a
 * whole number of ms would make every retry of the task fail in Redis.
 */
export function checkBackoff(backoff: Backoff | string | undefined): Backoff | undefined {
  if (backoff === undefined) return undefined;
  const b = typeof backoff === 'string' ? parseBackoff(backoff) : backoff;
  const why = backoffProblem(b);
  if (why !== undefined) throw new UsageError(`invalid ${why}`);
  return b;
}

/** A payload (or result) as JSON; throws a UsageError when it nests deeper than a stored value may. */
export function toJson(data: unknown): string {
  const json = JSON.stringify(data === undefined ? null : data);
  if (!jsonDepthOk(json)) throw new UsageError(`payload nested more than ${MAX_JSON_DEPTH} levels deep`);
  return json;
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

/** Splits a record into its fields; throws CorruptRecordError when it is not one (see decodeTask, which does not throw). */
export function decodeRecord<T = unknown>(e: string): TaskRecord<T> {
  const d = decodeTask<T>(e);
  if (!d.ok) throw new CorruptRecordError(d.reason);
  return d.value;
}
