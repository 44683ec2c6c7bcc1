import { Redis } from 'ioredis';

/** The cheapest script call there is: one key declared, nothing read or written. */
const SCRIPT = 'return 1';
/** The first measurement in a process warms up longer: the JIT has not compiled ioredis's call path yet. */
const FIRST_WARMUP_MS = 1000;
let warmedBefore = false;

export interface Floor {
  /** EVALSHA round trips per second: one ioredis client, one call in flight. */
  evalsha: number;
  /** PING round trips per second, the same way (for context: the same trip without Lua). */
  ping: number;
}

/**
 * The floor of this machine for a task call: how many round trips per second one ioredis client
 * makes at concurrency 1 against the bench's redis-server, sending a trivial script with EVALSHA
 * (and, for context, PING), each call sent once the previous reply has come. A redtask worker at
 * concurrency 1 makes at least one such round trip per task, over the same client library, so
 * its c=1 throughput over this floor says how much of the time per task is the trip itself.
 * A fresh client with ioredis defaults, warmed up first (connection, script cache, JIT): `warmup`
 * calls of each kind, and the first time in the process for at least FIRST_WARMUP_MS as well.
 */
export async function measureFloor(url: string, calls: number, warmup: number): Promise<Floor> {
  const client = new Redis(url, { connectionName: 'bench:floor', maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  try {
    const sha = (await client.script('LOAD', SCRIPT)) as string;
    const key = 'rt:{floor}:k';
    const evalsha = async (n: number) => {
      for (let i = 0; i < n; i++) await client.evalsha(sha, 1, key);
    };
    const ping = async (n: number) => {
      for (let i = 0; i < n; i++) await client.ping();
    };
    const warmUntil = performance.now() + (warmedBefore ? 0 : FIRST_WARMUP_MS);
    do {
      await evalsha(warmup);
      await ping(warmup);
    } while (performance.now() < warmUntil);
    warmedBefore = true;
    const rate = async (loop: (n: number) => Promise<void>) => {
      const t0 = performance.now();
      await loop(calls);
      return (calls / (performance.now() - t0)) * 1000;
    };
    return { evalsha: await rate(evalsha), ping: await rate(ping) };
  } finally {
    client.disconnect();
  }
}
