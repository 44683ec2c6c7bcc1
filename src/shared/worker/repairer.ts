import type { Clock } from '../clock.js';
import type { QueueKeys } from '../keys.js';
import { isDataError, repairQueue } from '../repair.js';
import type { Connection } from './connection.js';

/** At most one repair of a queue in this time; doubled (up to a minute) while repairs find nothing. */
const REPAIR_EVERY_MS = 2000;
const REPAIR_EVERY_MAX_MS = 60_000;

/**
 * When a script of a queue fails with an error that bad data in Redis can cause (a key of the
 * wrong type, a counter that is not a number), the worker sets that data aside (see
 * repair-30.lua) and tells what it moved in one warning line each, instead of failing the same
 * call for ever. Other errors (Redis away, out of memory) are left to the caller's retries.
 */
export class Repairer {
  private readonly lastRun = new Map<string, number>();
  private readonly every = new Map<string, number>();

  constructor(
    private readonly conn: Connection,
    private readonly keys: ReadonlyMap<string, QueueKeys>,
    private readonly clock: Clock,
    private readonly warn: (message: string) => void,
    private readonly report: (err: unknown) => void,
  ) {}

  /** A call to these queues failed with `err`: repairs them if bad data can be the cause. */
  failed(queues: readonly string[], err: unknown): void {
    if (!isDataError(err)) return;
    const now = this.clock.now();
    for (const queue of queues) {
      const every = this.every.get(queue) ?? REPAIR_EVERY_MS;
      if (now - (this.lastRun.get(queue) ?? -Infinity) < every) continue;
      this.lastRun.set(queue, now);
      this.conn.guard(repairQueue(this.conn.client, this.keys.get(queue)!)).then(
        (lines) => {
          for (const line of lines) this.warn(`queue ${queue}: bad data set aside: ${line}`);
          // An error that persists although nothing is wrong with the data: look less often.
          this.every.set(queue, lines.length > 0 ? REPAIR_EVERY_MS : Math.min(every * 2, REPAIR_EVERY_MAX_MS));
        },
        (e: unknown) => this.report(e),
      );
    }
  }
}
