import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
