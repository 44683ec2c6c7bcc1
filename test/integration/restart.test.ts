import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('Redis restarts', () => {
  it('keeps a running worker working across a Redis restart, without restarting it', async () => {
    const before = new Queue<string>('restart', { connection: redis.url });
    const runs = new Map<string, number>();
    const w = new Worker<string>(
      'restart',
      async (t) => {
        runs.set(t.data, (runs.get(t.data) ?? 0) + 1);
        await sleep(100);
        return t.data;
      },
      { connection: redis.url, concurrency: 2 },
    );
    const errors = collectErrors(w);
    let ready = 0;
    w.on('ready', () => ready++);
    await w.start();

    // Some tasks done before the restart, some still waiting or running when Redis stops.
    await before.addBulk(Array.from({ length: 20 }, (_, i) => ({ data: `before-${i}` })));
    await waitFor(() => runs.size >= 4, 5000, 'a few tasks done');
    const waited: number[] = [];
    w.on('waiting', (attempt) => waited.push(attempt));
    await redis.stop();
    const startedBeforeStop = runs.size;
    expect(startedBeforeStop).toBeLessThan(20);
    await sleep(300);
    await redis.start();

    // A new client publishes after the restart.
    const after = new Queue<string>('restart', { connection: redis.url });
    await after.addBulk(Array.from({ length: 10 }, (_, i) => ({ data: `after-${i}` })));
    await waitFor(async () => (await after.counts()).completed === 30, 20_000, 'all 30 tasks completed');
    await w.close();

    expect(ready).toBe(1);
    // It did notice that Redis went away.
    expect(waited.length).toBeGreaterThan(0);
    const expected = [...Array.from({ length: 20 }, (_, i) => `before-${i}`), ...Array.from({ length: 10 }, (_, i) => `after-${i}`)].sort();
    expect([...runs.keys()].sort()).toEqual(expected);
    for (const [data, n] of runs) expect(n, data).toBe(1);
    // A call whose reply was lost in the shutdown is retried with its token, so no task had to
    // wait for its lease to run out (recovered would count those).
    expect(await after.counts()).toMatchObject({ completed: 30, published: 30, waiting: 0, active: 0, failed: 0, recovered: 0 });
    // Errors while Redis was away are reported, not thrown; nothing else went wrong.
    for (const e of errors) expect(e.message).toMatch(/connect|closed|ECONNREFUSED|ECONNRESET|LOADING|Stream isn't writeable/i);
    await before.close();
    await after.close();
  });

  it('wakes an idle worker for a task published after a restart (its blocking call survives)', async () => {
    const q = new Queue<string>('idle-restart', { connection: redis.url });
    const done: string[] = [];
    const w = new Worker<string>('idle-restart', (t) => void done.push(t.data), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await q.add('first');
    await waitFor(() => done.length === 1, 5000, 'first task');
    await sleep(200); // now idle, blocked on the marker
    await redis.stop();
    await redis.start();
    const q2 = new Queue<string>('idle-restart', { connection: redis.url });
    await q2.add('second');
    await waitFor(() => done.length === 2, 15_000, 'task published after the restart');
    await w.close();
    expect(done).toEqual(['first', 'second']);
    expect(await q2.counts()).toMatchObject({ completed: 2, waiting: 0 });
    await q.close();
    await q2.close();
  });

  it('waits for Redis when started while it is down, then starts working', async () => {
    await redis.stop();
    const w = new Worker<number>('late-start', (t) => t.data + 1, { connection: redis.url });
    collectErrors(w);
    const waiting: number[] = [];
    w.on('waiting', (attempt) => waiting.push(attempt));
    let ready = false;
    w.on('ready', () => (ready = true));
    const starting = w.start();
    await waitFor(() => waiting.length > 0, 5000, "a 'waiting' event");
    expect(ready).toBe(false);

    await redis.start();
    await starting;
    expect(ready).toBe(true);
    const q = new Queue<number>('late-start', { connection: redis.url });
    const id = await q.add(41);
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 10_000, 'task completed');
    expect(await q.getResult(id)).toBe(42);
    await w.close();
    await q.close();
  });

  it('can be closed while it is still waiting for Redis', async () => {
    await redis.stop();
    const w = new Worker('never-up', () => undefined, { connection: redis.url });
    collectErrors(w);
    const waiting: number[] = [];
    w.on('waiting', (attempt) => waiting.push(attempt));
    let ready = false;
    w.on('ready', () => (ready = true));
    const starting = w.start();
    await waitFor(() => waiting.length > 0, 5000, "a 'waiting' event");
    await w.close(100);
    await starting;
    expect(ready).toBe(false);
    await redis.start();
    // It did not register or take anything once Redis came back.
    const q = new Queue('never-up', { connection: redis.url });
    await q.add(1);
    await sleep(300);
    expect(await q.counts()).toMatchObject({ waiting: 1, active: 0 });
    expect(await q.workers()).toEqual([]);
    await q.close();
  });

  it('keeps waiting tasks and their attempt history across a restart (data is saved)', async () => {
    const q = new Queue('persisted', { connection: redis.url });
    const ids = await q.addBulk([{ data: 'a' }, { data: 'b', opts: { delay: 60_000 } }]);
    await redis.stop();
    await redis.start();
    const q2 = new Queue('persisted', { connection: redis.url });
    expect((await q2.getTask(ids[0]!))!.state).toBe('waiting');
    expect((await q2.getTask(ids[1]!))!.state).toBe('delayed');
    expect(await q2.counts()).toMatchObject({ waiting: 1, delayed: 1, published: 2 });
    await q.close();
    await q2.close();
  });
});
