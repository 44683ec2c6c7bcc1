import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type Clock, sleep, systemClock } from '../clock.js';
import { settledWithin } from '../duration.js';
import { queueKeys, type QueueKeys, validateQueueName } from '../keys.js';
import { decodeTask } from '../decode.js';
import { CONCURRENCY, inRange, LEASE, TIMEOUT, TIMEOUT_GRACE } from '../options.js';
import { checkDatabase, createRedis, isCluster, quitWithin, redactUrl, resolveRedisUrl } from '../redis.js';
import { Scheduler } from '../scheduler.js';
import { registerScripts } from '../scripts.js';
import { Connection, TaskCalls } from './connection.js';
import { Dispatcher } from './dispatcher.js';
import { DueTimer, Heartbeat } from './heartbeat.js';
import { IdleWait } from './idle-wait.js';
import { TaskRunner } from './runner.js';
import { Repairer } from './repairer.js';
import { WorkerStats } from './stats.js';
import type { Handler, Task, WorkerEvents, WorkerOptions } from './types.js';

export { UnrecoverableError, TaskAbortedError, isUnrecoverable, isTaskAborted } from './types.js';
export type { Handler, HandlerContext, Task, WorkerEvents, WorkerOptions } from './types.js';

/**
 * Runs tasks from one or more queues. A composition of parts with one job each:
 * - TaskRunner: runs handlers (signal, timeout, progress) and turns outcomes into settlements;
 * - Dispatcher: the task calls (reserve, finish) that settle outcomes and lease tasks, in lanes;
 * - IdleWait: blocks on the queues' markers while there is nothing to take (no polling);
 * - Heartbeat: renews leases and runs the queues' maintenance; DueTimer: wakes at due times;
 * - WorkerStats: the per-second counts; Scheduler: fires the queues' schedules;
 * - Repairer: sets bad data aside when a script of a queue fails because of it.
 * The Worker creates them, connects them, and starts and stops them in order.
 */
export class Worker<T = unknown, R = unknown> extends EventEmitter<WorkerEvents<T>> {
  readonly id: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly url: string;
  private readonly clock: Clock;
  private readonly timeoutGraceMs: number;
  private readonly client: Redis;
  private readonly conn: Connection;
  private readonly keys: Map<string, QueueKeys>;
  private readonly runner: TaskRunner<T, R>;
  private readonly dispatcher: Dispatcher;
  private readonly idleWait: IdleWait;
  private readonly heartbeat: Heartbeat<T>;
  private readonly due: DueTimer;
  private readonly stats: WorkerStats;
  private readonly repairer: Repairer;
  private readonly scheduler: Scheduler | undefined;
  private accepting = false;
  private stopped = false;
  private closing: Promise<void> | undefined;

