import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/shared/errors.js';
import { formatDuration, parseDuration } from '../../src/shared/duration.js';

describe('parseDuration', () => {
  it('reads plain numbers as milliseconds', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('1500')).toBe(1500);
  });

  it('reads every unit', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
  });

  it('accepts fractions (rounded to whole ms) and surrounding spaces', () => {
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0.25m')).toBe(15_000);
    expect(parseDuration('2.4')).toBe(2);
    expect(parseDuration('  10s ')).toBe(10_000);
  });

  it('rejects what is not a duration, naming what was expected', () => {
    for (const bad of ['', ' ', 'abc', '-5', '5x', '1e3', 's', '1 s', '.5s', 'Infinity', '5S', '1h30m']) {
      expect(() => parseDuration(bad), bad).toThrow(UsageError);
    }
    expect(() => parseDuration('soon', 'lease')).toThrow(/invalid lease "soon"/);
  });
});

describe('formatDuration', () => {
  it('picks a readable unit', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(999)).toBe('999ms');
    expect(formatDuration(1500)).toBe('1.50s');
    expect(formatDuration(12_300)).toBe('12.3s');
    expect(formatDuration(125_000)).toBe('2m5s');
    expect(formatDuration(3_660_000)).toBe('1h1m');
  });
});
