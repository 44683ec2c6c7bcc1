import type { Redis } from 'ioredis';
import { eventsChannel, QUEUES_KEY, queueKeys, type QueueKeys, validateQueueName } from '../keys.js';
import { createRedis, duplicateClient, resolveRedisUrl } from '../redis.js';
import {
  deleteSchedule,
  getSchedules,
  putSchedule,
  type ScheduleInfo,
  type ScheduleOptions,
  setSchedulePaused,
} from '../schedule-store.js';
import { withRepair } from '../repair.js';
import { Waiter } from '../waiter.js';
import { Admin } from './admin.js';
import { fsck, type FsckReport } from './fsck.js';
import { Inspector } from './inspector.js';
import { Producer } from './producer.js';
import type { AddOptions, ConnectionOptions, QueueContext, QueueCounts, QueueSettings, TaskInfo, TaskState, WorkerInfo } from './types.js';

/**
 * The library's Queue: one object per queue for producers and operators, a facade over parts
 * that each own one concern and share its one connection (QueueContext):
 * - Producer (producer.ts): add, addBulk, the payload and option checks;
 * - Inspector (inspector.ts): counts, getTask, listTasks, history, workers, settings, results;
 * - Admin (admin.ts): pause, resume, cancel, retry, delete, purge, configure;
 * - fsck (fsck.ts): the repair of a queue;
 * Every call that reads or writes the queue's keys goes through guarded(): bad data it meets is
 * set aside and the call runs again (see ../repair.ts).
 * - the schedule store (../schedule-store.ts) and the Waiter (../waiter.ts), given what they need.
 */

export { BATCH_CHARS, DEFAULT_KEY_WINDOW_MS, DEFAULT_MAX_PAYLOAD } from './producer.js';
export type { FsckReport } from './fsck.js';
export type * from './types.js';

/** Opens the client a Queue uses, remembering whether it owns it. */
function openConnection(connection: string | Redis | undefined, name: string): { client: Redis; owned: boolean } {
  if (connection && typeof connection !== 'string') return { client: connection, owned: false };
  return { client: createRedis(resolveRedisUrl(connection), { name }), owned: true };
}

/**
 * The producer, inspector and admin side of one queue: add tasks, read counts and single tasks,
 * change the queue's tasks and settings, repair it, and manage its schedules.
 */
export class Queue<T = unknown> implements QueueContext {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly client: Redis;
  private readonly owned: boolean;
  private readonly producer: Producer<T>;
  private readonly inspector: Inspector<T>;
  private readonly admin: Admin;
  private readonly onWarning: ((message: string) => void) | undefined;

  constructor(name: string, opts: ConnectionOptions = {}) {
    this.name = validateQueueName(name);
    this.keys = queueKeys(name);
    const { client, owned } = openConnection(opts.connection, 'redtask:queue');
    this.client = client;
    this.owned = owned;
    this.producer = new Producer<T>(this);
    this.inspector = new Inspector<T>(this);
    this.admin = new Admin(this);
    this.onWarning = opts.onWarning;
  }

  /**
   * Runs one call of the queue; when bad data in Redis makes it fail (a key of the wrong type, a
   * counter that is not a number), sets that data aside (see repair.ts) and tells onWarning what
   * it moved. A call that may safely run twice then runs once more; one that may have done part
   * of its work (`again` false: publishing, moving tasks) throws RepairedError instead.
   */
  private guarded<V>(op: () => Promise<V>, again = true): Promise<V> {
    const warn = this.onWarning;
    return withRepair(this.client, this.keys, warn && ((m) => warn(`queue ${this.name}: ${m}`)), again, op);
  }

  /** The largest payload accepted, bytes of JSON (default 1 MiB). */
  get maxPayloadBytes(): number {
    return this.producer.maxPayloadBytes;
  }

  set maxPayloadBytes(bytes: number) {
    this.producer.maxPayloadBytes = bytes;
  }

  // Producing (producer.ts).

  /** Adds one task; resolves to its id. */
  add(data: T, opts: AddOptions = {}): Promise<string> {
    return this.guarded(() => this.producer.add(data, opts), false);
  }

  /** Adds many tasks (up to 1,000, and 16 MiB of records, per script call); resolves to their ids, in order. */
  addBulk(items: Array<{ data: T; opts?: AddOptions }>): Promise<string[]> {
    return this.guarded(() => this.producer.addBulk(items), false);
  }

  /** A task's payload as stored (JSON); throws a UsageError when it is over maxPayloadBytes. */
  payloadJson(data: T): string {
    return this.producer.payloadJson(data);
  }

  // Inspecting (inspector.ts).

  /** Current counts of each state and the totals; every figure is O(1) to read. */
  counts(): Promise<QueueCounts> {
    return this.guarded(() => this.inspector.counts());
  }

  /** One task in whatever state it is, or null when it is unknown (or no longer retained). */
  getTask(id: string): Promise<TaskInfo<T> | null> {
    return this.guarded(() => this.inspector.getTask(id));
  }

  /**
   * A page of tasks in one state, newest first for finished ones and next-to-run first for
   * waiting ones (plain waiting tasks, then prioritized and grouped ones, admin use).
   */
  listTasks(state: TaskState, opts: { offset?: number; limit?: number } = {}): Promise<Array<TaskInfo<T>>> {
    return this.guarded(() => this.inspector.listTasks(state, opts));
  }

  /** Completed and failed tasks per second, for the `seconds` full seconds before now, oldest first. */
  history(seconds: number, now = Date.now()): Promise<Array<{ second: number; completed: number; failed: number; waits: number[]; corrupt?: string }>> {
    return this.guarded(() => this.inspector.history(seconds, now));
  }

