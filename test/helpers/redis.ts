import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitForPing } from '../../bench/redis.js';

// The bench starts its private redis-server the same way: one port finder, one readiness check.
export { freePort };

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** A fresh client (closed by stop()). */
  client(): Redis;
  /** Saves to disk and stops the server (like a planned restart). */
  stop(): Promise<void>;
  /** Starts the server again on the same port, with the data it saved. */
  start(): Promise<void>;
  /** Stops the server for good and removes its files. */
  destroy(): Promise<void>;
}

/** Starts a private redis-server on a free loopback port, keeping its data in a temp dir. */
export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redtask-redis-'));
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];
  const launch = async () => {
    proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--dbfilename', 'dump.rdb', ...extraArgs],
      { stdio: 'ignore' },
    );
    await waitForPing(port, proc);
  };
  await launch();
  const url = `redis://127.0.0.1:${port}`;
  const stopProc = async (save: boolean) => {
    if (!proc || proc.exitCode !== null) return;
    const p = proc;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.call('SHUTDOWN', save ? 'SAVE' : 'NOSAVE').catch(() => undefined);
    } catch {
      p.kill('SIGKILL');
    }
    c.disconnect();
    await exited;
  };
  return {
    port,
    url,
    dir,
    client() {
      const c = new Redis({ port, host: '127.0.0.1' });
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    stop: () => stopProc(true),
    start: launch,
    async destroy() {
      for (const c of clients) c.disconnect();
      await stopProc(false);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a truthy value (or throws after timeoutMs). */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<Exclude<T, null | undefined | false | 0 | ''>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, null | undefined | false | 0 | ''>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface TestSentinel {
  /** redis+sentinel:// URL of the set. */
  url: string;
  master: TestRedis;
  replica: TestRedis;
  /** The port Sentinel names as the master now. */
  masterPort(): Promise<number>;
  destroy(): Promise<void>;
}

/**
 * A master, one replica and one Sentinel (quorum 1) on free loopback ports, for failover tests.
 * Sentinel takes the master for down after 1 s without a reply.
 */
export async function startSentinelSet(name = 'rtmaster'): Promise<TestSentinel> {
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redtask-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${name} 1000`,
    `sentinel failover-timeout ${name} 5000`,
    '',
  ].join('\n'));
  const proc = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  await waitForPing(port, proc);
  const ask = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  ask.on('error', () => undefined);
  await ask.connect();
  const masterPort = async () => Number(((await ask.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]);
  // Ready once the sentinel knows the replica (it learns it from the master's INFO).
  await waitFor(async () => ((await ask.call('SENTINEL', 'REPLICAS', name)) as unknown[]).length > 0, 15_000, 'sentinel to see the replica');
  return {
    url: `redis+sentinel://127.0.0.1:${port}/${name}`,
    master,
    replica,
    masterPort,
    async destroy() {
      ask.disconnect();
      proc.kill('SIGKILL');
      await master.destroy();
      await replica.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestCluster {
  /** redis+cluster:// URL naming the first node (the client learns the others). */
  url: string;
  nodes: TestRedis[];
  destroy(): Promise<void>;
}

/**
 * A Redis Cluster of `size` masters (no replicas) on free loopback ports, slots spread evenly;
 * the nodes that are up serve their slots while another is down (cluster-require-full-coverage no).
 */
export async function startCluster(size = 3): Promise<TestCluster> {
  const nodes: TestRedis[] = [];
  for (let i = 0; i < size; i++) nodes.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no']));
  execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  for (const n of nodes) {
    const c = n.client();
    await waitFor(async () => /cluster_state:ok/.test((await c.call('CLUSTER', 'INFO')) as string), 15_000, `cluster state ok on ${n.port}`);
  }
  return {
    url: `redis+cluster://127.0.0.1:${nodes[0]!.port}`,
    nodes,
    async destroy() {
      for (const n of nodes) await n.destroy();
    },
  };
}
