import type { ChainableCommander, Redis } from 'ioredis';
import { CorruptRecordError, scriptError, UsageError } from './errors.js';
import { LEASE_PIN, leaseMember, QUEUES_KEY, queueKeys, type QueueKeys, splitLeaseMember, statsKey, validateQueueName, WAIT_BUCKETS } from './keys.js';
import {
  type Backoff,
  decodeAttemptErrors,
  decodeBackoff,
  decodeCount,
  decodeJson,
  decodeSchedule,
  decodeSetting,
  decodeTask,
  decodeWorker,
  DEFAULT_BACKOFF,
  type DecodedTask,
  type StoredWorker,
  type TaskRecord,
  tokenWorker,
} from './decode.js';
import { DEFAULT_ATTEMPTS, checkBackoff, encodeOpts, toJson, validateTaskName } from './record.js';
import { createRedis, resolveRedisUrl } from './redis.js';
import { runScript, scriptKeys } from './scripts.js';
import { Waiter } from './waiter.js';
import { MAX_TIMER_MS } from './duration.js';
import {
  deleteSchedule,
  getSchedules,
  parseState,
  putSchedule,
  readScheduleSet,
  type ScheduleInfo,
  type ScheduleOptions,
  setSchedulePaused,
  Timing,
} from './schedule.js';

export interface ConnectionOptions {
  /** A redis:// or rediss:// URL (default: REDIS_URL or redis://127.0.0.1:6379), or a client to share. */
  connection?: string | Redis;
}

export interface AddOptions {
  /** Task name, used by handler modules to pick a handler. */
  name?: string;
  /** Attempts in all, including the first (default 3). */
  attempts?: number;
  /** Backoff between attempts: an object or a spec such as "exponential:1s:10m" or "fixed:5s". */
  backoff?: Backoff | string;
  /** Run no earlier than this many ms from now. */
  delay?: number;
  /** Run no earlier than this time. */
  runAt?: Date | number;
  /**
   * Longest time one attempt may run, ms. Then the handler's AbortSignal fires (an --exec
   * command gets SIGTERM, then SIGKILL) and the attempt fails and is retried by its policy.
   */
  timeout?: number;
  /**
   * -100..100, default 0: higher runs first, FIFO within a priority. Tasks of priority 0 cost
   * least (one list element); others also take a sorted-set entry.
   */
  priority?: number;
  /**
   * Idempotency key: publishing again with the same key while it counts creates no second task;
   * the first task's id is returned instead.
   */
  key?: string;
  /** How long the key counts, ms (default 24 h). */
  keyWindowMs?: number;
  /**
   * Fair group (a tenant, a customer): groups are served round robin, so one that queues a
   * flood cannot starve the others. 1-64 letters, digits, '.', '_', ':' or '-'.
   */
  group?: string;
  /** Announce how the task ends on the queue's events channel, for `waitFor` (task-publish --wait). */
  notify?: boolean;
}

/** How long an idempotency key counts when no window is given. */
export const DEFAULT_KEY_WINDOW_MS = 86_400_000;

export interface QueueSettings {
  /** Completed tasks kept (with result), newest first; 0 keeps none. Default 1,000. */
  keepCompleted?: number;
  /** Completed tasks older than this (ms) are removed. Default 24 h. */
  keepCompletedMs?: number;
  /** Dead-lettered tasks kept. Default 10,000. */
  keepDead?: number;
  /** Dead-lettered tasks older than this (ms) are removed. Default 7 days. */
  keepDeadMs?: number;
  /** Most waiting tasks accepted; publishing beyond fails with QueueFullError. 0: no limit (default). */
  maxWaiting?: number;
  /** Most tasks running at once across all workers. 0: no limit (default). */
  maxActive?: number;
  /** Most tasks started per rateWindowMs across all workers. 0: no limit (default). */
  rateMax?: number;
  /** The rate limit's window, ms (required with rateMax). */
  rateWindowMs?: number;
  /** Most tasks of one fair group running at once across all workers. 0: no limit (default). */
  groupMaxActive?: number;
  /** Most tasks one fair group starts per groupRateWindowMs. 0: no limit (default). */
  groupRateMax?: number;
  /** The per-group rate limit's window, ms (required with groupRateMax). */
  groupRateWindowMs?: number;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  /** Completed tasks currently retained. */
  completedRetained: number;
  /** Dead-lettered tasks currently retained. */
  deadRetained: number;
  /** Totals since the queue was created. */
  published: number;
  completed: number;
  failed: number;
  retried: number;
  recovered: number;
  /** Tasks cancelled (total), and those still retained. */
  cancelled: number;
  cancelledRetained: number;
  /** Workers take no new tasks while the queue is paused. */
  paused: boolean;
  /** Records without a readable head that workers moved to the queue's corrupt list (kept for inspection). */
  setAside: number;
  /** Set when a counter stored for the queue is not a whole number: why (it counts as 0). */
  corrupt?: string;
}

export type TaskState = 'waiting' | 'active' | 'delayed' | 'completed' | 'dead' | 'cancelled';

export interface AttemptError {
  attempt: number;
  at: number;
  error: string;
  worker?: string;
}

