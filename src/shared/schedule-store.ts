import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  type Backoff,
  CATCH_UP_POLICIES,
  type CatchUpPolicy,
  cronProblem,
  decodeSchedule,
  decodeScheduleState,
  decodeStoredSchedule,
  decodeTemplate,
  EMPTY_SCHEDULE_STATE,
  MAX_EVERY_MS,
  MIN_EVERY_MS,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  quarantinedSchedule,
  SCHEDULE_NAME,
  type ScheduleState,
  type StoredSchedule,
} from './decode.js';
import { UsageError } from './errors.js';
import { QUEUES_KEY, type QueueKeys } from './keys.js';
import { CATCH_UP_WINDOW, checkTaskOptions, inRange, payloadJson } from './options.js';
import { encodeOpts } from './record.js';
import { Timing, validateTimeZone } from './schedule-timing.js';
import { runScript, scriptKeys } from './scripts.js';

/**
 * The schedule store: a queue's schedules as Redis holds them (a definition, a task template, a
 * fire state and a pending fire per schedule), created, changed, paused, deleted and read here.
 * The fire script (fire-17.lua) handles each due time once: it accepts a due time only if it is
 * later than the last one handled. Their timing is in schedule-timing.ts (pure).
 */

// The stored format is decoded in decode.ts; these names stay importable from here.
export { CATCH_UP_POLICIES, OVERLAP_POLICIES } from './decode.js';
export type { CatchUpPolicy, OverlapPolicy, ScheduleState, StoredSchedule } from './decode.js';

export const DEFAULT_CATCH_UP_WINDOW_MS = 86_400_000;

export interface ScheduleOptions {
  /** A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first). */
  cron?: string;
  /** A fixed interval in ms (at least 1,000): fires at creation + k·every, k = 1, 2, ... */
  every?: number;
  /** IANA time zone the cron expression is read in (default UTC). */
  tz?: string;
  /** Task name (picks the handler in a handler module). */
  name?: string;
  /** Attempts per fired task (default 3). */
  attempts?: number;
  /** Backoff between attempts of a fired task. */
  backoff?: Backoff | string;
  /** Longest time one attempt may run, ms. */
  timeout?: number;
  /** -100..100, default 0. */
  priority?: number;
  /**
   * When a due time comes while the previous fired task is still waiting, delayed or running:
   * allow (default) publishes anyway; skip drops this fire; queue-one keeps one fire that is
   * published once the previous task has finished (later overlapping fires replace it).
   */
  overlap?: OverlapPolicy;
  /**
   * Due times more than 5 s late (workers were down, or Redis was): none drops them; latest
   * (default) fires once for the most recent one if it lies within the window; all fires each
   * one within the window (at most 1,000, the most recent).
   */
  catchUp?: CatchUpPolicy;
  /** How far back missed due times are made up for, ms (default 24 h). */
  catchUpWindowMs?: number;
}

/** What a schedule does and where it stands. */
export interface ScheduleInfo<T = unknown> {
  name: string;
  queue: string;
  cron?: string;
  every?: number;
  tz?: string;
  data: T;
  taskName: string;
  attempts: number;
  priority: number;
  timeout?: number;
  backoff?: Backoff;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  catchUpWindowMs: number;
  paused: boolean;
  /** The next due time (ms), or null when paused or when the expression has no further date. */
  next: number | null;
  /** The last due time handled (fired, skipped or missed), or null. */
  lastDue: number | null;
  /** The id of the last task this schedule published, or null. */
  lastTaskId: string | null;
  /** Tasks published. */
  fired: number;
  /** Due times dropped by the overlap policy, or because the queue was full. */
  skipped: number;
  /** queue-one: the due time of the fire waiting for the previous task to finish, or null. */
  deferred: number | null;
  createdAt: number;
  updatedAt: number;
  /**
   * Set when the schedule's stored definition or task template cannot be read: why. Such a
   * schedule is paused (a worker's scheduler sets it aside, see Scheduler) and fires nothing;
   * publishing it again replaces it. Its timing and task fields are then empty.
   */
  corrupt?: string;
}

