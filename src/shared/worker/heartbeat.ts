import { hostname } from 'node:os';
import type { EventEmitter } from 'node:events';
import type { Clock, Timer } from '../clock.js';
import { MAX_TIMER_MS } from '../duration.js';
import type { QueueKeys } from '../keys.js';
import { pipeScript, scriptKeys } from '../scripts.js';
import { VERSION } from '../version.js';
import type { Connection } from './connection.js';
import type { Run, TaskRunner } from './runner.js';
import type { WorkerEvents } from './types.js';

/** What the heartbeat needs from the worker around it. */
export interface HeartbeatHost<T> {
  readonly events: Pick<EventEmitter<WorkerEvents<T>>, 'emit'>;
  readonly clock: Clock;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly concurrency: number;
  readonly queues: readonly string[];
  readonly startedAt: number;
  /** Maintenance promoted or recovered tasks: look for them. */
  kick(): void;
  /** Look for tasks again at this time (the next due task or lease deadline). */
  dueAt(at: number): void;
  /** A beat of these queues failed. */
  beatFailed(queues: readonly string[], err: unknown): void;
}

/**
 * The worker's heartbeat and the queues' maintenance, every third of a lease (at most every
 * second), per group of queues (see IdleWait): renews the leases of the tasks running here
 * (`extend`, which also tells of leases lost and tasks cancelled), records the worker in the
 * queue's list of live workers, and runs `maintain` (recovers expired leases, promotes due tasks,
 * forgets stale workers). Without Redis, a run whose lease has run out is told to stop: another
 * worker may already run its task.
 */
export class Heartbeat<T> {
  /** Groups whose heartbeat is in flight, and those that asked for another meanwhile. */
  private readonly ticking = new Set<string[]>();
  private readonly again = new Set<string[]>();
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    private readonly conn: Connection,
    private readonly groups: string[][],
    private readonly keys: ReadonlyMap<string, QueueKeys>,
    private readonly runner: TaskRunner<T>,
    private readonly host: HeartbeatHost<T>,
  ) {}

  /** The first beat (awaited), then one every third of a lease, at most a second apart. */
  async start(): Promise<void> {
    await this.beat();
    const every = Math.min(1000, Math.floor(this.host.leaseMs / 3));
    const next = () => {
      if (this.stopped) return;
      this.timer = this.host.clock.setTimeout(() => {
        void this.beat();
        next();
      }, every);
      this.timer.unref?.();
    };
    next();
  }

  stop(): void {
    this.stopped = true;
    this.host.clock.clearTimeout(this.timer);
  }

  /** A beat is in flight. */
  get beating(): boolean {
    return this.ticking.size > 0;
  }

  /** One beat of every group now. */
  async beat(): Promise<void> {
    await Promise.all(this.groups.map((g) => this.beatGroup(g)));
  }

  private async beatGroup(queues: string[]): Promise<void> {
    if (this.stopped) return;
    if (this.ticking.has(queues)) {
      this.again.add(queues);
      // The last beat has not come back (commands wait while Redis is unreachable): a lease that
      // ran out meanwhile may already be another worker's.
      this.runner.abortExpired(queues, 'lease expired while Redis was unreachable');
      return;
    }
    if (!this.conn.ready) {
      // Renewals sent later with this time would set deadlines that have passed.
      this.runner.abortExpired(queues, 'lease expired while Redis was unreachable');
      return;
    }
    this.ticking.add(queues);
    try {
      await this.send(queues);
    } catch (err) {
      this.host.beatFailed(queues, err);
      this.runner.abortExpired(queues, 'lease expired while Redis was unreachable');
    } finally {
      this.ticking.delete(queues);
    }
    if (this.again.delete(queues)) void this.beatGroup(queues);
  }

  private async send(queues: string[]): Promise<void> {
    const { clock, leaseMs, workerId } = this.host;
    const now = clock.now();
    // The run each renewal was sent for: a reply about a lease must not reach a newer run of the
    // same task (re-leased to this worker under another token meanwhile).
    const sent = new Map<string, Run<T>>();
    const info = JSON.stringify({
      id: workerId,
      host: hostname(),
      pid: process.pid,
      queues: this.host.queues,
      concurrency: this.host.concurrency,
      running: this.runner.size,
      startedAt: this.host.startedAt,
      version: VERSION,
      leaseMs,
    });
    const res = await this.conn.pipelined(queues, (pipe, queue) => {
      const k = this.keys.get(queue)!;
      const held: string[] = [];
      for (const [key, run] of this.runner.of(queue)) {
        held.push(run.task.id, run.token);
        sent.set(key, run);
      }
      pipeScript(pipe, 'extend', scriptKeys.extend(k), [now, leaseMs, workerId, info, ...held]);
      pipeScript(pipe, 'maintain', scriptKeys.maintain(k), [now, 1000, leaseMs * 3]);
    });
    let nextDue = -1;
    let found = false;
    queues.forEach((queue, i) => {
      const [e1, ext] = res[i * 2] ?? [];
      const [e2, m] = res[i * 2 + 1] ?? [];
      if (e1 || e2) throw e1 ?? e2;
      const [lost, cancelled] = ext as [string[], string[]];
      for (const id of lost) this.runner.leaseLost(sent.get(`${queue}\0${id}`));
      for (const id of cancelled) this.runner.cancelled(sent.get(`${queue}\0${id}`));
      this.runner.renewed(queue, sent, now + leaseMs);
      // maintain's reply: [recovered, promoted, dead-lettered, next due time or -1].
      const counts = m as number[];
      const due = counts[3]!;
      if (due >= 0 && (nextDue < 0 || due < nextDue)) nextDue = due;
      if (counts[1]! > 0 || counts[0]! > 0) found = true;
    });
    if (found) this.host.kick();
    this.host.dueAt(nextDue);
  }
}

/**
 * A one-off wake-up at the earliest time something is due (a delayed task, a retry, a lease
 * deadline, the end of a rate-limit window), so that nothing waits for the regular heartbeat.
 */
export class DueTimer {
  private timer: Timer | undefined;
  private at = 0;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  /** Wakes at `at` (ms), unless a wake-up no later than that is set already; -1: nothing due. */
  set(at: number): void {
    if (at < 0 || this.stopped) return;
    if (this.timer && this.at <= at) return;
    this.clock.clearTimeout(this.timer);
    this.at = at;
    // A due time beyond what a timer can wait for wakes it early; the heartbeat then sets it again.
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.fire();
      },
      Math.min(Math.max(0, at - this.clock.now()) + 1, MAX_TIMER_MS),
    );
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }
}
