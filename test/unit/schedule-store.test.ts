import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/shared/errors.js';
import { parseState, validateScheduleName } from '../../src/shared/schedule-store.js';

// The pure parts of the schedule store (names, the fire state) and the view of what it lists.

describe('validation and state', () => {
  it('accepts schedule names like queue names', () => {
    expect(validateScheduleName('nightly-report.v2')).toBe('nightly-report.v2');
    for (const bad of ['', 'a b', 'a|b', '-a', 'x'.repeat(129), 'a"b']) expect(() => validateScheduleName(bad)).toThrow(UsageError);
  });

  it('parses the fire state, with a default for none', () => {
    expect(parseState(undefined)).toEqual({ lastDue: 0, lastId: '', fired: 0, skipped: 0, queued: 0, lastFiredAt: 0 });
    expect(parseState('1795699558973|12|3|1|0|1795699558975')).toEqual({
      lastDue: 1795699558973, lastId: '12', fired: 3, skipped: 1, queued: 0, lastFiredAt: 1795699558975,
    });
  });
});

describe('task-monitor schedules view', () => {
  it('describes the timing and the next fire', async () => {
    const { describeTiming, formatEvery, renderSchedules } = await import('../../src/commands/schedules.js');
    const { Chalk } = await import('chalk');
    expect(formatEvery(30_000)).toBe('30s');
    expect(formatEvery(90_000)).toBe('90s');
    expect(formatEvery(300_000)).toBe('5m');
    expect(formatEvery(86_400_000)).toBe('1d');
    expect(formatEvery(1500)).toBe('1500ms');
    expect(describeTiming({ cron: '0 9 * * 1-5', tz: 'Europe/Berlin' })).toBe('cron 0 9 * * 1-5 Europe/Berlin');
    expect(describeTiming({ every: 3_600_000 })).toBe('every 1h');
    const base = {
      queue: 'q', data: 'echo hi', taskName: '', attempts: 3, priority: 0, overlap: 'allow' as const, catchUp: 'latest' as const,
      catchUpWindowMs: 86_400_000, lastTaskId: null, fired: 0, skipped: 0, deferred: null, createdAt: 0, updatedAt: 0,
    };
    const out = renderSchedules([
      { ...base, name: 'a', every: 1000, paused: false, next: 61_000, lastDue: 60_000, fired: 60 },
      { ...base, name: 'b', cron: '0 9 * * *', paused: true, next: null, lastDue: null },
    ], 60_500, new Chalk({ level: 0 }));
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^QUEUE\s+SCHEDULE\s+WHEN\s+NEXT FIRE/);
    expect(lines[1]).toMatch(/^q\s+a\s+every 1s\s+1970-01-01T00:01:01Z \(in 500ms\)\s+1970-01-01T00:01:00Z\s+60\s+0\s+allow\s+latest\s+echo hi$/);
    expect(lines[2]).toMatch(/^q\s+b\s+cron 0 9 \* \* \*\s+paused\s+-/);
    expect(renderSchedules([], 0, new Chalk({ level: 0 }))).toBe('no schedules');
  });
});
