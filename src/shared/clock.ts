/**
 * Time as the worker sees it: the current time and timers. Injected where time decides
 * behaviour (timeouts, lease deadlines, due times, stats seconds, the shutdown grace), so that a
 * test can move time on by hand instead of sleeping. Deadlines that Redis grants are not the
 * clock's: the scripts take the time they are given or Redis's own.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
}

/** A pending timer of a Clock. */
export interface Timer {
  /** Lets the process exit while the timer waits. */
  unref?(): unknown;
}

export const systemClock: Clock = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

/** Resolves after `ms` of the clock's time. */
export function sleep(ms: number, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/**
 * A clock that moves only when told to: `advance(ms)` runs the timers that fall due, in order.
 * For tests of the parts that decide by time.
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return { id } as Timer;
  }

  clearTimeout(timer: Timer | undefined): void {
    if (timer) this.timers.delete((timer as { id: number }).id);
  }

  /** Moves time on by `ms`, running every timer due by then (timers they set included). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = end;
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.size;
  }
}
