import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { intArg, timerArg } from '../../src/commands/common.js';
import { MAX_TIMER_MS } from '../../src/shared/duration.js';
import { UsageError } from '../../src/shared/errors.js';
import { ATTEMPTS, CONCURRENCY, checkTaskOptions, inRange, LEASE, PRIORITY, SETTING, TIMEOUT, validateGroup } from '../../src/shared/options.js';
import { resolveRedisUrl } from '../../src/shared/redis.js';
import { Worker } from '../../src/shared/worker/index.js';

// One place defines each option's limit: the library's check and the programs' argument parser
// take the same range, so they accept and refuse the same values.

describe('option ranges', () => {
  it('the library and the argument parsers agree on every bound', () => {
    for (const r of [ATTEMPTS, PRIORITY, CONCURRENCY, SETTING]) {
      const parse = intArg(r);
      for (const v of [r.min, r.max ?? Number.MAX_SAFE_INTEGER]) {
        expect(inRange(r, v)).toBe(v);
        expect(parse(String(v))).toBe(v);
      }
      expect(() => inRange(r, r.min - 1)).toThrow(UsageError);
      expect(() => parse(String(r.min - 1))).toThrow(InvalidArgumentError);
      if (r.max !== undefined) {
        expect(() => inRange(r, r.max! + 1)).toThrow(UsageError);
        expect(() => parse(String(r.max! + 1))).toThrow(InvalidArgumentError);
      }
    }
    for (const r of [TIMEOUT, LEASE]) {
      const parse = timerArg(r);
      expect(parse(`${r.min}ms`)).toBe(inRange(r, r.min));
      expect(parse(String(MAX_TIMER_MS))).toBe(inRange(r, MAX_TIMER_MS));
      expect(() => parse(String(r.min - 1))).toThrow(InvalidArgumentError);
      expect(() => inRange(r, r.min - 1)).toThrow(UsageError);
      expect(() => parse('25d')).toThrow(/expected a duration from \d+ms to 24d/);
      expect(() => inRange(r, 25 * 86_400_000)).toThrow(/about 24.8 days/);
    }
  });

  it('says what and why', () => {
    expect(() => inRange(ATTEMPTS, 0)).toThrow('invalid attempts 0: use a whole number from 1 to 1000');
    expect(() => inRange(PRIORITY, 1.5)).toThrow('invalid priority 1.5: use a whole number from -100 to 100');
    expect(() => inRange(SETTING, -1, 'keepDead')).toThrow('invalid keepDead -1: use a whole number >= 0');
    expect(() => inRange(TIMEOUT, 0)).toThrow(`invalid timeout 0: use a whole number of ms from 1 to ${MAX_TIMER_MS} (about 24.8 days)`);
    expect(() => intArg(PRIORITY)('high')).toThrow('expected a whole number from -100 to 100.');
    expect(intArg(PRIORITY)('-5')).toBe(-5);
  });

  it('checks the options every task takes, with their defaults', () => {
    expect(checkTaskOptions({})).toEqual({ attempts: 3, backoff: undefined, timeout: undefined, priority: 0, taskName: '' });
    expect(checkTaskOptions({ name: 'n', attempts: 5, backoff: 'fixed:2s', timeout: 1000, priority: -1 })).toEqual({
      attempts: 5, backoff: { type: 'fixed', delay: 2000 }, timeout: 1000, priority: -1, taskName: 'n',
    });
    expect(() => checkTaskOptions({ attempts: 1001 })).toThrow(UsageError);
    expect(() => checkTaskOptions({ name: 'a|b' })).toThrow(/task name/);
    expect(() => checkTaskOptions({ backoff: 'sometimes' })).toThrow(/backoff/);
    expect(validateGroup('tenant-1')).toBe('tenant-1');
    expect(() => validateGroup('has space')).toThrow(/invalid group/);
  });

  it("the Worker refuses what task-worker's arguments refuse, as a UsageError", () => {
    const handler = () => null;
    for (const opts of [{ concurrency: 0 }, { concurrency: 10_001 }, { leaseMs: 99 }, { defaultTimeoutMs: 0 }, { defaultTimeoutMs: MAX_TIMER_MS + 1 }, { timeoutGraceMs: -1 }]) {
      expect(() => new Worker('q', handler, { connection: 'redis://127.0.0.1:1', ...opts }), JSON.stringify(opts)).toThrow(UsageError);
    }
  });
});

describe('the REDIS_URL fallback', () => {
  it('is one function: the option, else the given environment, else the local default', () => {
    expect(resolveRedisUrl('redis://given:1', { REDIS_URL: 'redis://env:2' })).toBe('redis://given:1');
    expect(resolveRedisUrl(undefined, { REDIS_URL: 'redis://env:2' })).toBe('redis://env:2');
    expect(resolveRedisUrl(undefined, {})).toBe('redis://127.0.0.1:6379');
  });
});