/**
 * A task as the inspector shows it, in the library's words. When its stored record (or its
 * result, errors or progress) cannot be decoded, `corrupt` says why; the fields hold what could
 * be read (the id, and the record's head when that is valid) and `data` is undefined.
 */
export interface TaskInfo<T = unknown> {
  id: string;
  queue: string;
  state: TaskState;
  name: string;
  data: T;
  publishedAt: number;
  /**
   * Attempts made: those that ended without success, and the one running (active task) or the
   * one that succeeded (completed task).
   */
  attempts: number;
  /** Attempts in all, including the first. */
  maxAttempts: number;
  /** The backoff between attempts (the default when none was given). */
  backoff: Backoff;
  /** Longest time one attempt may run, ms (none: the worker's default). */
  timeout?: number;
  /** -100..100; higher runs first. */
  priority: number;
  /** Its fair group. */
  group?: string;
  /** The schedule that published it, and the due time it was published for. */
  schedule?: { name: string; due: number };
  /** For active tasks: the id of the worker holding its lease. */
  worker?: string;
  /** For active tasks: the lease deadline (ms since epoch). */
  leaseUntil?: number;
  /** For delayed tasks: when the task becomes due; for finished ones: when it finished. */
  at?: number;
  /** The result (completed tasks), parsed from JSON. */
  result?: unknown;
  /** One entry per failed attempt. */
  errors: AttemptError[];
  progress?: unknown;
  /** Why what is stored about this task cannot be read, when it cannot. */
  corrupt?: string;
}

/** A live worker, from the description it sends with each heartbeat. */
export interface WorkerInfo extends StoredWorker {
  lastSeen: number;
  /** Why its description cannot be read, when it cannot (its fields are then empty). */
  corrupt?: string;
}

/** A task record in the inspector's terms; a record that does not decode is listed with its reason. */
function taskInfo<T>(queue: string, state: TaskState, d: DecodedTask<T>): TaskInfo<T> {
  // The stored count is of the attempts that ended without success.
  const running = state === 'active' || state === 'completed' ? 1 : 0;
  if (!d.ok) {
    const h = d.head;
    return {
      id: d.id ?? '',
      queue,
      state,
      name: h?.name ?? '',
      data: undefined as T,
      publishedAt: h?.publishedAt ?? 0,
      attempts: h ? h.made + running : 0,
      maxAttempts: h?.maxAttempts ?? 0,
      backoff: DEFAULT_BACKOFF,
      priority: 0,
      errors: [],
      corrupt: d.reason,
    };
  }
  const r: TaskRecord<T> = d.value;
  const o = r.opts;
  const t: TaskInfo<T> = {
    id: r.id,
    queue,
    state,
    name: r.name,
    data: r.data,
    publishedAt: r.publishedAt,
    attempts: r.made + running,
    maxAttempts: r.maxAttempts,
    backoff: decodeBackoff(o),
    priority: o.p ?? 0,
    errors: [],
  };
  if (o.t !== undefined) t.timeout = o.t;
  if (o.g !== undefined) t.group = o.g;
  if (o.sn !== undefined) t.schedule = { name: o.sn, due: o.sd ?? 0 };
  return t;
}

/** Adds a reason to a task's `corrupt`. */
function addCorrupt(t: TaskInfo, reason: string): void {
  t.corrupt = t.corrupt ? `${t.corrupt}; ${reason}` : reason;
}

/** Tasks of one add call must fit in a payload this large (bytes of JSON), unless configured. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const BATCH = 1000;
/**
 * At most this many characters of records per publish call, whatever their number: a command is
 * built as one string, and a thousand tasks near the payload limit would pass V8's longest.
 */
export const BATCH_CHARS = 16 * 1024 * 1024;

/** Opens the client a Queue or Worker uses, remembering whether it owns it. */
function openConnection(connection: string | Redis | undefined, name: string): { client: Redis; owned: boolean } {
  if (connection && typeof connection !== 'string') return { client: connection, owned: false };
  return { client: createRedis(resolveRedisUrl(connection), { name }), owned: true };
}

function num(v: unknown): number {
  return Number(v ?? 0) || 0;
}

/** Counters read from a hash: null is 0; one that is not a whole number counts as 0 and adds its reason to `bad`. */
function counters(values: Array<string | null>, fields: readonly string[], bad: string[]): number[] {
  return values.map((v, i) => {
    if (v === null) return 0;
    const d = decodeCount(v, fields[i]);
    if (d.ok) return d.value;
    bad.push(d.reason);
    return 0;
  });
}

/**
 * The producer and inspector side of one queue: add tasks, read counts and single tasks,
 * change the queue's settings.
 */
export class Queue<T = unknown> {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly client: Redis;
  private readonly owned: boolean;
  private registered = false;
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD;

  constructor(name: string, opts: ConnectionOptions = {}) {
    this.name = validateQueueName(name);
    this.keys = queueKeys(name);
    const { client, owned } = openConnection(opts.connection, 'redtask:queue');
    this.client = client;
    this.owned = owned;
  }