  constructor(queues: string | string[], handler: Handler<T, R>, opts: WorkerOptions = {}) {
    super();
    this.queues = (Array.isArray(queues) ? queues : [queues]).map(validateQueueName);
    if (this.queues.length === 0) throw new Error('a worker needs at least one queue');
    this.keys = new Map(this.queues.map((q) => [q, queueKeys(q)]));
    // The limits are options.ts's (the programs' arguments are checked against the same ones).
    this.concurrency = inRange(CONCURRENCY, opts.concurrency ?? 1);
    const defaultTimeoutMs = opts.defaultTimeoutMs === undefined ? undefined : inRange(TIMEOUT, opts.defaultTimeoutMs, 'defaultTimeoutMs');
    const timeoutGraceMs = (this.timeoutGraceMs = inRange(TIMEOUT_GRACE, opts.timeoutGraceMs ?? 10_000));
    this.leaseMs = inRange(LEASE, opts.leaseMs ?? 5000);
    this.id = opts.workerId ?? `${hostname().replace(/[^A-Za-z0-9-]/g, '').slice(0, 20) || 'w'}-${process.pid}-${randomBytes(3).toString('hex')}`;
    if (!/^[A-Za-z0-9-]+$/.test(this.id)) throw new Error(`invalid worker id ${this.id}: letters, digits and '-' only`);
    this.clock = opts.clock ?? systemClock;
    this.url = resolveRedisUrl(opts.connection);
    // Calls whose reply a disconnect lost are not sent again by the client: the worker retries
    // its task calls itself, with a flag that makes the retry safe (see Connection).
    this.client = createRedis(this.url, {
      name: `redtask:worker:${this.id}`,
      onWaiting: (attempt, delay, err) => this.emit('waiting', attempt, delay, err),
      resendUnanswered: false,
    });
    registerScripts(this.client);
    this.conn = new Connection(this.client);
    // The queues that share a heartbeat and a blocking wait: all of them on one server; one each
    // on a Redis Cluster, where each queue lives on its own node.
    const groups = isCluster(this.client) ? this.queues.map((q) => [q]) : [this.queues];
    const { clock, id: workerId, leaseMs } = this;
    const report = (err: unknown) => this.report(err);
    const dueAt = (at: number) => this.due.set(at);
    // A call, wait or beat that failed: told to listeners, and the queues repaired if bad data can be why.
    const failed = (qs: readonly string[], err: unknown) => {
      this.report(err);
      this.repairer.failed(qs, err);
    };

    this.runner = new TaskRunner<T, R>(handler, {
      events: this,
      clock,
      workerId,
      leaseMs,
      defaultTimeoutMs,
      timeoutGraceMs,
      settle: (queue, s) => this.dispatcher.settle(queue, s),
      slotFreed: () => this.dispatcher.kick(),
      dueAt,
      // On the connection of the task calls: Redis runs it before the finish that follows it,
      // which clears it. Best effort: a Redis outage must not fail the task.
      writeProgress: (queue, id, json) => this.conn.guard(this.client.hset(this.keys.get(queue)!.progress, id, json)).then(() => undefined, report),
    });
    this.dispatcher = new Dispatcher(this.queues, this.keys, new TaskCalls(this.conn), this.concurrency, {
      clock,
      workerId,
      leaseMs,
      openSlots: () => (this.accepting ? this.concurrency - this.runner.size : 0),
      leased: (queue, records, token) => this.leased(queue, records, token),
      settled: (queue, at, completed, failed) => this.stats.settled(queue, at, completed, failed),
      lost: (queue, id) => this.emit('lost', lostTask<T>(queue, id)),
      passWake: (qs) => void this.conn.pipelined(qs, (pipe, q) => pipe.zadd(this.keys.get(q)!.marker, 0, 'm')).catch(() => undefined),
      callFailed: (queue, err) => failed([queue], err),
      afterKick: (idle) => this.idleWait.afterKick(idle),
    });
    this.idleWait = new IdleWait(this.conn, groups, this.keys, this.dispatcher, {
      clock,
      workerId,
      leaseMs,
      accepting: () => this.accepting,
      dueAt,
      waitFailed: failed,
    });
    this.heartbeat = new Heartbeat<T>(this.conn, groups, this.keys, this.runner, {
      events: this,
      clock,
      workerId,
      leaseMs,
      concurrency: this.concurrency,
      queues: this.queues,
      startedAt: clock.now(),
      kick: () => this.dispatcher.kick(),
      dueAt,
      beatFailed: failed,
    });
    // Something may be due now (a delayed task, a retry, the end of a rate-limit window): look
    // again, passing the wake-up on if more is there than this worker takes, and beat.
    this.due = new DueTimer(clock, () => {
      this.dispatcher.wokeUp(this.queues);
      void this.heartbeat.beat();
    });
    this.stats = new WorkerStats(this.conn, clock, report);
    this.repairer = new Repairer(this.conn, this.keys, clock, (m) => this.emit('warning', m), report);
    this.client.on('ready', () => this.dispatcher.kick());
    if (opts.schedules !== false) {
      this.scheduler = new Scheduler(this.url, this.queues, {
        name: `redtask:worker:${this.id}:scheduler`,
        onError: report,
        onFire: (queue, schedule, due, id) => this.emit('scheduled', queue, schedule, due, id),
      });
    }
  }

  /** The URL with its password hidden. */
  get safeUrl(): string {
    return redactUrl(this.url);
  }

  /** Number of tasks running now. */
  get active(): number {
    return this.runner.size;
  }

  /** Connects (waiting for Redis as long as it takes) and starts taking tasks. */
  async start(): Promise<void> {
    await this.client.connect().catch(() => undefined);
    while (this.client.status !== 'ready') {
      if (this.closing) return;
      await sleep(100);
    }
    if (this.closing) return;
    try {
      await checkDatabase(this.client, this.url);
    } catch (err) {
      await this.close(0).catch(() => undefined);
      throw err;
    }
    // close() may have begun during any wait above or below: it must find nothing started after it.
    if (this.closing) return;
    this.accepting = true;
    this.checkEviction().catch(() => undefined);
    this.idleWait.start();
    await this.heartbeat.start();
    if (this.closing) return;
    this.stats.start();
    this.scheduler?.start();
    this.emit('ready');
    this.dispatcher.kick();
  }

