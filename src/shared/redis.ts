import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { settledWithin } from './duration.js';
import { errorMessage, RedisUnreachableError, UsageError } from './errors.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * The URL to use: an explicit option, else REDIS_URL, else the local default. The one place of
 * that fallback: the library (Queue, Worker) and the programs (their --redis, with the
 * environment they were given) all resolve through it.
 */
export function resolveRedisUrl(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env.REDIS_URL ?? DEFAULT_REDIS_URL;
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

/** Where Sentinel says the master is: redis+sentinel://[user:password@]host[:port][,host[:port]...]/<master name>[/db]. */
export interface SentinelUrl {
  sentinels: Array<{ host: string; port: number }>;
  /** The name the sentinels monitor the master by. */
  name: string;
  username?: string;
  password?: string;
  db: number;
}

/** The parts of a redis+sentinel:// URL, undefined for any other URL; throws on a malformed one. */
export function parseSentinelUrl(url: string): SentinelUrl | undefined {
  const u = parseHostListUrl(url, 'sentinel', 26379, '/<master name>[/db]');
  if (!u) return undefined;
  const m = /^([^/]+)(?:\/(\d*))?$/.exec(u.path);
  if (!m) throw u.bad('no master name, or a database that is not a number');
  return { sentinels: u.hosts, name: u.decode(m[1]!, 'master name'), db: m[2] ? Number(m[2]) : 0, ...u.auth };
}

/** The nodes of a redis+cluster://[user:password@]host[:port][,host[:port]...] URL (any of the cluster's nodes). */
export interface ClusterUrl {
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
}

/** The parts of a redis+cluster:// URL, undefined for any other URL; throws on a malformed one. */
export function parseClusterUrl(url: string): ClusterUrl | undefined {
  const u = parseHostListUrl(url, 'cluster', 6379, '');
  if (!u) return undefined;
  if (u.path !== '') throw u.bad('a cluster has no database to choose');
  return { nodes: u.hosts, ...u.auth };
}

/**
 * The common part of redis+sentinel:// and redis+cluster:// URLs:
 * `redis+<kind>://[user:password@]host[:port][,host[:port]...][/path]`.
 */
function parseHostListUrl(url: string, kind: string, defaultPort: number, pathForm: string) {
  if (!url.startsWith(`redis+${kind}:`)) return undefined;
  const bad = (why: string) => new UsageError(`invalid Redis URL ${redactUrl(url)}: ${why}; expected redis+${kind}://[user:password@]host[:port][,host[:port]...]${pathForm}`);
  const decode = (text: string, what: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      throw bad(`a bad %-escape in the ${what}`);
    }
  };
  const m = new RegExp(`^redis\\+${kind}://(?:(.*)@)?([^@/]+)(?:/(.*))?$`).exec(url);
  if (!m) throw bad(`not a ${kind} URL`);
  const [, auth, hostList, path] = m;
  const hosts = hostList!.split(',').map((h) => {
    const hp = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(h);
    if (!hp) throw bad(`bad address ${JSON.stringify(h)}`);
    return { host: hp[1]!.replace(/^\[|\]$/g, ''), port: hp[2] ? Number(hp[2]) : defaultPort };
  });
  const creds: { username?: string; password?: string } = {};
  if (auth !== undefined) {
    const colon = auth.indexOf(':');
    const user = decode(colon < 0 ? auth : auth.slice(0, colon), 'user');
    if (user) creds.username = user;
    if (colon >= 0) creds.password = decode(auth.slice(colon + 1), 'password');
  }
  return { hosts, path: path ?? '', auth: creds, bad, decode };
}

/** Whether a client talks to a Redis Cluster (see createRedis). */
export function isCluster(client: Redis): boolean {
  return (client as unknown) instanceof Cluster;
}

/**
 * A second connection like `client` (same server, or the same cluster), with these options
 * changed: Redis and Cluster clients duplicate differently.
 */
