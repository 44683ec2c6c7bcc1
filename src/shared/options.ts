import { type Backoff, GROUP_NAME, MAX_ATTEMPTS, MAX_PRIORITY, MIN_PRIORITY } from './decode.js';
import { MAX_TIMER_MS } from './duration.js';
import { UsageError } from './errors.js';
import { checkBackoff, DEFAULT_ATTEMPTS, toJson, validateTaskName } from './record.js';

/**
 * The one place where an option's limits are defined and checked: the library checks what it is
 * given with `inRange`, and the programs' argument parsers (src/commands/common.ts: intArg,
 * timerArg) take the same ranges, so a limit is written once. The limits of what is read back
 * from Redis (decode.ts) are the ones defined there and used here.
 */

/** A whole-number option: what it is called in messages, and its range. */
export interface Range {
  readonly what: string;
  readonly min: number;
  /** Default: no upper limit (Number.MAX_SAFE_INTEGER). */
  readonly max?: number;
  /** A time in ms: messages say so. */
  readonly ms?: boolean;
}

/** Attempts in all, including the first. */
export const ATTEMPTS: Range = { what: 'attempts', min: 1, max: MAX_ATTEMPTS };
/** Higher runs first. */
export const PRIORITY: Range = { what: 'priority', min: MIN_PRIORITY, max: MAX_PRIORITY };
/** Longest time one attempt may run: a Node timer waits at most MAX_TIMER_MS (a longer one fires at once). */
export const TIMEOUT: Range = { what: 'timeout', min: 1, max: MAX_TIMER_MS, ms: true };
/** Tasks one worker runs at once. */
export const CONCURRENCY: Range = { what: 'concurrency', min: 1, max: 10_000 };
/** A worker's lease per task: shorter ones are renewed too often to be kept. */
export const LEASE: Range = { what: 'lease', min: 100, max: MAX_TIMER_MS, ms: true };
/** How long a handler that was told to stop may take to return. */
export const TIMEOUT_GRACE: Range = { what: 'timeoutGraceMs', min: 0, max: MAX_TIMER_MS, ms: true };
/** How long an idempotency key counts. */
export const KEY_WINDOW: Range = { what: 'key window', min: 1, ms: true };
/** How far back a schedule makes up for missed due times. */
export const CATCH_UP_WINDOW: Range = { what: 'catch-up window', min: 0, ms: true };
/** A page of a task listing (listTasks, task-monitor tasks --limit). */
export const PAGE: Range = { what: 'limit', min: 1, max: 1000 };
/** A queue setting (a count or a time): 0 is "none" or "no limit". */
export const SETTING: Range = { what: 'setting', min: 0 };

/** "from 1 to 1000", ">= 0", "of ms from 1 to 2147483647 (about 24.8 days)". */
export function describeRange(r: Range): string {
  const unit = r.ms ? ' of ms' : '';
  if (r.max === undefined) return `a whole number${unit} >= ${r.min}`;
  const days = r.ms ? ` (about ${Math.floor(r.max / 8_640_000) / 10} days)` : '';
  return `a whole number${unit} from ${r.min} to ${r.max}${days}`;
}

/** `value` when it is a whole number in the range; else a UsageError that names it (`what`, default the range's). */
export function inRange(r: Range, value: unknown, what = r.what): number {
  if (!Number.isInteger(value) || (value as number) < r.min || (value as number) > (r.max ?? Number.MAX_SAFE_INTEGER)) {
    throw new UsageError(`invalid ${what} ${String(value)}: use ${describeRange(r)}`);
  }
  return value as number;
}

/** The options that say how a task runs, as publish and schedules take them. */
export interface TaskOptions {
  name?: string;
  attempts?: number;
  backoff?: Backoff | string;
  timeout?: number;
  priority?: number;
}

/** TaskOptions checked, with their defaults. */
export interface CheckedTaskOptions {
  taskName: string;
  attempts: number;
  backoff: Backoff | undefined;
  timeout: number | undefined;
  priority: number;
}

/** Checks the options every task takes (name, attempts, backoff, timeout, priority); throws UsageError. */
export function checkTaskOptions(opts: TaskOptions): CheckedTaskOptions {
  return {
    attempts: inRange(ATTEMPTS, opts.attempts ?? DEFAULT_ATTEMPTS),
    backoff: checkBackoff(opts.backoff),
    timeout: opts.timeout === undefined ? undefined : inRange(TIMEOUT, opts.timeout),
    priority: inRange(PRIORITY, opts.priority ?? 0),
    taskName: validateTaskName(opts.name ?? ''),
  };
}

/** A fair group's name: 1-64 letters, digits, '.', '_', ':' or '-' ('' for none). */
export function validateGroup(group: string): string {
  if (group !== '' && !GROUP_NAME.test(group)) {
    throw new UsageError(`invalid group ${JSON.stringify(group)}: 1-64 letters, digits, '.', '_', ':' or '-'`);
  }
  return group;
}

/** A task's payload as stored (JSON); throws a UsageError when it is over `maxBytes`. */
export function payloadJson(data: unknown, maxBytes: number): string {
  const json = toJson(data);
  const bytes = Buffer.byteLength(json);
  if (bytes > maxBytes) throw new UsageError(`payload of ${bytes} bytes is larger than the limit of ${maxBytes} bytes`);
  return json;
}
