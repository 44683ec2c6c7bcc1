import { describe, expect, it } from 'vitest';

// The schedule timing is pure: no Redis, no clock (every time is an argument).
import { UsageError } from '../../src/shared/errors.js';
import { MAX_CATCH_UP, ON_TIME_MS, planFires, Timing, validateTimeZone } from '../../src/shared/schedule-timing.js';

const T = (iso: string) => Date.parse(iso);

describe('Timing: every', () => {
  const t = new Timing({ every: 1000, anchor: 10_500 });

  it('fires at anchor + k·interval, k >= 1, strictly after the given time', () => {
    expect(t.nextAfter(0)).toBe(11_500);
    expect(t.nextAfter(10_500)).toBe(11_500);
    expect(t.nextAfter(11_499)).toBe(11_500);
    expect(t.nextAfter(11_500)).toBe(12_500);
  });

  it('finds the latest due time at or before a time', () => {
    expect(t.latestAtOrBefore(11_499)).toBeNull();
    expect(t.latestAtOrBefore(11_500)).toBe(11_500);
    expect(t.latestAtOrBefore(15_000)).toBe(14_500);
  });

  it('lists the due times in a window, keeping the latest when there are too many', () => {
    expect(t.between(11_500, 14_500, 100)).toEqual([12_500, 13_500, 14_500]);
    expect(t.between(0, 14_499, 100)).toEqual([11_500, 12_500, 13_500]);
    expect(t.between(0, 14_500, 2)).toEqual([13_500, 14_500]);
    expect(t.between(14_500, 15_000, 100)).toEqual([]);
  });
});

describe('Timing: cron', () => {
  it('a time in the spring-forward gap is due just after the gap, and found as the latest then (no day lost)', () => {
    // New York, 2025-03-09: clocks go from 02:00 to 03:00 local (07:00Z); 02:30 does not exist.
    const ny = new Timing({ cron: '30 2 * * *', tz: 'America/New_York', anchor: 0 });
    const due = ny.nextAfter(T('2025-03-09T05:00:00Z'))!;
    expect(due).toBe(T('2025-03-09T07:30:00Z'));
    expect(ny.latestAtOrBefore(due)).toBe(due);
    expect(ny.latestAtOrBefore(due + 1000)).toBe(due);
    expect(planFires(ny, T('2025-03-08T07:30:00Z'), due + 1000, 'none', 0)).toEqual({ fire: [due] });
    // Berlin, 2026-03-29: 02:00 local does not exist.
    const berlin = new Timing({ cron: '0 2 * * *', tz: 'Europe/Berlin', anchor: 0 });
    const b = berlin.nextAfter(T('2026-03-28T23:00:00Z'))!;
    expect(berlin.latestAtOrBefore(b + 10)).toBe(b);
    expect(berlin.between(T('2026-03-27T12:00:00Z'), b + 10, 10)).toEqual([T('2026-03-28T01:00:00Z'), b]);
  });

  it('the repeated hour of a fall-back night counts once, on time or caught up', () => {
    // New York, 2025-11-02: 01:00-02:00 local comes twice (05:00-07:00Z).
    const ny = new Timing({ cron: '30 1 * * *', tz: 'America/New_York', anchor: 0 });
    const first = ny.nextAfter(T('2025-11-02T04:00:00Z'))!;
    const ticks: number[] = [];
    for (let d: number | null = first; d !== null && d < T('2025-11-03T12:00:00Z'); d = ny.nextAfter(d)) ticks.push(d);
    expect(ny.between(T('2025-11-02T04:00:00Z'), T('2025-11-03T12:00:00Z'), 100)).toEqual(ticks);
    expect(planFires(ny, T('2025-11-02T04:00:00Z'), T('2025-11-02T08:00:00Z'), 'all', 86_400_000).fire).toEqual([first]);
  });

  it('reads 5 fields to the minute and 6 fields to the second, in UTC by default', () => {
    const five = new Timing({ cron: '*/5 * * * *', anchor: 0 });
    expect(five.nextAfter(T('2026-01-01T10:02:30Z'))).toBe(T('2026-01-01T10:05:00Z'));
    expect(five.nextAfter(T('2026-01-01T10:05:00Z'))).toBe(T('2026-01-01T10:10:00Z'));
    expect(five.latestAtOrBefore(T('2026-01-01T10:05:00Z'))).toBe(T('2026-01-01T10:05:00Z'));
    expect(five.latestAtOrBefore(T('2026-01-01T10:04:59.999Z'))).toBe(T('2026-01-01T10:00:00Z'));
    const six = new Timing({ cron: '*/1 * * * * *', anchor: 0 });
    expect(six.nextAfter(T('2026-01-01T10:00:00.400Z'))).toBe(T('2026-01-01T10:00:01Z'));
    expect(six.between(T('2026-01-01T10:00:00Z'), T('2026-01-01T10:00:03.5Z'), 10)).toEqual([
      T('2026-01-01T10:00:01Z'),
      T('2026-01-01T10:00:02Z'),
      T('2026-01-01T10:00:03Z'),
    ]);
    expect(six.between(T('2026-01-01T10:00:00Z'), T('2026-01-01T10:00:03Z'), 2)).toEqual([T('2026-01-01T10:00:02Z'), T('2026-01-01T10:00:03Z')]);
  });

  it('computes the next time in a non-UTC zone, across daylight saving changes', () => {
    const berlin = new Timing({ cron: '0 9 * * *', tz: 'Europe/Berlin', anchor: 0 });
    // Winter: UTC+1; summer: UTC+2.
    expect(berlin.nextAfter(T('2026-01-15T12:00:00Z'))).toBe(T('2026-01-16T08:00:00Z'));
    expect(berlin.nextAfter(T('2026-07-15T12:00:00Z'))).toBe(T('2026-07-16T07:00:00Z'));
    // The night of 2026-03-29 skips from 02:00 to 03:00 local time.
    expect(berlin.nextAfter(T('2026-03-28T12:00:00Z'))).toBe(T('2026-03-29T07:00:00Z'));
    const ny = new Timing({ cron: '*/5 * * * *', tz: 'America/New_York', anchor: 0 });
    expect(ny.nextAfter(T('2026-07-01T00:01:00Z'))).toBe(T('2026-07-01T00:05:00Z'));
    const kolkata = new Timing({ cron: '0 * * * *', tz: 'Asia/Kolkata', anchor: 0 });
    // UTC+5:30: every local full hour is half past a UTC hour.
    expect(kolkata.nextAfter(T('2026-07-01T00:01:00Z'))).toBe(T('2026-07-01T00:30:00Z'));
  });

  it('finds a yearly date months ahead', () => {
    const t = new Timing({ cron: '0 0 1 1 *', anchor: 0 });
    expect(t.nextAfter(T('2026-06-01T00:00:00Z'))).toBe(T('2027-01-01T00:00:00Z'));
  });
});

