import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/shared/errors.js';
import { readFileSync } from 'node:fs';
import { LEASE_PIN, QUEUES_KEY, queueKeys, validateQueueName } from '../../src/shared/keys.js';

describe('validateQueueName', () => {
  it('accepts letters, digits, dot, underscore, colon and dash', () => {
    for (const ok of ['a', 'Q', '0', 'emails', 'tenant:42.send_mail-v2', 'x'.repeat(128), '9lives']) {
      expect(validateQueueName(ok)).toBe(ok);
    }
  });

  it('rejects empty, too long, bad first character and characters that would break keys', () => {
    for (const bad of ['', 'x'.repeat(129), '-a', '.a', '_a', ':a', 'a b', 'a{b', 'a}b', '{a}', 'a|b', 'a/b', 'a*', 'ü', 'a\n', ' a']) {
      expect(() => validateQueueName(bad), JSON.stringify(bad)).toThrow(UsageError);
    }
  });
});

describe('queueKeys', () => {
  it('puts every key of a queue under the queue hash tag, all distinct', () => {
    const k = queueKeys('mail.v2');
    const values = Object.values(k);
    expect(values.length).toBeGreaterThanOrEqual(16);
    for (const v of values) expect(v.startsWith('rt:{mail.v2}:')).toBe(true);
    expect(new Set(values).size).toBe(values.length);
  });

  it('names each key after its role', () => {
    const { prefix, ...k } = queueKeys('q');
    expect(prefix).toBe('rt:{q}:');
    // The hot-path scripts build a key as prefix .. role (rt_keys in lib/keys.lua).
    for (const [role, key] of Object.entries(k)) expect(key).toBe(`${prefix}${role}`);
  });

  it('keeps two queues apart, even when one name prefixes the other', () => {
    const a = Object.values(queueKeys('a'));
    const ab = new Set(Object.values(queueKeys('a:b')));
    for (const v of a) expect(ab.has(v)).toBe(false);
  });

  it('validates the name', () => {
    expect(() => queueKeys('bad name')).toThrow(UsageError);
  });

  it('keeps the global queue set outside any queue slot', () => {
    expect(QUEUES_KEY).toBe('rt:queues');
    expect(QUEUES_KEY).not.toContain('{');
  });
});

describe('LEASE_PIN', () => {
  it('is the pin the Lua scripts add, longer than zset-max-listpack-value (64 bytes), and no task id', () => {
    const lua = readFileSync(new URL('../../src/shared/lua/lib/lease.lua', import.meta.url), 'utf8');
    expect(lua).toContain(`local RT_LEASE_PIN = '${LEASE_PIN}'`);
    expect(Buffer.byteLength(LEASE_PIN)).toBeGreaterThan(64);
    expect(LEASE_PIN).not.toMatch(/^\d+$/);
  });
});
