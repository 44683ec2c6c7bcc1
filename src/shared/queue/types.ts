import type { Redis } from 'ioredis';
import type { Backoff, StoredWorker } from '../decode.js';
import type { QueueKeys } from '../keys.js';

/**
 * The queue's public types, in the library's words (the storage codes stay in decode.ts), and
 * the context its parts share. Types only: every part of the queue, and the Waiter, import them
 * without importing one another.
 */

/** What the parts of one Queue share: its name, its keys and its one connection. */
export interface QueueContext {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly client: Redis;
}

export interface ConnectionOptions {
  /** A redis:// or rediss:// URL (default: REDIS_URL or redis://127.0.0.1:6379), or a client to share. */
  connection?: string | Redis;
  /**
   * Told, one line each, of bad data this Queue set aside because a call failed on it (a key of
   * the wrong type, a counter that is not a number); the call then ran again. Default: not told.
   */
  onWarning?: (message: string) => void;
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
  /** For active tasks: when the worker leased it, by the worker's clock (ms since epoch), just before it started. */
  startedAt?: number;
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
