import { type CatchUpPolicy, cronParser, isTimeZone } from './decode.js';
import { UsageError } from './errors.js';

/**
 * The timing of recurring tasks, pure (no Redis, no clock: every time is an argument). A
 * schedule's due times are computed from its definition (a cron expression or a fixed interval
 * and its anchor) by whichever worker looks, never chained from one fire to the next, so a lost
 * "next fire" entry or a full restart cannot stop it. What is stored, and the writes, are in
 * schedule-store.ts; the firing is Scheduler's (scheduler.ts).
 */

/** A fire at most this late is on time, not missed, whatever the catch-up policy. */
export const ON_TIME_MS = 5000;
/** The most missed fires the policy `all` makes up for at once (the most recent ones). */
export const MAX_CATCH_UP = 1000;

export function validateTimeZone(tz: string): string {
  if (!isTimeZone(tz)) throw new UsageError(`unknown time zone ${JSON.stringify(tz)}: use an IANA name such as Europe/Berlin or UTC`);
  return tz;
}
/** The due times of a schedule: pure arithmetic for `every`, cron-parser for `cron`. */
export class Timing {
  constructor(readonly spec: { cron?: string; every?: number; tz?: string; anchor: number }) {}

  private cron(currentDate: number) {
    return cronParser().parse(this.spec.cron!, { currentDate, tz: this.spec.tz ?? 'UTC' });
  }

  /** The first due time strictly after t, or null when there is none. */
  nextAfter(t: number): number | null {
    const { every, anchor } = this.spec;
    if (every !== undefined) return anchor + Math.max(1, Math.floor((t - anchor) / every) + 1) * every;
    try {
      return this.cron(t).next().getTime();
    } catch {
      return null;
    }
  }

  /**
   * The last due time at or before t, or null when there is none. The due times are the ones
   * `nextAfter` steps through; cron-parser's prev() finds a starting point fast but skips a time
   * that falls in a daylight-saving gap, which next() moves to just after the gap (2:30 on the
   * night clocks go from 2:00 to 3:00 is due at 3:30): a few next() steps from there catch it.
   */
  latestAtOrBefore(t: number): number | null {
    const { every, anchor } = this.spec;
    if (every !== undefined) {
      const k = Math.floor((t - anchor) / every);
      return k >= 1 ? anchor + k * every : null;
    }
    let found: number | null;
    try {
      found = this.cron(t + 1).prev().getTime();
    } catch {
      found = null;
    }
    return this.walk(found ?? t - 400 * 86_400_000, t, 1)[0] ?? found;
  }

  /**
   * Steps with nextAfter from `from` (exclusive) through `to` (inclusive), keeping the last `max`
   * due times, ascending (at most MAX_WALK steps).
   */
  private walk(from: number, to: number, max: number): number[] {
    const out: number[] = [];
    let cur = from;
    for (let i = 0; i < MAX_WALK; i++) {
      const n = this.nextAfter(cur);
      if (n === null || n > to) break;
      out.push(n);
      if (out.length > max) out.shift();
      cur = n;
    }
    return out;
  }

  /**
   * The due times in (lo, hi], ascending; when there are more than max, the latest max of them.
   * For cron, prev() finds where to start and next() steps from there (see latestAtOrBefore), so
   * that a time in a daylight-saving gap is in and the repeated hour of a fall-back night counts
   * once, as when the schedule runs on time.
   */
  between(lo: number, hi: number, max: number): number[] {
    const out: number[] = [];
    const { every, anchor } = this.spec;
    if (every !== undefined) {
      const kHi = Math.floor((hi - anchor) / every);
      const kLo = Math.max(1, Math.floor((lo - anchor) / every) + 1, kHi - max + 1);
      for (let k = kLo; k <= kHi; k++) out.push(anchor + k * every);
      return out;
    }
    // Start at a due time that prev() finds at or before lo (or max back): next() steps through a
    // gap's moved time only from a due time before it.
    let start = lo;
    try {
      const it = this.cron(hi + 1);
      for (let i = 0; ; i++) {
        const d = it.prev().getTime();
        if (d <= lo || i === max) {
          start = d;
          break;
        }
      }
    } catch {
      // No earlier date: start at lo.
    }
    return this.walk(start, hi, max).filter((d) => d > lo);
  }
}

/** Most nextAfter steps one walk takes (a bound for pathological expressions). */
const MAX_WALK = 10_000;

export interface FirePlan {
  /** Due times to fire, ascending. */
  fire: number[];
  /** A missed due time to record as handled without firing (the latest one), when nothing fires. */
  skip?: number;
}

/**
 * What to do at `now` for a schedule whose due times up to `base` are handled: the due times
 * in (base, now] that the catch-up policy keeps. One at most ON_TIME_MS late is never missed.
 */
export function planFires(timing: Timing, base: number, now: number, catchUp: CatchUpPolicy, windowMs: number): FirePlan {
  const latest = timing.latestAtOrBefore(now);
  if (latest === null || latest <= base) return { fire: [] };
  if (catchUp === 'all') {
    const fire = timing.between(Math.max(base, now - Math.max(windowMs, ON_TIME_MS)), now, MAX_CATCH_UP);
    return fire.length > 0 ? { fire } : { fire: [], skip: latest };
  }
  // Every due time at most ON_TIME_MS late is on time (a pass that came a little late, a short
  // interval): each of them fires, under every policy.
  const onTime = timing.between(Math.max(base, now - ON_TIME_MS - 1), now, MAX_CATCH_UP);
  if (onTime.length > 0) return { fire: onTime };
  return catchUp === 'latest' && now - latest <= windowMs ? { fire: [latest] } : { fire: [], skip: latest };
}
