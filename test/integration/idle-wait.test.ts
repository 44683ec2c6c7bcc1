import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

// An idle worker of one queue waits with BZPOPMIN and a reserve queued behind it on the same
// connection (Worker.waitWithReserve): a published task comes back with the wake-up.

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

async function blockClients(workerId: string): Promise<Array<Record<string, string>>> {
  const text = (await redis.client().call('CLIENT', 'LIST')) as string;
  return text
    .trim()
    .split('\n')
    .map((line) => Object.fromEntries(line.split(' ').map((kv) => kv.split('=', 2) as [string, string])))
    .filter((c) => c.name === `redtask:worker:${workerId}:block`);
}

describe('the idle wait with a reserve behind it', () => {
  it('waits with the reserve queued behind BZPOPMIN, and a published task comes back with the wake-up', async () => {
    const q = new Queue<number>('iw-basic', { connection: redis.url });
    const seen: number[] = [];
    const w = new Worker<number>('iw-basic', (t) => void seen.push(t.data), { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    // Idle: blocked in BZPOPMIN with the reserve's bytes still in its query buffer.
    const idle = await waitFor(async () => (await blockClients(w.id)).find((c) => c.cmd === 'bzpopmin' && Number(c.qbuf) > 0), 5000, 'a queued wait');
    expect(idle.flags).toContain('b');
    for (let i = 0; i < 20; i++) {
      await q.add(i);
      await waitFor(() => seen.length === i + 1, 5000, `task ${i}`);
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const counts = await q.counts();
    expect(counts).toMatchObject({ waiting: 0, active: 0, completed: 20 });
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('a task leased by the queued reserve has a lease from Redis\'s clock: now + the lease time', async () => {
    const q = new Queue<string>('iw-lease', { connection: redis.url });
    let release!: () => void;
    const running = new Promise<void>((r) => (release = r));
    let started = false;
    const w = new Worker<string>(
      'iw-lease',
      async () => {
        started = true;
        await running;
      },
      { connection: redis.url, leaseMs: 4000 },
    );
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await blockClients(w.id)).some((c) => c.cmd === 'bzpopmin'), 5000, 'a queued wait');
    await q.add('x');
    await waitFor(() => started, 5000, 'the task started');
    const [sec, micro] = (await redis.client().call('TIME')) as [string, string];
    const redisNow = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    const lease = (await redis.client().zrange('rt:{iw-lease}:lease', 0, -1, 'WITHSCORES')).filter((_, i, a) => i % 2 === 1 && !a[i - 1]!.startsWith('~'));
    expect(lease).toHaveLength(1);
    // Set when the wait ended (a moment ago), for 4 s; a heartbeat may have renewed it since.
    expect(Number(lease[0])).toBeGreaterThan(redisNow + 2000);
    expect(Number(lease[0])).toBeLessThanOrEqual(redisNow + 4000);
    release();
    await waitFor(async () => (await q.counts()).completed === 1, 5000, 'completed');
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('a delayed task published to an idle worker starts when due, not at the end of the wait', async () => {
    const q = new Queue<string>('iw-delayed', { connection: redis.url });
    let startedAt = 0;
    const w = new Worker<string>('iw-delayed', () => void (startedAt = Date.now()), { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await blockClients(w.id)).some((c) => c.cmd === 'bzpopmin'), 5000, 'a queued wait');
    const due = Date.now() + 700;
    await q.add('later', { runAt: due });
    await waitFor(() => startedAt > 0, 8000, 'the delayed task');
    // The wait times out after 5 s; the due timer has to end it for the task to start on time.
    expect(startedAt - due).toBeLessThan(1000);
    expect(startedAt).toBeGreaterThanOrEqual(due);
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('an idle worker of a rate-limited queue waits for the window, without spinning', async () => {
    const q = new Queue<number>('iw-rate', { connection: redis.url });
    await q.configure({ rateMax: 1, rateWindowMs: 1500 });
    await q.addBulk([0, 1].map((data) => ({ data })));
    const started: number[] = [];
    const w = new Worker<number>('iw-rate', () => void started.push(Date.now()), { connection: redis.url });
    const errors = collectErrors(w);
    const calls = async () => {
      const info = await redis.client().info('commandstats');
      return Number(/cmdstat_bzpopmin:calls=(\d+)/.exec(info)?.[1] ?? 0);
    };
    await w.start();
    await waitFor(() => started.length === 1, 5000, 'the first task');
    const before = await calls();
    await waitFor(() => started.length === 2, 5000, 'the second task, in the next window');
    // The marker's "d" (the window's end) was popped once and waited for, not popped again and again.
    expect((await calls()) - before).toBeLessThan(20);
    expect(started[1]! - started[0]!).toBeGreaterThan(1000);
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('close() ends the wait at once (not at its 5 s timeout)', async () => {
    const w = new Worker<string>('iw-close', () => undefined, { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await blockClients(w.id)).some((c) => c.cmd === 'bzpopmin'), 5000, 'a queued wait');
    const t0 = Date.now();
    await w.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await blockClients(w.id)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('a task published while an idle worker closes is run or left waiting, never left leased', async () => {
    const q = new Queue<string>('iw-close-pub', { connection: redis.url });
    const w = new Worker<string>('iw-close-pub', () => undefined, { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await blockClients(w.id)).some((c) => c.cmd === 'bzpopmin'), 5000, 'a queued wait');
    const closing = w.close();
    await q.add('during close');
    await closing;
    const counts = await q.counts();
    expect(counts.active).toBe(0);
    expect(counts.waiting + counts.completed).toBe(1);
    expect(errors).toEqual([]);
    await q.close();
  });

  it('goes on, without an error event, after its wait connection is killed', async () => {
    const q = new Queue<number>('iw-kill', { connection: redis.url });
    const seen = new Set<number>();
    const w = new Worker<number>('iw-kill', (t) => void seen.add(t.data), { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    for (let round = 0; round < 3; round++) {
      const c = await waitFor(async () => (await blockClients(w.id)).find((x) => x.cmd === 'bzpopmin'), 8000, 'a wait to kill');
      await redis.client().call('CLIENT', 'KILL', 'ID', c.id!);
      await sleep(50);
      await q.add(round);
      await waitFor(() => seen.has(round), 8000, `task ${round} after the kill`);
    }
    const counts = await q.counts();
    expect(counts).toMatchObject({ waiting: 0, active: 0, completed: 3 });
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });
});