/** A schedule's fire state; one that cannot be read counts as none, as for fire-17.lua. */
export function parseState(raw: string | null | undefined): ScheduleState {
  const d = decodeScheduleState(raw);
  return d.ok ? d.value : EMPTY_SCHEDULE_STATE;
}

export function validateScheduleName(name: string): string {
  if (!SCHEDULE_NAME.test(name)) {
    throw new UsageError(
      `invalid schedule name ${JSON.stringify(name)}: use 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`,
    );
  }
  return name;
}
interface Validated {
  cron?: string;
  every?: number;
  tz?: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  window: number;
  priority: number;
  taskName: string;
  attempts: number;
  timeout?: number;
  backoff?: Backoff;
  /** "<max>|<name>|<opts>|<data>": the fire script makes a record of it. */
  template: string;
}

function validate(data: unknown, opts: ScheduleOptions, maxPayloadBytes: number, now: number): Validated {
  const extra = opts as Record<string, unknown>;
  if (extra.delay !== undefined || extra.runAt !== undefined) {
    throw new UsageError('a schedule sets its own run times: delay and runAt do not apply to it');
  }
  if ((opts.cron === undefined) === (opts.every === undefined)) {
    throw new UsageError('a schedule needs either a cron expression or an interval (every), not both');
  }
  let timing: Timing;
  if (opts.cron !== undefined) {
    if (opts.tz !== undefined) validateTimeZone(opts.tz);
    const why = cronProblem(opts.cron, opts.tz ?? 'UTC', now);
    if (why !== undefined) throw new UsageError(`invalid cron expression ${JSON.stringify(opts.cron)}: ${why}`);
    timing = new Timing({ cron: opts.cron, tz: opts.tz, anchor: now });
    if (timing.nextAfter(now) === null) throw new UsageError(`cron expression ${JSON.stringify(opts.cron)} never fires`);
  } else {
    if (opts.tz !== undefined) throw new UsageError('a time zone applies to cron expressions only, not to an interval');
    const every = opts.every!;
    if (!Number.isInteger(every) || every < MIN_EVERY_MS || every > MAX_EVERY_MS) {
      throw new UsageError(`invalid interval ${every} ms: use a whole number of ms from 1000 (1s) to 366 days`);
    }
  }
  const overlap = opts.overlap ?? 'allow';
  if (!OVERLAP_POLICIES.includes(overlap)) throw new UsageError(`invalid overlap policy ${JSON.stringify(overlap)}: use ${OVERLAP_POLICIES.join(', ')}`);
  const catchUp = opts.catchUp ?? 'latest';
  if (!CATCH_UP_POLICIES.includes(catchUp)) throw new UsageError(`invalid catch-up policy ${JSON.stringify(catchUp)}: use ${CATCH_UP_POLICIES.join(', ')}`);
  const window = inRange(CATCH_UP_WINDOW, opts.catchUpWindowMs ?? DEFAULT_CATCH_UP_WINDOW_MS);
  const { attempts, priority, timeout, backoff, taskName } = checkTaskOptions(opts);
  const json = payloadJson(data, maxPayloadBytes);
  return {
    cron: opts.cron,
    every: opts.every,
    tz: opts.tz,
    overlap,
    catchUp,
    window,
    priority,
    taskName,
    attempts,
    timeout,
    backoff,
    template: `${attempts}|${taskName}|${encodeOpts(backoff, timeout, priority)}|${json}`,
  };
}

function newRev(): string {
  return randomBytes(6).toString('hex');
}

/** The definition as JSON, with rev first (fire-17.lua and schedule-3.lua rely on it). */
function storeJson(def: StoredSchedule): string {
  const { rev, ...rest } = def;
  return JSON.stringify({ rev, ...rest });
}

/**
 * Writes a definition (JSON) if nobody changed the schedule since `expected` was read: its rev,
 * "" for none, or "=" and the whole definition read, for one that has no readable rev.
 */
