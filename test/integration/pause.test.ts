import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, QueueFullError, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('pause and resume', () => {
  it('a paused queue keeps its tasks waiting while running ones finish; resume wakes idle workers', async () => {
    const q = new Queue<number>('pausable', { connection: redis.url });
    const started: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = new Worker<number>('pausable', async (t) => {
      started.push(t.data);
      if (t.data === 0) await gate;
      return t.data;
    }, { connection: redis.url, concurrency: 1 });
    collectErrors(w);
    await w.start();
    await q.add(0);
    await waitFor(() => started.length === 1, 5000, 'first task running');
    await q.pause();
    expect((await q.counts()).paused).toBe(true);
    await q.addBulk([1, 2, 3].map((data) => ({ data })));
    release(); // the running task finishes; nothing new is taken
    await waitFor(async () => (await q.counts()).completed === 1, 5000, 'running task finished');
    await sleep(300);
    expect(started).toEqual([0]);
    expect(await q.counts()).toMatchObject({ waiting: 3, active: 0, paused: true });
    await q.resume();
    await waitFor(async () => (await q.counts()).completed === 4, 5000, 'all done after resume');
    expect(started).toEqual([0, 1, 2, 3]);
    expect((await q.counts()).paused).toBe(false);
    await w.close();
    await q.close();
  });

  it('pausing one queue does not stop a worker serving others', async () => {
    const a = new Queue<string>('pause-a', { connection: redis.url });
    const b = new Queue<string>('pause-b', { connection: redis.url });
    await a.pause();
    await a.add('a1');
    await b.add('b1');
    const done: string[] = [];
    const w = new Worker<string>(['pause-a', 'pause-b'], (t) => void done.push(t.data), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(() => done.includes('b1'), 5000, 'b served');
    await sleep(200);
    expect(done).toEqual(['b1']);
    await a.resume();
    await waitFor(() => done.includes('a1'), 5000, 'a served after resume');
    await w.close();
    await a.close();
    await b.close();
  });
});

describe('backpressure', () => {
  it('refuses a batch past maxWaiting and accepts again once workers made room', async () => {
    const q = new Queue<number>('bounded', { connection: redis.url });
    await q.configure({ maxWaiting: 3 });
    await q.addBulk([1, 2, 3].map((data) => ({ data })));
    await expect(q.add(4)).rejects.toBeInstanceOf(QueueFullError);
    await expect(q.add(4)).rejects.toThrow(/queue bounded is full: 3 tasks waiting/);
    expect((await q.counts()).waiting).toBe(3);
    const w = new Worker<number>('bounded', (t) => t.data, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).waiting === 0, 5000, 'drained');
    await q.add(4);
    await waitFor(async () => (await q.counts()).completed === 4, 5000, 'all done');
    await w.close();
    await q.close();
  });
});
