import type { EventEmitter } from 'node:events';
import { type Clock, type Timer } from '../clock.js';
import { formatDuration, MAX_TIMER_MS } from '../duration.js';
import { errorMessage } from '../errors.js';
import { backoffDelay, decodeBackoff, type TaskRecord } from '../record.js';
import type { Settlement } from '../settle.js';
import { isUnrecoverable, TaskAbortedError, type Handler, type HandlerContext, type Task, type WorkerEvents } from './types.js';

const MAX_ERROR = 4096;

/** One task running here under one lease. */
export interface Run<T> {
  task: Task<T>;
  token: string;
  /** Created on first use of ctx.signal: most handlers never look at it. */
  ctrl: AbortController | undefined;
  /** Why the task was aborted, once it was (also before any signal existed). */
  abortReason: TaskAbortedError | undefined;
  startedAt: number;
  leaseUntil: number;
  /** The handler reported progress (the finish clears it). */
  progress: boolean;
  /** Handed back at shutdown: an outcome after this is ignored. */
  released: boolean;
  /** Settled already: an outcome after this is ignored. */
  finished: boolean;
  timer: Timer | undefined;
  /** The record, for the flags of its settlement (group, waiting publisher, earlier errors). */
  rec: TaskRecord<T>;
}

/** What the runner needs from the worker around it. */
export interface RunnerHost<T> {
  readonly events: Pick<EventEmitter<WorkerEvents<T>>, 'emit'>;
  readonly clock: Clock;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly defaultTimeoutMs: number | undefined;
  readonly timeoutGraceMs: number;
  /** Queues a task's outcome for the next task call of its queue. */
  settle(queue: string, s: Settlement): void;
  /** A slot came free without a settlement (a cancelled task's outcome is dropped). */
  slotFreed(): void;
  /** Look for tasks again at this time (a retry's due time). */
  dueAt(at: number): void;
  /** Stores a running task's progress value (JSON). */
  writeProgress(queue: string, id: string, json: string): Promise<void>;
}

/** A settlement's kind with the flags that spare the script work it need not do (see finish-1.lua). */
export function settleKind<T>(kind: 'c' | 'r' | 'd' | 'q', run: Run<T> | undefined, rec: TaskRecord<T>): string {
  return kind + (run?.progress ? 'p' : '') + (rec.made > 0 ? 'e' : '') + (rec.opts.w ? 'n' : '') + (rec.opts.g ? 'g' : '');
}

/** Fires a run's AbortSignal once (or arms it, when the handler has not asked for it yet). */
export function abortRun<T>(run: Run<T>, reason: TaskAbortedError): void {
  if (run.abortReason) return;
  run.abortReason = reason;
  run.ctrl?.abort(reason);
}

function isPromiseLike<V>(v: V | PromiseLike<V>): v is PromiseLike<V> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * A handler's ctx. Its members are getters on the prototype, so that starting a task creates no
 * closures; `progress` is returned bound, so `const { progress } = ctx` works too.
 */
class TaskContext<T> implements HandlerContext {
  constructor(
    private readonly run: Run<T>,
    private readonly report: (run: Run<T>, value: unknown) => Promise<void>,
  ) {}

  get signal(): AbortSignal {
    const run = this.run;
    if (!run.ctrl) {
      run.ctrl = new AbortController();
      if (run.abortReason) run.ctrl.abort(run.abortReason);
    }
    return run.ctrl.signal;
  }

  get progress(): (value: unknown) => Promise<void> {
    return (value: unknown) => this.report(this.run, value);
  }
}

/**
 * Runs handlers: one Run per leased task, its AbortSignal, its timeout (and the grace after it),
 * its progress reports, and the settlement its outcome becomes. Knows nothing of Redis: outcomes
 * go to the host's settle().
 */
export class TaskRunner<T = unknown, R = unknown> {
  /** Runs by `<queue>\0<id>`. */
  private readonly runs = new Map<string, Run<T>>();
  private slotWaiters: Array<() => void> = [];
  private readonly reportProgress = async (run: Run<T>, value: unknown): Promise<void> => {
    run.progress = true;
    await this.host.writeProgress(run.task.queue, run.task.id, JSON.stringify(value ?? null));
  };

  constructor(
    private readonly handler: Handler<T, R>,
    private readonly host: RunnerHost<T>,
  ) {}

  /** Tasks running now. */
  get size(): number {
    return this.runs.size;
  }