async function casWrite(client: Redis, keys: QueueKeys, name: string, expected: string, json: string, template: string, next: number): Promise<boolean> {
  const res = await runScript(client, 'schedule', scriptKeys.schedule(keys), [name, expected, json, template, next]);
  return res === 1;
}

/** What a write that replaces a stored definition expects to find: its rev, or the text itself. */
function expectedOf(raw: string | null, rev: string | undefined): string {
  if (raw === null) return '';
  return rev ?? `=${raw}`;
}

/** Creates or changes a schedule. A change that keeps the timing keeps its phase and its pending catch-up. */
export async function putSchedule(client: Redis, queue: string, keys: QueueKeys, name: string, data: unknown, opts: ScheduleOptions, maxPayloadBytes: number): Promise<ScheduleInfo> {
  validateScheduleName(name);
  const v = validate(data, opts, maxPayloadBytes, Date.now());
  await client.sadd(QUEUES_KEY, queue);
  for (let attempt = 0; attempt < 50; attempt++) {
    const now = Date.now();
    const raw = await client.hget(keys.schedules, name);
    const decoded = raw === null ? undefined : decodeSchedule(raw);
    // A corrupt definition is replaced as if there were none: the new one starts afresh.
    const cur = decoded?.ok ? decoded.value : undefined;
    const same = cur !== undefined && cur.cron === v.cron && cur.every === v.every && cur.tz === v.tz;
    const { template, ...fields } = v;
    const def: StoredSchedule = {
      rev: newRev(),
      ...fields,
      anchor: same ? cur.anchor : now,
      since: same ? cur.since : now,
      paused: cur?.paused ?? false,
      createdAt: cur?.createdAt ?? now,
      updatedAt: now,
    };
    // Same timing: the next-fire entry stays as it is (-2), so due times missed meanwhile are still made up for.
    const next = def.paused ? -1 : same ? -2 : (new Timing(def).nextAfter(now) ?? -1);
    const expected = cur ? cur.rev : expectedOf(raw, decoded && !decoded.ok ? decoded.rev : undefined);
    if (await casWrite(client, keys, name, expected, storeJson(def), template, next)) {
      return (await getSchedules(client, queue, keys, [name]))[0]!;
    }
  }
  throw new Error(`schedule ${name} is being changed by others at the same time; try again`);
}

/** Pauses (no fires, none made up for later) or resumes (from the next due time on) a schedule. */
export async function setSchedulePaused(client: Redis, queue: string, keys: QueueKeys, name: string, paused: boolean): Promise<ScheduleInfo> {
  validateScheduleName(name);
  for (let attempt = 0; attempt < 50; attempt++) {
    const raw = await client.hget(keys.schedules, name);
    if (!raw) throw new UsageError(`no schedule ${JSON.stringify(name)} on queue ${queue}`);
    const decoded = decodeSchedule(raw);
    if (!decoded.ok) {
      throw new UsageError(`schedule ${name} of queue ${queue} is corrupt (${decoded.reason}): publish it again with task-publish --schedule ${name}, or delete it`);
    }
    const cur = decoded.value;
    const now = Date.now();
    let def: StoredSchedule;
    let next: number;
    if (paused) {
      def = { ...cur, rev: newRev(), paused: true, updatedAt: now };
      next = -1;
    } else if (cur.paused) {
      def = { ...cur, rev: newRev(), paused: false, since: now, updatedAt: now };
      next = new Timing(def).nextAfter(now) ?? -1;
    } else {
      return (await getSchedules(client, queue, keys, [name]))[0]!;
    }
    if (await casWrite(client, keys, name, cur.rev, storeJson(def), '', next)) return (await getSchedules(client, queue, keys, [name]))[0]!;
  }
  throw new Error(`schedule ${name} is being changed by others at the same time; try again`);
}

/**
 * Sets aside a schedule whose stored definition `raw` (or task template) does not decode: the
 * definition is replaced, atomically and only if it is still `raw`, by a paused one that keeps
 * the reason and the text it replaced, and its pending fire is removed. Resolves to whether it
 * was written (false: the schedule changed or went away meanwhile).
 */
