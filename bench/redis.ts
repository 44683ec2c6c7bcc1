import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * The benchmark's private redis-server: a free loopback port, no persistence, its own temp dir.
 * Nothing else talks to it, so INFO deltas belong to the workload being measured.
 */
export interface BenchRedis {
  host: string;
  port: number;
  url: string;
  pid: number;
  /** An admin connection for FLUSHALL and INFO (its own commands are excluded from the figures). */
  admin: Redis;
  stop(): Promise<void>;
}

/** A free loopback TCP port (the OS picks it). Shared with the tests' redis-server helper. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}

/** Waits until a redis-server on this loopback port answers PING (and fails at once if `proc` exited). */
export async function waitForPing(port: number, proc?: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode}`);
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      return;
    } catch {
      c.disconnect();
      if (Date.now() > until) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export async function startBenchRedis(): Promise<BenchRedis> {
  const host = '127.0.0.1';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redtask-bench-'));
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', host, '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'],
    { stdio: 'ignore' },
  );
  await waitForPing(port, proc);
  const admin = new Redis({ host, port, maxRetriesPerRequest: 1, connectionName: 'bench:admin' });
  admin.on('error', () => undefined);
  await admin.ping();
  return {
    host,
    port,
    url: `redis://${host}:${port}`,
    pid: proc.pid!,
    admin,
    async stop() {
      admin.disconnect();
      if (proc.exitCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        const c = new Redis({ host, port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
        c.on('error', () => undefined);
        try {
          await c.connect();
          await c.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
        } catch {
          proc.kill('SIGKILL');
        }
        c.disconnect();
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Parses the "key:value" lines of an INFO section. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    if (at > 0) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

/** Calls per command from INFO commandstats (cmdstat_<name>:calls=N,...). */
export async function commandCalls(admin: Redis): Promise<Map<string, number>> {
  const info = parseInfo(await admin.info('commandstats'));
  const out = new Map<string, number>();
  for (const [k, v] of info) {
    if (!k.startsWith('cmdstat_')) continue;
    const m = /(?:^|,)calls=(\d+)/.exec(v);
    if (m) out.set(k.slice('cmdstat_'.length), Number(m[1]));
  }
  return out;
}

/** used_cpu_user + used_cpu_sys of the redis-server, in microseconds. */
export async function redisCpuMicros(admin: Redis): Promise<number> {
  const info = parseInfo(await admin.info('cpu'));
  return Math.round((Number(info.get('used_cpu_user') ?? 0) + Number(info.get('used_cpu_sys') ?? 0)) * 1e6);
}

export async function usedMemory(admin: Redis): Promise<number> {
  const info = parseInfo(await admin.info('memory'));
  return Number(info.get('used_memory') ?? 0);
}

/** Commands the bench itself sends on its admin connection; never counted as the system's. */
const BENCH_COMMANDS = new Set(['info', 'flushall', 'config|resetstat', 'config|set', 'config|get', 'ping', 'client|setname', 'memory|usage', 'select']);

export interface CostSnapshot {
  calls: Map<string, number>;
  redisCpu: number;
  nodeCpu: NodeJS.CpuUsage;
  wall: number;
}

export async function costSnapshot(admin: Redis): Promise<CostSnapshot> {
  const calls = await commandCalls(admin);
  const redisCpu = await redisCpuMicros(admin);
  return { calls, redisCpu, nodeCpu: process.cpuUsage(), wall: performance.now() };
}

export interface CostDelta {
  /** Commands per task, all of them (Lua's inner redis.call()s included, as INFO counts them). */
  commands: number;
  /** Per-command calls per task. */
  byCommand: Record<string, number>;
  redisCpuMicros: number;
  nodeCpuMicros: number;
  wallMs: number;
}

/** The cost between two snapshots, divided by the number of tasks. */
export function costPerTask(a: CostSnapshot, b: CostSnapshot, tasks: number): CostDelta {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [name, calls] of b.calls) {
    if (BENCH_COMMANDS.has(name)) continue;
    const d = calls - (a.calls.get(name) ?? 0);
    if (d <= 0) continue;
    byCommand[name] = d / tasks;
    total += d;
  }
  const nodeMicros = b.nodeCpu.user + b.nodeCpu.system - (a.nodeCpu.user + a.nodeCpu.system);
  return {
    commands: total / tasks,
    byCommand,
    redisCpuMicros: (b.redisCpu - a.redisCpu) / tasks,
    nodeCpuMicros: nodeMicros / tasks,
    wallMs: b.wall - a.wall,
  };
}