  /** The runs of one queue, as [key, run]. */
  *of(queue: string): Generator<[string, Run<T>]> {
    for (const entry of this.runs) if (entry[1].task.queue === queue) yield entry;
  }

  /** Starts the handler on a leased task. */
  start(queue: string, rec: TaskRecord<T>, token: string): void {
    const task: Task<T> = {
      id: rec.id,
      queue,
      name: rec.name,
      data: rec.data,
      attempt: rec.made + 1,
      maxAttempts: rec.maxAttempts,
      publishedAt: rec.publishedAt,
      priority: rec.opts.p ?? 0,
      group: rec.opts.g ?? '',
    };
    if (rec.opts.sn !== undefined) task.schedule = { name: rec.opts.sn, due: rec.opts.sd ?? 0 };
    const { clock } = this.host;
    const now = clock.now();
    const run: Run<T> = { task, token, ctrl: undefined, abortReason: undefined, startedAt: now, leaseUntil: now + this.host.leaseMs, progress: false, released: false, finished: false, timer: undefined, rec };
    const key = `${queue}\0${rec.id}`;
    // Leased again while a stale run of it still goes (its lease was lost): that run is told so.
    const stale = this.runs.get(key);
    if (stale) abortRun(stale, new TaskAbortedError('lease-lost', `task ${rec.id}: lease lost, the task was leased again`));
    this.runs.set(key, run);
    this.host.events.emit('started', task);
    const timeout = rec.opts.t ?? this.host.defaultTimeoutMs;
    if (timeout !== undefined) {
      run.timer = clock.setTimeout(() => {
        const err = new TaskAbortedError('timeout', `timed out after ${formatDuration(timeout)}`);
        abortRun(run, err);
        // A handler that does not stop is not waited for past the grace: the attempt fails.
        run.timer = clock.setTimeout(() => this.onFail(key, run, err), this.host.timeoutGraceMs);
      }, Math.min(timeout, MAX_TIMER_MS));
    }
    // The handler runs now; a result that is not a promise settles without a trip through the
    // microtask queue.
    let out: R | PromiseLike<R>;
    try {
      out = this.handler(task, new TaskContext(run, this.reportProgress));
    } catch (err) {
      this.onFail(key, run, err);
      return;
    }
    if (isPromiseLike(out)) {
      out.then(
        (result) => this.onDone(key, run, result),
        (err: unknown) => this.onFail(key, run, err),
      );
    } else {
      this.onDone(key, run, out);
    }
  }

  /** A leased task that is not started (the worker is closing) goes back to the front of its queue. */
  handBack(queue: string, rec: TaskRecord<T>, token: string): void {
    this.host.settle(queue, { id: rec.id, token, kind: settleKind('q', undefined, rec), value: '', at: 0 });
  }

  /** A record that could not be decoded is dead-lettered at once, with the reason as its error. */
  quarantine(queue: string, id: string, token: string, reason: string): void {
    this.host.settle(queue, { id, token, kind: 'd', value: this.errorEntry(1, reason), at: 0 });
    this.host.events.emit('quarantined', queue, id, reason);
  }

  /**
   * The heartbeat found this run's lease gone: another worker runs the task now. (A run that
   * finished meanwhile is not told: its finish may simply have reached Redis before the beat.)
   */
  leaseLost(run: Run<T> | undefined): void {
    if (run && !run.finished) abortRun(run, new TaskAbortedError('lease-lost', `task ${run.task.id}: lease lost, the task was handed to another worker`));
  }

  /** The heartbeat found this run's task cancelled: its signal fires and its outcome will be dropped. */
  cancelled(run: Run<T> | undefined): void {
    if (!run || run.abortReason || run.finished) return;
    abortRun(run, new TaskAbortedError('cancelled', `task ${run.task.id} was cancelled`));
    this.host.events.emit('cancelled', run.task);
  }

  /** The leases a heartbeat renewed (by key, as sent) run until `until`, for the runs still current. */
  renewed(queue: string, sent: ReadonlyMap<string, Run<T>>, until: number): void {
    for (const [key, run] of sent) if (run.task.queue === queue && this.runs.get(key) === run) run.leaseUntil = until;
  }

  /** Aborts every run whose lease ran out by now (Redis could not renew it). */
  abortExpired(queues: readonly string[], why: string): void {
    const now = this.host.clock.now();
    for (const run of this.runs.values()) {
      if (now > run.leaseUntil && queues.includes(run.task.queue)) abortRun(run, new TaskAbortedError('lease-lost', `task ${run.task.id}: ${why}`));
    }
  }