describe('planFires', () => {
  const t = new Timing({ every: 60_000, anchor: 0 });
  const now = 10 * 60_000 + 30_000; // 30 s after the 10th due time

  it('fires the due time that just came, whatever the policy', () => {
    for (const p of ['none', 'latest', 'all'] as const) {
      expect(planFires(t, 9 * 60_000, 10 * 60_000 + 200, p, 0)).toEqual({ fire: [10 * 60_000] });
    }
  });

  it('does nothing when the latest due time is handled', () => {
    expect(planFires(t, 10 * 60_000, now, 'all', 3_600_000)).toEqual({ fire: [] });
    expect(planFires(new Timing({ every: 60_000, anchor: now }), 0, now, 'latest', 0)).toEqual({ fire: [] });
  });

  it('every due time at most ON_TIME_MS late fires, under every policy (a short interval, a late pass)', () => {
    const every = new Timing({ every: 1000, anchor: 0 });
    for (const policy of ['none', 'latest'] as const) {
      expect(planFires(every, 10_000, 13_000, policy, 0)).toEqual({ fire: [11_000, 12_000, 13_000] });
    }
    expect(planFires(every, 0, 20_000, 'none', 0)).toEqual({ fire: [15_000, 16_000, 17_000, 18_000, 19_000, 20_000] });
  });

  it('none: a fire more than ON_TIME_MS late is missed', () => {
    expect(planFires(t, 0, now, 'none', 3_600_000)).toEqual({ fire: [], skip: 10 * 60_000 });
    expect(planFires(t, 0, 10 * 60_000 + ON_TIME_MS, 'none', 0)).toEqual({ fire: [10 * 60_000] });
  });

  it('latest: fires the most recent missed due time if it is within the window', () => {
    expect(planFires(t, 0, now, 'latest', 60_000)).toEqual({ fire: [10 * 60_000] });
    expect(planFires(t, 0, now, 'latest', 20_000)).toEqual({ fire: [], skip: 10 * 60_000 });
  });

  it('all: fires every missed due time within the window, oldest first, at most MAX_CATCH_UP', () => {
    expect(planFires(t, 0, now, 'all', 200_000)).toEqual({ fire: [8 * 60_000, 9 * 60_000, 10 * 60_000] });
    expect(planFires(t, 9 * 60_000, now, 'all', 3_600_000)).toEqual({ fire: [10 * 60_000] });
    expect(planFires(t, 0, now, 'all', 10_000)).toEqual({ fire: [], skip: 10 * 60_000 });
    const fast = new Timing({ every: 1000, anchor: 0 });
    const plan = planFires(fast, 0, 5_000_000, 'all', 86_400_000);
    expect(plan.fire).toHaveLength(MAX_CATCH_UP);
    expect(plan.fire.at(-1)).toBe(5_000_000);
  });
});

describe('time zones', () => {
  it('accepts IANA time zones only', () => {
    expect(validateTimeZone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(validateTimeZone('UTC')).toBe('UTC');
    expect(() => validateTimeZone('Mars/Olympus')).toThrow(UsageError);
  });
});
