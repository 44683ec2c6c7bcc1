import type { Clock, Timer } from '../clock.js';
import { statsKey, WAIT_BUCKETS, waitBucket } from '../keys.js';
import type { Connection } from './connection.js';

/** What the task path counted in one second for one queue. */
interface SecondStats {
  completed: number;
  failed: number;
  /** Tasks started, by how long they waited (WAIT_BUCKETS). */
  waits: number[] | undefined;
}

/** How long after a second ends the worker sends that second's counts. */
const STATS_LAG_MS = 50;

/**
 * The per-second counts behind the monitor's rates and wait percentiles: tasks completed and
 * dead-lettered per second (the second the call that settled them was sent), and wait times
 * (publish to start) as histogram fields of the second the task started, in the queues'
 * `stats:<second>` hashes. Sent off the tasks' own path, just after every second ends and when
 * the worker closes; the finish script keeps the exact totals (meta). A worker that dies loses
 * at most its last second of these counts, never a task.
 */
export class WorkerStats {
  private readonly counts = new Map<string, Map<number, SecondStats>>();
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    private readonly conn: Connection,
    private readonly clock: Clock,
    private readonly report: (err: unknown) => void,
  ) {}

  /** A task started at `now` that was published at `publishedAt`. */
  started(queue: string, now: number, publishedAt: number): void {
    const c = this.of(queue, Math.floor(now / 1000));
    (c.waits ??= new Array<number>(WAIT_BUCKETS.length).fill(0))[waitBucket(now - publishedAt)]!++;
  }

  /** Settlements applied by a call sent at `at`. */
  settled(queue: string, at: number, completed: number, failed: number): void {
    const c = this.of(queue, Math.floor(at / 1000));
    c.completed += completed;
    c.failed += failed;
  }

  /** Flushes STATS_LAG_MS after each second ends, so that a second is complete in Redis soon after it ends. */
  start(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(
      () => {
        void this.flush();
        this.start();
      },
      1000 - (this.clock.now() % 1000) + STATS_LAG_MS,
    );
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
  }

  /** Sends what was counted since the last flush (a failure is reported, not thrown). */
  flush(): Promise<void> {
    if (this.counts.size === 0) return Promise.resolve();
    const counts = new Map(this.counts);
    this.counts.clear();
    return this.conn
      .pipelined([...counts.keys()], (pipe, queue) => {
        for (const [second, c] of counts.get(queue)!) {
          const key = statsKey(queue, second);
          if (c.completed > 0) pipe.hincrby(key, 'completed', c.completed);
          if (c.failed > 0) pipe.hincrby(key, 'failed', c.failed);
          c.waits?.forEach((n, i) => {
            if (n > 0) pipe.hincrby(key, `w${i}`, n);
          });
          pipe.expire(key, 3600);
        }
      })
      .then(
        () => undefined,
        (err: unknown) => this.report(err),
      );
  }

  private of(queue: string, second: number): SecondStats {
    let bySecond = this.counts.get(queue);
    if (!bySecond) this.counts.set(queue, (bySecond = new Map()));
    let s = bySecond.get(second);
    if (!s) bySecond.set(second, (s = { completed: 0, failed: 0, waits: undefined }));
    return s;
  }
}