export function duplicateClient(client: Redis, options: RedisOptions): Redis {
  if (isCluster(client)) {
    const c = client as unknown as Cluster;
    const { lazyConnect, ...perNode } = options;
    return c.duplicate(undefined, { lazyConnect, redisOptions: { ...c.options.redisOptions, ...perNode } }) as unknown as Redis;
  }
  return client.duplicate(options);
}

/** Checks the URL's shape: redis:// or rediss://, a host, an optional numeric db; or redis+sentinel:// (see SentinelUrl) or redis+cluster:// (see ClusterUrl). */
export function validateRedisUrl(url: string): string {
  if (parseSentinelUrl(url) || parseClusterUrl(url)) return url;
  return validatePlainUrl(url);
}

function validatePlainUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`invalid Redis URL ${JSON.stringify(redactUrl(url))}: expected redis://[user:password@]host[:port][/db]`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`invalid Redis URL ${redactUrl(url)}: the scheme must be redis://, rediss://, redis+sentinel:// or redis+cluster://`);
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

/**
 * The one place that creates Redis connections. ioredis handles redis://, rediss:// (TLS), ACL
 * users and db; with redis+sentinel:// it asks the sentinels where the master is, and again
 * after a failover (the connection then drops and comes back as after a restart).
 */
export function createRedis(url: string, opts: ConnectOptions = {}): Redis {
  const sentinel = parseSentinelUrl(url);
  const cluster = parseClusterUrl(url);
  if (!sentinel && !cluster) validatePlainUrl(url);
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
  if (sentinel) {
    Object.assign(options, {
      sentinels: sentinel.sentinels,
      name: sentinel.name,
      username: sentinel.username,
      password: sentinel.password,
      db: sentinel.db,
      // Asked in turn; in 'once' mode give up after a few rounds, as for a plain URL.
      sentinelRetryStrategy: (times: number) => (mode === 'once' && times > 2 ? null : Math.min(100 * 2 ** Math.min(times, 5), 2000)),
    } satisfies RedisOptions);
  }
  let client: Redis;
  if (cluster) {
    const { lazyConnect, retryStrategy, ...perNode } = options;
    const clusterOptions: ClusterOptions = {
      lazyConnect,
      clusterRetryStrategy: retryStrategy,
      maxRedirections: 16,
      // A Cluster sends a call again when its node's connection closed before the reply came;
      // without re-sending (the worker's task calls), it is the caller's to retry, safely.
      retryDelayOnFailover: opts.resendUnanswered === false ? 0 : 100,
      redisOptions: { ...perNode, username: cluster.username, password: cluster.password },
    };
    client = new Cluster(cluster.nodes, clusterOptions) as unknown as Redis;
  } else {
    client = sentinel ? new Redis(options) : new Redis(url, options);
  }
  // Without a listener ioredis prints every connection error; the retry strategy reports instead.
  client.on('error', (err: Error) => {
    lastError = err;
  });
  return client;
}

/**
 * QUIT (the replies before it still come), or a plain disconnect when Redis has not answered it
 * within `ms`: a server that is frozen or cut off holds QUIT for good.
 */
export async function quitWithin(client: Redis, ms: number): Promise<void> {
  let answered = false;
  await settledWithin(client.quit().then(() => (answered = true)), ms);
  if (!answered) client.disconnect();
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
  await checkDatabase(client, url);
}

/**
 * Checks that the client is in the database its URL names. When SELECT fails on connect (a
 * database the server does not have, an ACL that forbids SELECT), ioredis only emits an 'error'
 * and goes on in database 0, where tasks would be published and taken unseen by everyone using
 * the right one. Throws UsageError (and disconnects) in that case.
 */
export async function checkDatabase(client: Redis, url: string): Promise<void> {
  if (isCluster(client)) return;
  const db = client.options.db ?? 0;
  if (db === 0) return;
  try {
    await client.select(db);
  } catch (err) {
    client.disconnect();
    throw new UsageError(`cannot use database ${db} of Redis at ${redactUrl(url)}: ${errorMessage(err)}`);
  }
}
