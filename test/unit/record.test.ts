import { describe, expect, it } from 'vitest';
import { CorruptRecordError, UsageError } from '../../src/shared/errors.js';
import {
  DEFAULT_BACKOFF,
  decodeBackoff,
  decodeRecord,
  encodeOpts,
  parseBackoff,
  recordId,
  type StoredOpts,
  validateTaskName,
} from '../../src/shared/record.js';

/** Builds a record exactly as publish-6.lua does: id|made|max|publishedAt|name|opts|data. */
function record(id: number, made: number, max: number, ts: number, name: string, opts: string, data: string): string {
  return `${id}|${made}|${max}|${ts}|${name}|${opts}|${data}`;
}

describe('decodeRecord', () => {
  it('splits every field of a well-formed record', () => {
    const opts = encodeOpts({ type: 'fixed', delay: 250 });
    const r = decodeRecord<{ a: number }>(record(42, 1, 3, 1_700_000_000_000, 'email', opts, '{"a":1}'));
    expect(r).toEqual({
      id: '42',
      made: 1,
      maxAttempts: 3,
      publishedAt: 1_700_000_000_000,
      name: 'email',
      opts: { bt: 'f', bd: 250 },
      data: { a: 1 },
    });
  });

  it('keeps pipes and newlines inside the payload (only the first six separators count)', () => {
    const data = JSON.stringify({ s: 'a|b|c|d|e|f|g', n: 'x\ny' });
    const r = decodeRecord(record(7, 0, 1, 5, '', '', data));
    expect(r.data).toEqual({ s: 'a|b|c|d|e|f|g', n: 'x\ny' });
    expect(r.name).toBe('');
    expect(r.opts).toEqual({});
  });

  it('decodes every JSON payload kind', () => {
    for (const v of [null, 0, 'text', [1, 'two'], { deep: { x: [true] } }, false]) {
      expect(decodeRecord(record(1, 0, 3, 1, 'n', '', JSON.stringify(v))).data).toEqual(v);
    }
  });

  it('rejects a record with too few fields', () => {
    expect(() => decodeRecord('garbage')).toThrow(CorruptRecordError);
    expect(() => decodeRecord('1|0|3|5|name|')).toThrow(CorruptRecordError);
    expect(() => decodeRecord('')).toThrow(CorruptRecordError);
  });

  it('rejects a record whose head is not numeric', () => {
    expect(() => decodeRecord('x|0|3|5|n||null')).toThrow(CorruptRecordError);
    expect(() => decodeRecord('1|a|3|5|n||null')).toThrow(/bad head/);
    expect(() => decodeRecord('1|0|-3|5|n||null')).toThrow(CorruptRecordError);
    expect(() => decodeRecord('1|0|3|5.5|n||null')).toThrow(CorruptRecordError);
  });

  it('rejects a payload or opts that is not JSON', () => {
    expect(() => decodeRecord('9|0|3|5|n||{not json')).toThrow(/its payload: not valid JSON/);
    expect(() => decodeRecord('9|0|3|5|n|{bad|null')).toThrow(CorruptRecordError);
    expect(() => decodeRecord('9|0|3|5|n||')).toThrow(CorruptRecordError);
  });
});

describe('recordId', () => {
  it('reads the id at the head of a record', () => {
    expect(recordId('123|0|3|5|n||null')).toBe('123');
    expect(recordId('123|whatever')).toBe('123');
  });
  it('is undefined for a record without a numeric head', () => {
    expect(recordId('garbage')).toBeUndefined();
    expect(recordId('12x|0|')).toBeUndefined();
    expect(recordId('')).toBeUndefined();
  });
});

describe('encodeOpts / decodeBackoff', () => {
  it('encodes nothing without a backoff, and decoding nothing gives the default', () => {
    expect(encodeOpts(undefined)).toBe('');
    expect(decodeBackoff({})).toEqual(DEFAULT_BACKOFF);
  });

  it('round-trips fixed and exponential backoffs', () => {
    for (const b of [
      { type: 'fixed' as const, delay: 200 },
      { type: 'exponential' as const, delay: 100, maxDelay: 5000 },
      { type: 'exponential' as const, delay: 1000, maxDelay: 3_600_000 },
    ]) {
      const text = encodeOpts(b);
      const back = decodeBackoff(JSON.parse(text) as StoredOpts);
      expect(back.type).toBe(b.type);
      expect(back.delay).toBe(b.delay);
      expect(back.maxDelay).toBe('maxDelay' in b ? b.maxDelay : undefined);
    }
  });

  it('never writes a pipe (the record separator) into opts', () => {
    for (const spec of ['fixed:5s', 'exponential', 'exponential:1s:10m', 'exp:250ms']) {
      expect(encodeOpts(parseBackoff(spec))).not.toContain('|');
    }
  });

  it('survives the trip through a whole record', () => {
    const opts = encodeOpts(parseBackoff('exponential:2s:1m'));
    const r = decodeRecord(record(3, 2, 5, 10, 'job', opts, '"x"'));
    expect(decodeBackoff(r.opts)).toEqual({ type: 'exponential', delay: 2000, maxDelay: 60_000 });
  });
});

describe('validateTaskName', () => {
  it('accepts names up to 200 characters without pipe or newline', () => {
    expect(validateTaskName('')).toBe('');
    expect(validateTaskName('send-email v2 (ü)')).toBe('send-email v2 (ü)');
    expect(validateTaskName('x'.repeat(200))).toHaveLength(200);
  });
  it('rejects a pipe, a newline or a name that is too long', () => {
    expect(() => validateTaskName('a|b')).toThrow(UsageError);
    expect(() => validateTaskName('a\nb')).toThrow(UsageError);
    expect(() => validateTaskName('x'.repeat(201))).toThrow(UsageError);
  });
});