  /** Adds one task; resolves to its id. */
  async add(data: T, opts: AddOptions = {}): Promise<string> {
    const [id] = await this.addBulk([{ data, opts }]);
    return id!;
  }

  /** Adds many tasks (up to 1,000, and 16 MiB of records, per script call); resolves to their ids, in order. */
  async addBulk(items: Array<{ data: T; opts?: AddOptions }>): Promise<string[]> {
    const now = Date.now();
    const encoded = items.map((item) => this.encode(item.data, item.opts ?? {}, now));
    if (!this.registered) {
      await this.client.sadd(QUEUES_KEY, this.name);
      this.registered = true;
    }
    const ids: string[] = [];
    for (let i = 0; i < encoded.length; ) {
      const size = (k: number) => (encoded[k]![5] as string).length;
      let end = i + 1;
      let chars = size(i);
      while (end < encoded.length && end - i < BATCH && chars + size(end) <= BATCH_CHARS) chars += size(end++);
      const chunk = encoded.slice(i, end);
      i = end;
      // Due now, priority 0, no group, no key: only the records go (the script's plain mode).
      const plain = chunk.every((e) => e[0] === 0 && e[1] === 0 && e[2] === '' && e[3] === '');
      const args = plain ? [now, -chunk.length, ...chunk.map((e) => e[5]!)] : [now, chunk.length, ...chunk.flat()];
      const res = (await runScript(this.client, 'publish', scriptKeys.publish(this.keys), args).catch((err: unknown) => {
        throw scriptError(err, { queue: this.name, accepted: ids });
      })) as Array<number | string>;
      if (res[0] === -2) for (const id of res.slice(1)) ids.push(String(id));
      else for (let k = 0; k < Number(res[1]); k++) ids.push(String(Number(res[0]) + k));
    }
    return ids;
  }

  /** A task's payload as stored (JSON); throws a UsageError when it is over maxPayloadBytes. */
  payloadJson(data: T): string {
    const json = toJson(data);
    if (Buffer.byteLength(json) > this.maxPayloadBytes) {
      throw new UsageError(`payload of ${Buffer.byteLength(json)} bytes is larger than the limit of ${this.maxPayloadBytes} bytes`);
    }
    return json;
  }