  /**
   * Stops taking tasks, waits up to `graceMs` for running ones, then aborts the rest and hands
   * them back to the front of their queue (no attempt is counted for them).
   */
  close(graceMs = 30_000): Promise<void> {
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  /** What the task calls leased: started, or handed back once close() began (see shutdown). */
  private leased(queue: string, records: string[], token: string): void {
    const now = this.clock.now();
    for (const raw of records) {
      const decoded = decodeTask<T>(raw);
      if (!decoded.ok) {
        // Retrying cannot make a record readable: it is dead-lettered with the reason, and the
        // worker goes on with the next task.
        if (decoded.id !== undefined) this.runner.quarantine(queue, decoded.id, token, decoded.reason);
        this.emit('warning', `queue ${queue}: ${decoded.reason}; dead-lettered`);
        continue;
      }
      const rec = decoded.value;
      if (this.accepting) {
        this.stats.started(queue, now, rec.publishedAt);
        this.runner.start(queue, rec, token);
      } else {
        this.runner.handBack(queue, rec, token);
      }
    }
  }

  private async checkEviction(): Promise<void> {
    const res = (await this.client.config('GET', 'maxmemory-policy')) as string[];
    const policy = res[1];
    if (policy && policy !== 'noeviction') {
      this.emit('warning', `Redis maxmemory-policy is ${policy}: under memory pressure Redis may evict tasks; set it to noeviction`);
    }
  }

  /** 'error' events go to listeners only: an unlistened one must not crash the process. */
  private report(err: unknown): void {
    if (!this.stopped && this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  /**
   * The grace counts from the call. No step waits for Redis without a limit: a server that stops
   * answering without closing the connection (frozen, or cut off by the network) must not hold
   * the shutdown, and the leases bring back whatever could not be settled.
   */
  private async shutdown(graceMs: number): Promise<void> {
    const { clock } = this;
    const until = clock.now() + graceMs;
    this.accepting = false;
    // A queued wait ends now; what its reserve leased goes back (see leased).
    this.idleWait.interrupt();
    this.dispatcher.passWakeNow();
    await this.scheduler?.stop();
    await this.runner.whileRunning(until);
    // What still runs is told to stop, and handed back once its handler has returned (or thrown):
    // handed back earlier, another worker could start it while this one's still runs (an --exec
    // command gets SIGKILL only 5 s after its SIGTERM). A handler that finishes anyway completes
    // its task; one that gives up hands it back without counting an attempt. One that has not
    // returned within timeoutGraceMs is handed back without waiting any longer.
    this.runner.abortAll('shutdown', (id) => `task ${id}: worker shutting down, handed back to the queue`);
    await this.runner.whileRunning(clock.now() + this.timeoutGraceMs);
    this.runner.releaseAll();
    // Flush every settlement before leaving. After 5 s, give up if Redis is away, keeps refusing
    // the calls (out of memory, say) or has answered none for 5 s: the leases bring the tasks
    // back. A slow Redis that answers is waited for.
    const flushStart = clock.now();
    while (this.dispatcher.busy) {
      const now = clock.now();
      const d = this.dispatcher;
      if (now > flushStart + 5000 && (!this.conn.ready || d.stalledSince(flushStart))) break;
      d.kick();
      await sleep(5, clock);
    }
    await this.idleWait.stop();
    this.stopped = true;
    this.dispatcher.stop();
    this.heartbeat.stop();
    this.stats.stop();
    this.due.stop();
    if (!this.conn.ready) {
      this.client.disconnect();
      return;
    }
    // The last counts and the worker's entry: a second each at most (the entry expires anyway).
    await settledWithin(this.stats.flush(), 1000);
    await settledWithin(this.conn.pipelined(this.queues, (pipe, q) => pipe.zrem(this.keys.get(q)!.workers, this.id).hdel(this.keys.get(q)!.winfo, this.id)), 1000);
    await quitWithin(this.client, 1000);
  }

}

/** A task whose lease was lost, as the 'lost' event tells of it (only its id and queue are known). */
function lostTask<T>(queue: string, id: string): Task<T> {
  return { id, queue, name: '', data: undefined as T, attempt: 0, maxAttempts: 0, publishedAt: 0, priority: 0, group: '' };
}
