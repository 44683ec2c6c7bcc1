import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/shared/errors.js';
import { DEFAULT_REDIS_URL, parseClusterUrl, parseSentinelUrl, redactUrl, resolveRedisUrl, validateRedisUrl } from '../../src/shared/redis.js';

describe('redactUrl', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrl('redis://user:secret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUrl('rediss://default:p%40ss@cache.example:6380/2')).toBe('rediss://default:***@cache.example:6380/2');
    expect(redactUrl('redis://:pw@host')).toBe('redis://:***@host');
  });

  it('leaves URLs without a password unchanged', () => {
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('redis://host/3')).toBe('redis://host/3');
    expect(redactUrl('redis://user@host:1')).toBe('redis://user@host:1');
  });

  it('hides passwords that contain characters URL parsing splits on', () => {
    for (const [url, secret] of [
      ['redis://u:p@ss@host', 'p@ss'],
      ['redis://u:pa/ss@host:6379', 'pa/ss'],
      ['redis://u:123/ss@host', '123/ss'],
      ['redis://u:a#b@host', 'a#b'],
      ['redis://u:a?b@host', 'a?b'],
      ['redis://u:x@[bad', 'x'],
    ] as const) {
      const out = redactUrl(url);
      expect(out, url).not.toContain(secret);
      expect(out, url).toContain('***');
    }
  });

  it('returns text that is no URL at all unchanged', () => {
    expect(redactUrl('not a url')).toBe('not a url');
  });
});

describe('validateRedisUrl', () => {
  it('accepts redis:// and rediss:// with an optional numeric db', () => {
    for (const ok of ['redis://127.0.0.1:6379', 'redis://localhost', 'rediss://u:p@h:6380/15', 'redis://h/0', 'redis://h/']) {
      expect(validateRedisUrl(ok)).toBe(ok);
    }
  });

  it('rejects other schemes, non-numeric databases and non-URLs', () => {
    expect(() => validateRedisUrl('http://host')).toThrow(/scheme/);
    expect(() => validateRedisUrl('redis://host/abc')).toThrow(/database must be a number/);
    expect(() => validateRedisUrl('host:6379')).toThrow(UsageError);
    expect(() => validateRedisUrl('garbage')).toThrow(/expected redis:\/\//);
  });

  it('never puts the password into its error message', () => {
    for (const url of ['http://u:topsecret@host', 'redis://u:topsecret@host/abc', 'redis://u:topsecret@[bad', 'redis://u:123/topsecret@host']) {
      let message = '';
      try {
        validateRedisUrl(url);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, url).not.toBe('');
      expect(message, url).not.toContain('topsecret');
      expect(message, url).not.toContain('top%secret');
    }
  });
});

describe('resolveRedisUrl', () => {
  const saved = process.env.REDIS_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = saved;
  });

  it('prefers the explicit URL, then REDIS_URL, then the default', () => {
    process.env.REDIS_URL = 'redis://from-env:1';
    expect(resolveRedisUrl('redis://explicit:2')).toBe('redis://explicit:2');
    expect(resolveRedisUrl()).toBe('redis://from-env:1');
    delete process.env.REDIS_URL;
    expect(resolveRedisUrl()).toBe(DEFAULT_REDIS_URL);
  });
});

describe('redis+sentinel:// URLs', () => {
  it('reads the sentinels, the master name, credentials and db', () => {
    expect(parseSentinelUrl('redis+sentinel://10.0.0.1:26380,10.0.0.2,[::1]:26381/mymaster/2')).toEqual({
      sentinels: [{ host: '10.0.0.1', port: 26380 }, { host: '10.0.0.2', port: 26379 }, { host: '::1', port: 26381 }],
      name: 'mymaster',
      db: 2,
    });
    expect(parseSentinelUrl('redis+sentinel://app:p%40ss@h1:26379/jobs')).toMatchObject({ username: 'app', password: 'p@ss', name: 'jobs', db: 0 });
    expect(parseSentinelUrl('redis+sentinel://:pw@h1/jobs')).toMatchObject({ password: 'pw' });
    expect(parseSentinelUrl('redis://h:6379')).toBeUndefined();
    expect(validateRedisUrl('redis+sentinel://h1:26379/jobs')).toBe('redis+sentinel://h1:26379/jobs');
  });

  it('refuses one without a master name or with an empty address, without showing the password', () => {
    for (const url of ['redis+sentinel://u:topsecret@h1:26379', 'redis+sentinel://u:topsecret@h1:26379,/m', 'redis+sentinel://u:topsecret@h1:port/m']) {
      expect(() => validateRedisUrl(url), url).toThrow(UsageError);
      try {
        validateRedisUrl(url);
      } catch (err) {
        expect((err as Error).message).not.toContain('topsecret');
      }
    }
  });
});

describe('redis+cluster:// URLs', () => {
  it('reads the seed nodes and credentials', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2')).toEqual({ nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 6379 }] });
    expect(parseClusterUrl('redis+cluster://app:s%3Acret@h:7000/')).toEqual({ nodes: [{ host: 'h', port: 7000 }], username: 'app', password: 's:cret' });
    expect(parseClusterUrl('redis://h')).toBeUndefined();
    expect(validateRedisUrl('redis+cluster://h:7000')).toBe('redis+cluster://h:7000');
  });

  it('refuses a database (a cluster has only db 0) and bad addresses, without showing the password', () => {
    for (const url of ['redis+cluster://u:topsecret@h:7000/2', 'redis+cluster://u:topsecret@h:port', 'redis+cluster://u:topsecret@h:7000,', 'redis+cluster://u:top%secret@h:7000']) {
      let message = '';
      try {
        validateRedisUrl(url);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, url).toMatch(/invalid Redis URL/);
      expect(message, url).not.toContain('topsecret');
      expect(message, url).not.toContain('top%secret');
    }
  });
});
