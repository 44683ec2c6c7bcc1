import { Redis, type RedisOptions } from 'ioredis';
import { RedisUnreachableError, UsageError } from './errors.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** The URL to use: an explicit option, else REDIS_URL, else the local default. */
export function resolveRedisUrl(explicit?: string): string {
  return explicit ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
}

/** The URL with any password replaced by ***, safe to print. */
export function redactUrl(url: string): string {
  // By hand first, up to the last '@': a password with an unencoded '/', '?' or '#' ends the
  // authority early, so URL parsing alone would not see it as a password and print it.
  const byHand = url.replace(/\/\/([^:@/]*):.*@/, '//$1:***@');
  try {
    const u = new URL(byHand);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return byHand;
  }
}

/** Checks the URL's shape: redis:// or rediss://, a host, an optional numeric db. */
export function validateRedisUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`invalid Redis URL ${JSON.stringify(redactUrl(url))}: expected redis://[user:password@]host[:port][/db]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`invalid Redis URL ${redactUrl(url)}: the scheme must be redis:// or rediss://`);
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new UsageError(`invalid Redis URL ${redactUrl(url)}: the database must be a number`);
  }
  return url;
}

export interface ConnectOptions {
  /**
   * persistent: retries forever with backoff (workers), and queues commands while Redis is away.
   * once: gives up after a few quick tries (short-lived programs).
   */
  mode?: 'persistent' | 'once';
  /** Told about each failed attempt while waiting for Redis (persistent mode). */
  onWaiting?: (attempt: number, delayMs: number, err: Error | undefined) => void;
  /** A name shown by CLIENT LIST. */
  name?: string;
  /**
   * Send commands again whose reply was lost in a disconnect (default true). The worker turns it
   * off and retries its task calls itself, with a flag that makes the retry safe.
   */
  resendUnanswered?: boolean;
}

/** The one place that creates Redis connections. ioredis handles redis://, rediss:// (TLS), ACL users and db. */
export function createRedis(url: string, opts: ConnectOptions = {}): Redis {
  validateRedisUrl(url);
  const mode = opts.mode ?? 'persistent';
  let lastError: Error | undefined;
  const options: RedisOptions = {
    lazyConnect: true,
    connectionName: opts.name,
    // Blocking calls must be allowed to wait, and a worker's commands must survive a restart.
    maxRetriesPerRequest: mode === 'persistent' ? null : 1,
    enableReadyCheck: true,
    autoResendUnfulfilledCommands: opts.resendUnanswered ?? true,
    connectTimeout: 5000,
    retryStrategy: (times: number) => {
      if (mode === 'once') return times > 2 ? null : 100 * times;
      const delay = Math.min(100 * 2 ** Math.min(times, 6), 5000);
      opts.onWaiting?.(times, delay, lastError);
      return delay;
    },
  };
  const client = new Redis(url, options);
  // Without a listener ioredis prints every connection error; the retry strategy reports instead.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  return client;
}

/** Connects (for a lazy client) and checks with PING; throws RedisUnreachableError. */
export async function ensureConnected(client: Redis, url: string): Promise<void> {
  // The socket's own error (ECONNREFUSED, ENOTFOUND, WRONGPASS...) says more than "Connection is closed".
  let socketError: Error | undefined;
  const onError = (err: Error) => {
    socketError = err;
  };
  client.on('error', onError);
  try {
    if (client.status === 'wait') await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new RedisUnreachableError(redactUrl(url), socketError ?? err);
  } finally {
    client.off('error', onError);
  }
}