  private encode(data: T, opts: AddOptions, now: number): Array<string | number> {
    const json = this.payloadJson(data);
    const attempts = opts.attempts ?? DEFAULT_ATTEMPTS;
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 1000) {
      throw new UsageError(`invalid attempts ${attempts}: use a whole number from 1 to 1000`);
    }
    const backoff = checkBackoff(opts.backoff);
    let runAt = 0;
    if (opts.runAt !== undefined) runAt = typeof opts.runAt === 'number' ? opts.runAt : opts.runAt.getTime();
    if (opts.delay !== undefined) {
      if (!(opts.delay >= 0 && Number.isFinite(opts.delay))) throw new UsageError(`invalid delay ${opts.delay}: use a number of ms >= 0`);
      runAt = now + opts.delay;
    }
    if (!Number.isFinite(runAt)) throw new UsageError('invalid run-at time');
    if (opts.timeout !== undefined && !(Number.isInteger(opts.timeout) && opts.timeout > 0 && opts.timeout <= MAX_TIMER_MS)) {
      throw new UsageError(`invalid timeout ${opts.timeout}: use a whole number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days)`);
    }
    const priority = opts.priority ?? 0;
    if (!Number.isInteger(priority) || priority < -100 || priority > 100) {
      throw new UsageError(`invalid priority ${priority}: use a whole number from -100 to 100`);
    }
    const key = opts.key ?? '';
    if (key.length > 512) throw new UsageError('invalid idempotency key: at most 512 characters');
    const window = opts.keyWindowMs ?? DEFAULT_KEY_WINDOW_MS;
    if (!Number.isInteger(window) || window <= 0) throw new UsageError(`invalid key window ${window}: use a whole number of ms > 0`);
    const group = opts.group ?? '';
    if (group !== '' && !/^[A-Za-z0-9._:-]{1,64}$/.test(group)) {
      throw new UsageError(`invalid group ${JSON.stringify(group)}: 1-64 letters, digits, '.', '_', ':' or '-'`);
    }
    return [runAt, priority, group, key, window, `${attempts}|${now}|${validateTaskName(opts.name ?? '')}|${encodeOpts(backoff, opts.timeout, priority, group, opts.notify)}|${json}`];
  }

  /** Current counts of each state and the totals; every figure is O(1) to read. */
  async counts(): Promise<QueueCounts> {
    const k = this.keys;
    const res = await this.client
      .multi()
      .llen(k.wait)
      .zcard(k.prio)
      .zcard(k.groups)
      .hlen(k.active)
      .zcard(k.delayed)
      .zcard(k.completed)
      .zcard(k.dead)
      .hmget(k.meta, 'published', 'completed', 'failed', 'retried', 'recovered', 'cancelled')
      .hget(k.config, 'paused')
      .zcard(k.cancelled)
      .llen(k.corrupt)
      .exec();
    if (!res) throw new Error('counts: transaction aborted');
    for (const [err] of res) if (err) throw err;
    const [wait, prio, groups, active, delayed, completed, dead, metaRaw, paused, cancelled, setAside] = res.map(([, r]) => r);
    const bad: string[] = [];
    const meta = counters(metaRaw as Array<string | null>, ['published', 'completed', 'failed', 'retried', 'recovered', 'cancelled'], bad);
    const out: QueueCounts = {
      waiting: num(wait) + num(prio) + num(groups),
      active: num(active),
      delayed: num(delayed),
      completedRetained: num(completed),
      deadRetained: num(dead),
      published: num(meta[0]),
      completed: num(meta[1]),
      failed: num(meta[2]),
      retried: num(meta[3]),
      recovered: num(meta[4]),
      cancelled: num(meta[5]),
      cancelledRetained: num(cancelled),
      paused: paused === '1',
      setAside: num(setAside),
    };
    if (bad.length > 0) out.corrupt = bad.join('; ');
    return out;
  }

  /** Workers stop taking this queue's tasks; running ones finish. Publishing still works. */
  async pause(): Promise<void> {
    await this.client.hset(this.keys.config, 'paused', 1);
  }

  /** Workers take this queue's tasks again (idle ones are woken at once). */
  async resume(): Promise<void> {
    await this.client.multi().hdel(this.keys.config, 'paused').zadd(this.keys.marker, 0, 'm').exec();
  }

  /** One task in whatever state it is, or null when it is unknown (or no longer retained). */
  async getTask(id: string): Promise<TaskInfo<T> | null> {
    // A waiting task is found by a list scan that is not atomic with the other look-ups. A task
    // that a worker took from the list during the scan is somewhere else by the end of it: one
    // more look-up, without the scan, finds it there.
    const found = await this.lookUp(id, true);
    return found !== undefined ? found : ((await this.lookUp(id, false)) ?? null);
  }

  /** One look-up of a task: the task, null when it is nowhere, undefined when it may have moved. */
  private async lookUp(id: string, scan: boolean): Promise<TaskInfo<T> | null | undefined> {
    const k = this.keys;
    const res = await this.client
      .multi()
      .hget(k.active, id)
      .hget(k.data, id)
      .zscore(k.delayed, id)
      .zscore(k.completed, id)
      .zscore(k.dead, id)
      .hget(k.results, id)
      .hget(k.errors, id)
      .hget(k.progress, id)
      .zscore(k.prio, id)
      .zscore(k.cancelled, id)
      .zscore(k.groups, id)
      .exec();
    if (!res) return null;
    const [active, data, delayedAt, completedAt, deadAt, result, errors, progress, prioScore, cancelledAt, groupScore] = res.map(([, r]) => r as string | null);
    const info = (record: string, state: TaskState, at?: string | null): TaskInfo<T> => {
      const t = taskInfo<T>(this.name, state, decodeTask<T>(record));
      // A record so broken that its id cannot be read is still the task asked for.
      if (t.id === '') t.id = id;
      if (at) t.at = Number(at);
      if (errors) {
        const e = decodeAttemptErrors(errors);
        if (e.ok) t.errors = e.value;
        else addCorrupt(t, e.reason);
      }
      return t;
    };
    const json = (t: TaskInfo<T>, raw: string, what: 'result' | 'progress') => {
      const d = decodeJson(raw, `its ${what}`);
      if (d.ok) t[what] = d.value;
      else addCorrupt(t, d.reason);
    };
    if (active) {
      const bar = active.indexOf('|');
      const t = info(active.slice(bar + 1), 'active');
      const worker = tokenWorker(active.slice(0, Math.max(0, bar)));
      if (worker !== undefined) t.worker = worker;
      const lease = await this.client.zscore(k.lease, leaseMember(id, active));
      t.leaseUntil = lease ? Number(lease) : undefined;
      if (progress) json(t, progress, 'progress');
      return t;
    }
    if (data) {
      const state: TaskState = completedAt ? 'completed' : deadAt ? 'dead' : cancelledAt ? 'cancelled' : prioScore !== null || groupScore !== null ? 'waiting' : 'delayed';
      const t = info(data, state, completedAt ?? deadAt ?? cancelledAt ?? delayedAt);
      if (result !== null && result !== undefined) json(t, result, 'result');
      return t;
    }
    if (!scan) return null;
    // Waiting tasks are list elements: scan (admin use; O(waiting)).
    const hit = await this.findWaiting(id);
    if (hit) return info(hit, 'waiting');
    // Not found: unknown, unless it left the list during the scan (then it was active by now).
    const seq = Number((await this.client.hget(k.meta, 'seq')) ?? 0);
    return /^\d+$/.test(id) && Number(id) <= seq && Number(id) > 0 ? undefined : null;
  }

  /**
   * Completed and failed (dead-lettered) tasks per second, one entry per second for the
   * `seconds` full seconds before now, oldest first. A second counts as full 250 ms after it
   * ends: the workers send its counts just after it ends (Worker.flushStats).
   */
  async history(seconds: number, now = Date.now()): Promise<Array<{ second: number; completed: number; failed: number; waits: number[]; corrupt?: string }>> {
    const last = Math.floor((now - 250) / 1000) - 1;
    const pipe = this.client.pipeline();
    const fields = ['completed', 'failed', ...WAIT_BUCKETS.map((_, i) => `w${i}`)];
    for (let s = last - seconds + 1; s <= last; s++) pipe.hmget(statsKey(this.name, s), ...fields);
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, v], i) => {
      if (err) throw err;
      const bad: string[] = [];
      const [c, f, ...w] = counters(v as Array<string | null>, fields, bad);
      const second = last - seconds + 1 + i;
      // A field that is not a count counts as 0; the second says why.
      return bad.length > 0 ? { second, completed: c!, failed: f!, waits: w, corrupt: bad.join('; ') } : { second, completed: c!, failed: f!, waits: w };
    });
  }

  /**
   * Age (ms) of the oldest waiting task, or null when none waits. It looks at the oldest plain
   * task, the next prioritized one, the oldest task of the lowest priority (where starved tasks
   * wait) and the next grouped one (each group gets a turn per round, so a group's first task is
   * never more than a round behind), not at every waiting task: O(1) at any queue length.
   */
  async oldestWaitingAge(now = Date.now()): Promise<number | null> {
    const k = this.keys;
    const [tail, prioFirst, prioLast, groups] = await Promise.all([
      this.client.lindex(k.wait, -1),
      this.client.zrange(k.prio, 0, 0),
      this.client.zrange(k.prio, -1, -1),
      this.client.zrange(k.groups, 0, 0),
    ]);
    const ids = [...new Set([...prioFirst, ...prioLast, ...groups])];
    const records = [tail, ...(await Promise.all(ids.map((id) => this.client.hget(k.data, id))))];
    let oldest = Infinity;
    for (const e of records) {
      const ts = e ? Number(e.split('|', 4)[3]) : NaN;
      if (ts < oldest) oldest = ts;
    }
    return oldest === Infinity ? null : Math.max(0, now - oldest);
  }

  /**
   * Resolves when the task has ended: completed, dead or cancelled (a retry is not an end).
   * Listens on the queue's events channel (tasks published with `notify` are announced there)
   * and also looks every `checkEveryMs`, so a missed announcement only delays the answer.
   * Resolves to null when the task is unknown (or no longer retained: a publisher that needs the
   * outcome of a task whose record may be gone by then opens a `waiter()` before publishing), and
   * throws WaitTimeoutError after `timeoutMs`.
   */
  async waitFor(id: string, opts: { timeoutMs?: number; checkEveryMs?: number } = {}): Promise<TaskInfo<T> | null> {
    const until = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : undefined;
    const waiter = await this.waiter();
    try {
      for (;;) {
        const timeoutMs = until === undefined ? undefined : Math.max(0, until - Date.now());
        if (!(await waiter.wait(id, { timeoutMs, checkEveryMs: opts.checkEveryMs }))) return null;
        // The whole record; a task retried by hand since it ended is waited for again.
        const t = await this.getTask(id);
        if (!t || t.state === 'completed' || t.state === 'dead' || t.state === 'cancelled') return t;
      }
    } finally {
      waiter.close();
    }
  }

  /**
   * Opens a Waiter: subscribed to this queue's announcements from now on, it gives the outcome of
   * tasks published with `notify` (their result or last error) even when the queue keeps nothing
   * of them. Open it before publishing; close it when done.
   */
  waiter<R = unknown>(): Promise<Waiter<R>> {
    return Waiter.open<R>(this);
  }

  /**
   * Cancels a waiting, delayed or running task: it is never retried and shows as cancelled.
   * A running task's handler gets its AbortSignal (an --exec command is killed) at its worker's
   * next heartbeat. Resolves to the state it was cancelled from, or null when it was in none
   * (unknown, finished or cancelled already).
   */
  async cancel(id: string): Promise<'waiting' | 'delayed' | 'active' | null> {
    const cancel = (record: string) => runScript(this.client, 'cancel', scriptKeys.cancel(this.keys), [Date.now(), id, record]) as Promise<string>;
    let res = await cancel('');
    // Maybe a plain waiting task: find its exact record in the list, then remove exactly that.
    // When it left the list meanwhile (a worker took it), the second call finds it where it is.
    if (!res) res = await cancel((await this.findWaiting(id)) ?? '');
    return res ? (res as 'waiting' | 'delayed' | 'active') : null;
  }

  /**
   * Sends dead-lettered or cancelled tasks back to the queue with a fresh set of attempts (their
   * error history is kept). Resolves to how many were sent back.
   */
  async retry(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      n += Number(await runScript(this.client, 'retry', scriptKeys.retry(this.keys), [Date.now(), ...ids.slice(i, i + 1000)]));
    }
    return n;
  }

  /**
   * Sends every task that is dead-lettered when it is called back to the queue (see retry), each
   * once: a task that a running worker dead-letters again meanwhile stays dead.
   */
  async retryAllDead(): Promise<number> {
    return this.retry(await this.idsIn(this.keys.dead));
  }

  /**
   * The ids in one of the queue's sorted sets when it is called, read first (before anything is
   * done with them) a page at a time by score, up to the highest score at the start. Paging by
   * score, not by rank, means that members removed or added meanwhile do not shift the pages;
   * `skip` steps over the ids already read at the page's first score.
   */
  private async idsIn(z: string): Promise<string[]> {
    const [, top] = await this.client.zrange(z, -1, -1, 'WITHSCORES');
    if (top === undefined) return [];
    const ids: string[] = [];
    let from = '-inf';
    let skip = 0;
    for (;;) {
      const page = await this.client.zrangebyscore(z, from, top, 'WITHSCORES', 'LIMIT', skip, 1000);
      if (page.length === 0) break;
      for (let i = 0; i < page.length; i += 2) ids.push(page[i]!);
      const last = page[page.length - 1]!;
      let same = 0;
      for (let i = page.length - 1; i > 0 && page[i] === last; i -= 2) same++;
      skip = last === from ? skip + same : same;
      from = last;
      if (page.length < 2000) break;
    }
    return ids;
  }

  /**
   * A page of tasks in one state, newest first for finished ones and next-to-run first for
   * waiting ones (plain waiting tasks, then prioritized and grouped ones, admin use).
   */
  async listTasks(state: TaskState, opts: { offset?: number; limit?: number } = {}): Promise<Array<TaskInfo<T>>> {
    const k = this.keys;
    const offset = opts.offset ?? 0;
    const limit = Math.min(opts.limit ?? 20, 1000);
    const end = offset + limit - 1;
    const fromIds = async (ids: string[]) => {
      const out: Array<TaskInfo<T>> = [];
      for (const id of ids) {
        // Each id comes from a set, not the list: no list scan (a task gone meanwhile is skipped).
        const t = await this.lookUp(id, false);
        if (t && t.state === state) out.push(t);
      }
      return out;
    };
    switch (state) {
      case 'waiting': {
        // The list holds the oldest at its right end: read it from there.
        const len = await this.client.llen(k.wait);
        const out: Array<TaskInfo<T>> = [];
        if (offset < len) {
          const els = await this.client.lrange(k.wait, Math.max(0, len - 1 - end), len - 1 - offset);
          for (const e of els.reverse()) out.push(taskInfo<T>(this.name, 'waiting', decodeTask<T>(e)));
        }
        if (out.length < limit) {
          const rest = limit - out.length;
          const skip = Math.max(0, offset - len);
          const ids = await this.client.zrange(k.prio, skip, skip + rest - 1);
          if (ids.length < rest) {
            const from = Math.max(0, skip - (await this.client.zcard(k.prio)));
            ids.push(...(await this.client.zrange(k.groups, from, from + rest - ids.length - 1)));
          }
          out.push(...(await fromIds(ids)));
        }
        return out;
      }
      case 'active':
        return fromIds(
          (await this.client.zrange(k.lease, 0, -1))
            .filter((m) => m !== LEASE_PIN)
            .slice(offset, end + 1)
            .map((m) => splitLeaseMember(m).id),
        );
      case 'delayed':
        return fromIds(await this.client.zrange(k.delayed, offset, end));
      case 'completed':
        return fromIds(await this.client.zrevrange(k.completed, offset, end));
      case 'dead':
        return fromIds(await this.client.zrevrange(k.dead, offset, end));
      case 'cancelled':
        return fromIds(await this.client.zrevrange(k.cancelled, offset, end));
    }
  }

  /**
   * Finds and repairs inconsistencies: active tasks without a lease (recovered at once), leases
   * without a task (removed), records in no state (dead-lettered for review), and the fair
   * groups' running counts (recounted). Scans in steps; each repair re-checks atomically.
   */
  async fsck(): Promise<{ orphanActive: number; staleLease: number; orphanRecord: number; groupCounts: number; schedules: number }> {
    const k = this.keys;
    const repair = async (kind: string, ids: string[]) =>
      ids.length ? Number(await runScript(this.client, 'fsck', scriptKeys.fsck(k), [Date.now(), kind, ...ids])) : 0;
    const scanHash = async (key: string, visit: (ids: string[], values: string[]) => Promise<void>) => {
      let cursor = '0';
      do {
        const [next, flat] = await this.client.hscan(key, cursor, 'COUNT', 500);
        cursor = next;
        const ids: string[] = [];
        const values: string[] = [];
        for (let i = 0; i < flat.length; i += 2) {
          ids.push(flat[i]!);
          values.push(flat[i + 1]!);
        }
        await visit(ids, values);
      } while (cursor !== '0');
    };
    let orphanActive = 0;
    let orphanRecord = 0;
    let staleLease = 0;
    await scanHash(k.active, async (ids, values) => {
      const members = ids.map((id, i) => leaseMember(id, values[i]!));
      const scores = ids.length ? await this.client.zmscore(k.lease, ...members) : [];
      orphanActive += await repair('orphan-active', ids.filter((_, i) => scores[i] === null));
    });
    let cursor = '0';
    do {
      const [next, flat] = await this.client.zscan(k.lease, cursor, 'COUNT', 500);
      cursor = next;
      const members: string[] = [];
      for (let i = 0; i < flat.length; i += 2) if (flat[i] !== LEASE_PIN) members.push(flat[i]!);
      // A member is stale unless its task is active under its token.
      const pipe = this.client.pipeline();
      for (const m of members) pipe.hget(k.active, splitLeaseMember(m).id);
      const res = (await pipe.exec()) ?? [];
      staleLease += await repair('stale-lease', members.filter((m, i) => {
        const cur = res[i]?.[1] as string | null;
        return !cur || leaseMember(splitLeaseMember(m).id, cur) !== m;
      }));
    } while (cursor !== '0');
    await scanHash(k.data, async (ids) => {
      if (!ids.length) return;
      const pipe = this.client.pipeline();
      for (const key of [k.delayed, k.completed, k.dead, k.cancelled, k.prio, k.groups]) pipe.zmscore(key, ...ids);
      const res = ((await pipe.exec()) ?? []).map(([, v]) => v as Array<string | null>);
      orphanRecord += await repair('orphan-record', ids.filter((_, i) => res.every((scores) => scores[i] === null)));
    });
    const groupCounts = Number(await runScript(this.client, 'fsck', scriptKeys.fsck(k), [Date.now(), 'gactive']));
    // A schedule with no pending fire gets one back from its definition (the workers' schedulers
    // do the same within a second; this makes it visible and does not depend on a worker).
    let schedules = 0;
    const { defs, states, next: pending } = await readScheduleSet(this.client, k);
    for (const [name, raw] of Object.entries(defs)) {
      if (pending.has(name)) continue;
      const decoded = decodeSchedule(raw);
      if (!decoded.ok || decoded.value.paused) continue;
      const def = decoded.value;
      const next = new Timing(def).nextAfter(Math.max(parseState(states[name]).lastDue, def.since));
      if (next !== null && (await this.client.zadd(k.schednext, 'NX', next, name)) === 1) schedules++;
    }
    return { orphanActive, staleLease, orphanRecord, groupCounts, schedules };
  }

  /**
   * Deletes a task that is not running (waiting, delayed, completed, dead or cancelled), with
   * everything kept about it. Resolves to the state it was deleted from, or null. Throws a
   * UsageError when it is running.
   */
  async delete(id: string): Promise<TaskState | null> {
    const remove = (record: string) => runScript(this.client, 'remove', scriptKeys.remove(this.keys), ['task', id, record]) as Promise<string>;
    let res = await remove('');
    // Maybe a plain waiting task: find its exact record in the list, then remove exactly that;
    // when it left the list meanwhile (a worker took it), the second call says where it is now.
    if (!res) {
      const record = await this.findWaiting(id);
      res = await remove(record ?? '');
    }
    if (res === 'active') throw new UsageError(`${this.name}#${id} is running: cancel it first`);
    return res ? (res as TaskState) : null;
  }

  /**
   * Deletes every task that is in one state when it is called and is not running; resolves to
   * how many. Tasks that a worker takes or that change state meanwhile are left alone.
   */
  async purge(state: Exclude<TaskState, 'active'>): Promise<number> {
    const k = this.keys;
    const run = (args: string[]) =>
      runScript(this.client, 'remove', scriptKeys.remove(k), args).then(Number, (err: unknown) => {
        throw scriptError(err, { queue: this.name });
      });
    let n = 0;
    if (state === 'waiting') n += await run(['list']);
    const sets = state === 'waiting' ? [k.prio, k.groups] : [{ delayed: k.delayed, completed: k.completed, dead: k.dead, cancelled: k.cancelled }[state]];
    for (const z of sets) {
      const ids = await this.idsIn(z);
      for (let i = 0; i < ids.length; i += 1000) n += await run([state, ...ids.slice(i, i + 1000)]);
    }
    return n;
  }

  /**
   * The record of a task waiting in the list (a scan: O(waiting), for admin use). It reads from
   * the newest end, where publishing adds: tasks published meanwhile shift the rest further
   * along, never back into pages already read, and workers take from the other end. So the scan
   * goes past the list's length at the start by as many tasks as were published since (the
   * queue's id counter tells), up to four times that length: a task that stays in the list is
   * found unless publishing goes at more than three quarters of the scan's pace.
   */
  private async findWaiting(id: string): Promise<string | undefined> {
    const k = this.keys;
    const prefix = `${id}|`;
    const replies = async (m: ChainableCommander) => ((await m.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const [len0, seq0] = (await replies(this.client.multi().llen(k.wait).hget(k.meta, 'seq'))) as [number, string | null];
    const cap = 4 * len0 + 1000;
    for (let start = 0; ; start += 1000) {
      const [els, seq] = (await replies(this.client.multi().lrange(k.wait, start, start + 999).hget(k.meta, 'seq'))) as [string[], string | null];
      const hit = els.find((e) => e.startsWith(prefix));
      if (hit) return hit;
      const end = Math.min(cap, len0 + Number(seq ?? 0) - Number(seq0 ?? 0));
      if (els.length < 1000 || start + 1000 >= end) return undefined;
    }
  }

  /** The result of a completed task (parsed JSON), or undefined; throws CorruptRecordError when it cannot be read. */
  async getResult(id: string): Promise<unknown> {
    const r = await this.client.hget(this.keys.results, id);
    if (r === null) return undefined;
    const d = decodeJson(r, `the result of task ${this.name}#${id}`);
    if (!d.ok) throw new CorruptRecordError(d.reason);
    return d.value;
  }

  /** Changes this queue's settings, for every worker and publisher. */
  async configure(settings: QueueSettings): Promise<void> {
    const entries = Object.entries(settings).filter(([, v]) => v !== undefined);
    for (const [key, v] of entries) {
      if (!Number.isInteger(v) || (v as number) < 0) throw new UsageError(`invalid ${key} ${v}: use a whole number >= 0`);
    }
    if (settings.rateMax && !settings.rateWindowMs && !(await this.client.hget(this.keys.config, 'rateWindowMs'))) {
      throw new UsageError('rateMax needs rateWindowMs (the window it counts in)');
    }
    if (settings.groupRateMax && !settings.groupRateWindowMs && !(await this.client.hget(this.keys.config, 'groupRateWindowMs'))) {
      throw new UsageError('groupRateMax needs groupRateWindowMs (the window it counts in)');
    }
    if (entries.length) await this.client.hset(this.keys.config, Object.fromEntries(entries) as Record<string, number>);
  }

  /**
   * The queue's settings as stored. A field that is not a setting, or not a whole number >= 0,
   * is left out and listed in `corrupt` with why (the scripts take such a value for unset).
   */
  async settings(): Promise<QueueSettings & { corrupt?: Record<string, string> }> {
    const raw = await this.client.hgetall(this.keys.config);
    delete raw.paused;
    const out: QueueSettings & { corrupt?: Record<string, string> } = {};
    for (const [field, v] of Object.entries(raw)) {
      const d = decodeSetting(field, v);
      if (d.ok) out[field as keyof QueueSettings] = d.value;
      else (out.corrupt ??= {})[field] = d.reason;
    }
    return out;
  }

  /**
   * Live workers of this queue: those that sent a heartbeat within two of their leases, and
   * at least 10 s (a little clock skew between hosts does not hide a worker; the lease is 5 s
   * for workers that do not say). A worker that died stays listed in Redis until another
   * worker's maintenance forgets it; it is not live. An entry whose description cannot be read
   * is listed with `corrupt` (and empty fields) while its heartbeat is recent.
   */
  async workers(now = Date.now()): Promise<WorkerInfo[]> {
    const [seen, info] = await Promise.all([
      this.client.zrange(this.keys.workers, 0, -1, 'WITHSCORES'),
      this.client.hgetall(this.keys.winfo),
    ]);
    const out: WorkerInfo[] = [];
    for (let i = 0; i < seen.length; i += 2) {
      const id = seen[i]!;
      const raw = info[id];
      if (!raw) continue;
      const lastSeen = Number(seen[i + 1]);
      const d = decodeWorker(raw);
      const w: WorkerInfo = d.ok
        ? { ...d.value, lastSeen }
        : { id, host: '', pid: 0, queues: [], concurrency: 0, running: 0, startedAt: 0, version: '', lastSeen, corrupt: d.reason };
      if (!(now - w.lastSeen <= Math.max(2 * (w.leaseMs ?? 5000), 10_000))) continue;
      out.push(w);
    }
    return out;
  }

  /**
   * Creates or changes the named schedule: a task published at each due time of a cron
   * expression (`cron`, with `tz`) or of a fixed interval (`every`, ms, from its creation).
   * Workers of the queue fire it, each due time once. Resolves to the schedule with its next fire.
   */
  async schedule(name: string, data: T, opts: ScheduleOptions): Promise<ScheduleInfo<T>> {
    return (await putSchedule(this.client, this.name, this.keys, name, data, opts, this.maxPayloadBytes)) as ScheduleInfo<T>;
  }

  /** The queue's schedules, by name, each with its next fire and what it did so far. */
  async schedules(): Promise<Array<ScheduleInfo<T>>> {
    return (await getSchedules(this.client, this.name, this.keys)) as Array<ScheduleInfo<T>>;
  }

  /** One schedule, or null. */
  async getSchedule(name: string): Promise<ScheduleInfo<T> | null> {
    return ((await getSchedules(this.client, this.name, this.keys, [name]))[0] as ScheduleInfo<T> | undefined) ?? null;
  }

  /** Stops a schedule firing; due times while it is paused are not made up for. UsageError if unknown. */
  async pauseSchedule(name: string): Promise<ScheduleInfo<T>> {
    return (await setSchedulePaused(this.client, this.name, this.keys, name, true)) as ScheduleInfo<T>;
  }

  /** Lets a paused schedule fire again, from its next due time on. UsageError if unknown. */
  async resumeSchedule(name: string): Promise<ScheduleInfo<T>> {
    return (await setSchedulePaused(this.client, this.name, this.keys, name, false)) as ScheduleInfo<T>;
  }

  /** Deletes a schedule (the tasks it published stay); resolves to whether it existed. */
  async deleteSchedule(name: string): Promise<boolean> {
    return deleteSchedule(this.client, this.keys, name);
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }
}

/** Names of all queues that ever had a task published. */
export async function listQueues(client: Redis): Promise<string[]> {
  return (await client.smembers(QUEUES_KEY)).sort();
}
