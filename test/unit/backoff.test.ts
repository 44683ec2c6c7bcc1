import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/shared/errors.js';
import { type Backoff, backoffDelay, checkBackoff, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF, parseBackoff } from '../../src/shared/record.js';

describe('parseBackoff', () => {
  it('parses exponential with defaults', () => {
    expect(parseBackoff('exponential')).toEqual({ type: 'exponential', delay: 1000, maxDelay: 3_600_000 });
    expect(parseBackoff('exp')).toEqual({ type: 'exponential', delay: 1000, maxDelay: 3_600_000 });
  });

  it('parses exponential with a base and a maximum', () => {
    expect(parseBackoff('exponential:250ms')).toEqual({ type: 'exponential', delay: 250, maxDelay: 3_600_000 });
    expect(parseBackoff('exponential:1s:10m')).toEqual({ type: 'exponential', delay: 1000, maxDelay: 600_000 });
    expect(parseBackoff('exp:500:2h')).toEqual({ type: 'exponential', delay: 500, maxDelay: 7_200_000 });
  });

  it('parses fixed', () => {
    expect(parseBackoff('fixed:5s')).toEqual({ type: 'fixed', delay: 5000 });
    expect(parseBackoff('fixed:200')).toEqual({ type: 'fixed', delay: 200 });
    expect(parseBackoff('fixed:0ms')).toEqual({ type: 'fixed', delay: 0 });
  });

  it('rejects anything else with a UsageError', () => {
    for (const bad of ['', 'fixed', 'fixed:1s:2s', 'linear:1s', 'exponential:1s:2s:3s', 'exponential:abc', 'fixed:-1s', 'exponential:1s:soon']) {
      expect(() => parseBackoff(bad), bad).toThrow(UsageError);
    }
  });
});

describe('backoffDelay', () => {
  it('is constant for fixed backoff, whatever the attempt', () => {
    const b = { type: 'fixed' as const, delay: 300 };
    for (const attempt of [1, 2, 5, 50]) expect(backoffDelay(b, attempt, () => 0.9)).toBe(300);
  });

  it('doubles per attempt, with equal jitter in the upper half', () => {
    const b = { type: 'exponential' as const, delay: 1000, maxDelay: 1_000_000 };
    // random() = 0: the lower bound, half of base * 2^(attempt-1)
    expect(backoffDelay(b, 1, () => 0)).toBe(500);
    expect(backoffDelay(b, 2, () => 0)).toBe(1000);
    expect(backoffDelay(b, 3, () => 0)).toBe(2000);
    expect(backoffDelay(b, 4, () => 0)).toBe(4000);
    // random() -> 1: the full delay
    expect(backoffDelay(b, 1, () => 1)).toBe(1000);
    expect(backoffDelay(b, 3, () => 1)).toBe(4000);
    // in between
    expect(backoffDelay(b, 2, () => 0.5)).toBe(1500);
  });

  it('stays within [full/2, full] for random jitter', () => {
    const b = { type: 'exponential' as const, delay: 100, maxDelay: 1_000_000 };
    for (let attempt = 1; attempt <= 8; attempt++) {
      const full = 100 * 2 ** (attempt - 1);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(b, attempt);
        expect(d).toBeGreaterThanOrEqual(full / 2);
        expect(d).toBeLessThanOrEqual(full);
      }
    }
  });

  it('caps at maxDelay (before jitter)', () => {
    const b = { type: 'exponential' as const, delay: 1000, maxDelay: 5000 };
    expect(backoffDelay(b, 10, () => 1)).toBe(5000);
    expect(backoffDelay(b, 10, () => 0)).toBe(2500);
    expect(backoffDelay(b, 1000, () => 1)).toBe(5000);
  });

  it('is unbounded without maxDelay, and treats attempt 0 like attempt 1', () => {
    expect(backoffDelay({ type: 'exponential', delay: 10 }, 11, () => 1)).toBe(10_240);
    expect(backoffDelay({ type: 'exponential', delay: 10 }, 0, () => 1)).toBe(10);
  });

  it('has sensible defaults', () => {
    expect(DEFAULT_ATTEMPTS).toBe(3);
    expect(DEFAULT_BACKOFF.type).toBe('exponential');
    expect(backoffDelay(DEFAULT_BACKOFF, 1, () => 1)).toBe(DEFAULT_BACKOFF.delay);
  });
});

describe('checkBackoff', () => {
  it('takes spec strings and well-formed objects, and refuses the rest with UsageError', () => {
    expect(checkBackoff(undefined)).toBeUndefined();
    expect(checkBackoff('fixed:2s')).toEqual({ type: 'fixed', delay: 2000 });
    expect(checkBackoff({ type: 'exponential', delay: 100, maxDelay: 5000 })).toEqual({ type: 'exponential', delay: 100, maxDelay: 5000 });
    const bad = [
      { type: 'fixed', delay: 'abc' },
      { type: 'fixed', delay: -1 },
      { type: 'fixed', delay: 1.5 },
      { type: 'linear', delay: 100 },
      { type: 'exponential', delay: 100, maxDelay: Number.POSITIVE_INFINITY },
      { type: 'fixed', delay: 100, maxDelay: 200 },
      { type: 'fixed', delay: 400 * 86_400_000 },
    ];
    for (const b of bad) expect(() => checkBackoff(b as unknown as Backoff), JSON.stringify(b)).toThrow(UsageError);
  });
});

describe('backoffDelay bounds', () => {
  it('stays a finite delay of at most a year: many attempts without a maximum, or a stored backoff that is not a number', () => {
    expect(backoffDelay({ type: 'exponential', delay: 1000 }, 1000, () => 1)).toBe(366 * 86_400_000);
    const fromGarbage = backoffDelay({ type: 'fixed', delay: 'abc' as unknown as number }, 2, () => 1);
    expect(fromGarbage).toBe(backoffDelay(DEFAULT_BACKOFF, 2, () => 1));
  });
});
