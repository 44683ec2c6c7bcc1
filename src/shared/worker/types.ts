import type { Clock } from '../clock.js';

/** A task as a handler sees it. */
export interface Task<T = unknown> {
  id: string;
  queue: string;
  name: string;
  data: T;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  publishedAt: number;
  /** -100..100; higher ran first. */
  priority: number;
  /** The fair group it was published in ("" for none). */
  group: string;
  /** Set when a schedule published the task: its name and the due time (ms) this run is for. */
  schedule?: { name: string; due: number };
}

export interface HandlerContext {
  /** Fires when the task is cancelled, its lease is lost, or the worker shuts down past its grace. */
  signal: AbortSignal;
  /** Records progress (any JSON value), shown by `task-monitor` for running tasks. */
  progress(value: unknown): Promise<void>;
}

export type Handler<T = unknown, R = unknown> = (task: Task<T>, ctx: HandlerContext) => R | Promise<R>;

/**
 * Throw this from a handler to fail the task without further attempts. A handler module that
 * bundles its own copy of redtask throws its own class: an error whose `name` is
 * 'UnrecoverableError' counts the same (see isUnrecoverable).
 */
export class UnrecoverableError extends Error {
  override name = 'UnrecoverableError';
}

export type AbortReason = 'lease-lost' | 'shutdown' | 'timeout' | 'cancelled';

/** The reason an AbortSignal fires. */
export class TaskAbortedError extends Error {
  override name = 'TaskAbortedError';
  constructor(
    readonly reason: AbortReason,
    message: string,
  ) {
    super(message);
  }
}

/** An UnrecoverableError of this copy of redtask or of another one (recognised by name). */
export function isUnrecoverable(err: unknown): boolean {
  return err instanceof UnrecoverableError || (err instanceof Error && err.name === 'UnrecoverableError');
}

/** A TaskAbortedError of this copy of redtask or of another one (recognised by name and reason). */
export function isTaskAborted(err: unknown): err is TaskAbortedError {
  if (err instanceof TaskAbortedError) return true;
  return err instanceof Error && err.name === 'TaskAbortedError' && typeof (err as { reason?: unknown }).reason === 'string';
}

export interface WorkerOptions {
  /** A redis:// or rediss:// URL (default: REDIS_URL or redis://127.0.0.1:6379). */
  connection?: string;
  /** Tasks run at once (default 1, at most 10,000). */
  concurrency?: number;
  /** How long a reservation lasts without a heartbeat, ms (default 5,000, at least 100). A killed worker's tasks run again after it. */
  leaseMs?: number;
  /** A fixed worker id (default: random). */
  workerId?: string;
  /** Timeout of one attempt for tasks published without one, ms (default: none). */
  defaultTimeoutMs?: number;
  /**
   * After a timeout fired the AbortSignal, how long the handler may take to stop before the
   * attempt is failed anyway and its slot freed (default 10 s; an --exec command is killed
   * with SIGKILL 5 s after SIGTERM).
   */
  timeoutGraceMs?: number;
  /** Fire the schedules of these queues (default true; any number of workers may: each due time fires once). */
  schedules?: boolean;
  /** The clock of timeouts, lease deadlines, due times and stats (default: the system's). For tests. */
  clock?: Clock;
}

export interface WorkerEvents<T> {
  started: [task: Task<T>];
  completed: [task: Task<T>, result: unknown, ms: number];
  failed: [task: Task<T>, error: Error, retryAt: number | null, ms: number];
  /** The task's lease was lost (recovered by another worker); its outcome here was discarded. */
  lost: [task: Task<T>];
  /** A running task was cancelled: its signal fired and its outcome will be discarded. */
  cancelled: [task: Task<T>];
  /** A task handed back to the queue at shutdown. */
  released: [task: Task<T>];
  /** A leased record could not be decoded: it was dead-lettered with this reason, and the worker went on. */
  quarantined: [queue: string, id: string, reason: string];
  /** Redis did not answer; the worker keeps retrying. */
  waiting: [attempt: number, delayMs: number, error: Error | undefined];
  ready: [];
  /** This worker's scheduler published a schedule's task for a due time (another worker publishes the others). */
  scheduled: [queue: string, schedule: string, due: number, id: string];
  warning: [message: string];
  error: [error: Error];
}