  /** Age (ms) of the oldest waiting task, or null when none waits (O(1) at any queue length). */
  oldestWaitingAge(now = Date.now()): Promise<number | null> {
    return this.guarded(() => this.inspector.oldestWaitingAge(now));
  }

  /** The result of a completed task (parsed JSON), or undefined; throws CorruptRecordError when it cannot be read. */
  getResult(id: string): Promise<unknown> {
    return this.guarded(() => this.inspector.getResult(id));
  }

  /** The queue's settings as stored; a field that cannot be read is listed in `corrupt` with why. */
  settings(): Promise<QueueSettings & { corrupt?: Record<string, string> }> {
    return this.guarded(() => this.inspector.settings());
  }

  /** Live workers of this queue: those that sent a heartbeat within two of their leases (at least 10 s). */
  workers(now = Date.now()): Promise<WorkerInfo[]> {
    return this.guarded(() => this.inspector.workers(now));
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
    return Waiter.open<R>({
      queue: this.name,
      channel: eventsChannel(this.name),
      subscriber: () => duplicateClient(this.client, { lazyConnect: true, connectionName: `redtask:waiter:${this.name}` }),
      getTask: (id) => this.getTask(id),
    });
  }

  // Administering (admin.ts, fsck.ts).

  /** Workers stop taking this queue's tasks; running ones finish. Publishing still works. */
  pause(): Promise<void> {
    return this.guarded(() => this.admin.pause());
  }

  /** Workers take this queue's tasks again (idle ones are woken at once). */
  resume(): Promise<void> {
    return this.guarded(() => this.admin.resume());
  }

  /**
   * Cancels a waiting, delayed or running task: it is never retried and shows as cancelled.
   * Resolves to the state it was cancelled from, or null when it was in none.
   */
  cancel(id: string): Promise<'waiting' | 'delayed' | 'active' | null> {
    return this.guarded(() => this.admin.cancel(id), false);
  }

  /** Sends dead-lettered or cancelled tasks back to the queue with a fresh set of attempts; resolves to how many. */
  retry(ids: string[]): Promise<number> {
    return this.guarded(() => this.admin.retry(ids), false);
  }

  /** Sends every task that is dead-lettered when it is called back to the queue, each once. */
  retryAllDead(): Promise<number> {
    return this.guarded(() => this.admin.retryAllDead(), false);
  }

  /**
   * Deletes a task that is not running, with everything kept about it. Resolves to the state it
   * was deleted from, or null. Throws a UsageError when it is running.
   */
  delete(id: string): Promise<TaskState | null> {
    return this.guarded(() => this.admin.delete(id), false);
  }

  /** Deletes every task that is in one state when it is called and is not running; resolves to how many. */
  purge(state: Exclude<TaskState, 'active'>): Promise<number> {
    return this.guarded(() => this.admin.purge(state), false);
  }

  /** Changes this queue's settings, for every worker and publisher. */
  configure(settings: QueueSettings): Promise<void> {
    return this.guarded(() => this.admin.configure(settings));
  }

  /** Finds and repairs inconsistencies, and says what it repaired (see fsck.ts). */
  fsck(): Promise<FsckReport> {
    return fsck(this);
  }

  // Schedules (../schedule-store.ts).

  /**
   * Creates or changes the named schedule: a task published at each due time of a cron
   * expression (`cron`, with `tz`) or of a fixed interval (`every`, ms, from its creation).
   * Workers of the queue fire it, each due time once. Resolves to the schedule with its next fire.
   */
  async schedule(name: string, data: T, opts: ScheduleOptions): Promise<ScheduleInfo<T>> {
    return (await this.guarded(() => putSchedule(this.client, this.name, this.keys, name, data, opts, this.maxPayloadBytes))) as ScheduleInfo<T>;
  }

  /** The queue's schedules, by name, each with its next fire and what it did so far. */
  async schedules(): Promise<Array<ScheduleInfo<T>>> {
    return (await this.guarded(() => getSchedules(this.client, this.name, this.keys))) as Array<ScheduleInfo<T>>;
  }

  /** One schedule, or null. */
  async getSchedule(name: string): Promise<ScheduleInfo<T> | null> {
    return ((await this.guarded(() => getSchedules(this.client, this.name, this.keys, [name])))[0] as ScheduleInfo<T> | undefined) ?? null;
  }

  /** Stops a schedule firing; due times while it is paused are not made up for. UsageError if unknown. */
  async pauseSchedule(name: string): Promise<ScheduleInfo<T>> {
    return (await this.guarded(() => setSchedulePaused(this.client, this.name, this.keys, name, true))) as ScheduleInfo<T>;
  }

  /** Lets a paused schedule fire again, from its next due time on. UsageError if unknown. */
  async resumeSchedule(name: string): Promise<ScheduleInfo<T>> {
    return (await this.guarded(() => setSchedulePaused(this.client, this.name, this.keys, name, false))) as ScheduleInfo<T>;
  }

  /** Deletes a schedule (the tasks it published stay); resolves to whether it existed. */
  async deleteSchedule(name: string): Promise<boolean> {
    return this.guarded(() => deleteSchedule(this.client, this.keys, name));
  }

  async close(): Promise<void> {
    if (this.owned) await this.client.quit().catch(() => this.client.disconnect());
  }
}

/** Names of all queues that ever had a task published. */
export async function listQueues(client: Redis): Promise<string[]> {
  return (await client.smembers(QUEUES_KEY)).sort();
}