  /** Tells every run to stop (close() past its grace). */
  abortAll(reason: TaskAbortedError['reason'], message: (id: string) => string): void {
    for (const run of this.runs.values()) abortRun(run, new TaskAbortedError(reason, message(run.task.id)));
  }

  /** Hands back every run that is still going (their outcomes are ignored from now on). */
  releaseAll(): void {
    for (const [key, run] of this.runs) {
      run.released = true;
      this.host.clock.clearTimeout(run.timer);
      this.runs.delete(key);
      this.handOver(run);
    }
  }

  /** Waits until no task runs, or until `until` (clock ms). */
  async whileRunning(until: number): Promise<void> {
    const { clock } = this.host;
    while (this.runs.size > 0 && clock.now() < until) {
      let timer: Timer | undefined;
      await new Promise<void>((resolve) => {
        this.slotWaiters.push(resolve);
        timer = clock.setTimeout(resolve, Math.min(200, Math.max(1, until - clock.now())));
      });
      clock.clearTimeout(timer);
    }
  }

  private slotCameFree(): void {
    if (this.slotWaiters.length > 0) for (const w of this.slotWaiters.splice(0)) w();
  }

  /** A cancelled task is out of Redis's active set already: its outcome is dropped here. */
  private dropIfCancelled(key: string, run: Run<T>): boolean {
    if (run.abortReason?.reason !== 'cancelled') return false;
    this.end(key, run);
    this.host.slotFreed();
    return true;
  }

  /** The run has its outcome: no timer, and no longer tracked (unless a newer run took its key). */
  private end(key: string, run: Run<T>): void {
    run.finished = true;
    if (run.timer) this.host.clock.clearTimeout(run.timer);
    if (this.runs.get(key) === run) this.runs.delete(key);
    this.slotCameFree();
  }

  private onDone(key: string, run: Run<T>, result: R): void {
    if (run.released || run.finished || this.dropIfCancelled(key, run)) return;
    // Finishing after the timeout fired does not count: the attempt timed out.
    if (run.abortReason?.reason === 'timeout') {
      this.onFail(key, run, run.abortReason);
      return;
    }
    let json: string;
    try {
      json = JSON.stringify(result === undefined ? null : result);
    } catch (err) {
      this.onFail(key, run, new Error(`result is not serializable to JSON: ${errorMessage(err)}`));
      return;
    }
    this.end(key, run);
    const { rec } = run;
    this.host.settle(run.task.queue, { id: rec.id, token: run.token, kind: settleKind('c', run, rec), value: json, at: 0 });
    this.host.events.emit('completed', run.task, result, this.host.clock.now() - run.startedAt);
  }

  /** Hands a task stopped by close() back to the front of its queue (no attempt counted). */
  private handOver(run: Run<T>): void {
    this.host.settle(run.task.queue, { id: run.task.id, token: run.token, kind: settleKind('q', run, run.rec), value: '', at: 0 });
    this.host.events.emit('released', run.task);
  }

  private onFail(key: string, run: Run<T>, err: unknown): void {
    if (run.released || run.finished || this.dropIfCancelled(key, run)) return;
    this.end(key, run);
    // Stopped by close(): not the task's failure.
    if (run.abortReason?.reason === 'shutdown') {
      this.handOver(run);
      return;
    }
    // After a timeout, the handler's own error (often just "aborted") says less than the timeout.
    const cause = run.abortReason?.reason === 'timeout' ? run.abortReason : err;
    const error = cause instanceof Error ? cause : new Error(String(cause));
    const { rec } = run;
    const attempt = rec.made + 1;
    const final = attempt >= rec.maxAttempts || isUnrecoverable(error);
    const now = this.host.clock.now();
    const retryAt = final ? null : now + backoffDelay(decodeBackoff(rec.opts), attempt);
    this.host.settle(run.task.queue, {
      id: rec.id,
      token: run.token,
      kind: settleKind(final ? 'd' : 'r', run, rec),
      value: this.errorEntry(attempt, error.message || error.name),
      at: retryAt ?? 0,
    });
    if (retryAt !== null) this.host.dueAt(retryAt);
    this.host.events.emit('failed', run.task, error, retryAt, now - run.startedAt);
  }

  private errorEntry(attempt: number, message: string): string {
    return JSON.stringify({ attempt, at: this.host.clock.now(), error: message.slice(0, MAX_ERROR), worker: this.host.workerId });
  }
}