export async function quarantineSchedule(client: Redis, keys: QueueKeys, name: string, raw: string, reason: string): Promise<boolean> {
  const d = decodeSchedule(raw);
  if (!d.ok && d.quarantined) return false;
  const rev = d.ok ? d.value.rev : d.rev;
  return casWrite(client, keys, name, expectedOf(raw, rev), quarantinedSchedule(newRev(), reason, raw), '', -1);
}

/** Deletes a schedule and its state; resolves to whether it existed. Tasks it published stay. */
export async function deleteSchedule(client: Redis, keys: QueueKeys, name: string): Promise<boolean> {
  validateScheduleName(name);
  const res = await client
    .multi()
    .hdel(keys.schedules, name)
    .hdel(keys.schedtask, name, `${name}|last`)
    .hdel(keys.schedstate, name)
    .zrem(keys.schednext, name)
    .exec();
  if (!res) throw new Error('deleteSchedule: transaction aborted');
  for (const [err] of res) if (err) throw err;
  return res[0]![1] === 1;
}

/** A queue's schedule definitions, fire states and pending fires, read in one transaction. */
export async function readScheduleSet(
  client: Redis,
  keys: QueueKeys,
): Promise<{ defs: Record<string, string>; states: Record<string, string>; next: Map<string, number> }> {
  const res = await client.multi().hgetall(keys.schedules).hgetall(keys.schedstate).zrange(keys.schednext, 0, -1, 'WITHSCORES').exec();
  if (!res) throw new Error('schedules: transaction aborted');
  for (const [err] of res) if (err) throw err;
  const nextRaw = res[2]![1] as string[];
  const next = new Map<string, number>();
  for (let i = 0; i < nextRaw.length; i += 2) next.set(nextRaw[i]!, Number(nextRaw[i + 1]));
  return { defs: res[0]![1] as Record<string, string>, states: res[1]![1] as Record<string, string>, next };
}

/** The schedules of a queue (all, or the named ones that exist), by name; one that cannot be read is listed with `corrupt`. */
export async function getSchedules(client: Redis, queue: string, keys: QueueKeys, names?: string[]): Promise<ScheduleInfo[]> {
  const { defs, states, next } = await readScheduleSet(client, keys);
  const wanted = (names ?? Object.keys(defs)).filter((n) => defs[n] !== undefined).sort();
  if (wanted.length === 0) return [];
  const templates = await client.hmget(keys.schedtask, ...wanted);
  return wanted.map((name, i) => {
    const st = parseState(states[name]);
    const state = {
      lastDue: st.lastDue > 0 ? st.lastDue : null,
      lastTaskId: st.lastId || null,
      fired: st.fired,
      skipped: st.skipped,
      deferred: st.queued > 0 ? st.queued : null,
    };
    const decoded = decodeStoredSchedule(defs[name]!, templates[i] ?? null);
    if (!decoded.ok) {
      return {
        name,
        queue,
        data: null,
        taskName: '',
        attempts: 0,
        priority: 0,
        overlap: 'allow',
        catchUp: 'none',
        catchUpWindowMs: 0,
        paused: true,
        next: null,
        ...state,
        createdAt: 0,
        updatedAt: 0,
        corrupt: decoded.reason,
      };
    }
    const def = decoded.value;
    let nextDue: number | null = next.get(name) ?? null;
    if (nextDue === null && !def.paused) nextDue = new Timing(def).nextAfter(Math.max(st.lastDue, def.since));
    const tpl = decodeTemplate(templates[i]!);
    return {
      name,
      queue,
      cron: def.cron,
      every: def.every,
      tz: def.tz,
      data: tpl.ok ? tpl.value.data : null,
      taskName: def.taskName,
      attempts: def.attempts,
      priority: def.priority,
      timeout: def.timeout,
      backoff: def.backoff,
      overlap: def.overlap,
      catchUp: def.catchUp,
      catchUpWindowMs: def.window,
      paused: def.paused,
      next: def.paused ? null : nextDue,
      ...state,
      createdAt: def.createdAt,
      updatedAt: def.updatedAt,
    };
  });
}
