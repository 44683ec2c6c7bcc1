import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, WaitTimeoutError, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('waitFor', () => {
  it('resolves with the result once the task completes, past its retries, without polling for it', async () => {
    const q = new Queue<number>('wait', { connection: redis.url });
    const id = await q.add(21, { notify: true, attempts: 2, backoff: 'fixed:100ms' });
    let tries = 0;
    const w = new Worker<number>('wait', (t) => {
      if (++tries === 1) throw new Error('first try fails');
      return t.data * 2;
    }, { connection: redis.url });
    collectErrors(w);
    const waiting = q.waitFor(id, { checkEveryMs: 60_000 }); // only the announcement can wake it
    await w.start();
    const t = await waiting;
    await w.close();
    expect(t).toMatchObject({ state: 'completed', result: 42 });
    expect(t?.errors).toHaveLength(1);
    await q.close();
  });

  it('resolves with dead and cancelled tasks, null for unknown ones, and times out', async () => {
    const q = new Queue<string>('wait-ends', { connection: redis.url });
    const doomed = await q.add('x', { notify: true, attempts: 1 });
    const w = new Worker<string>('wait-ends', () => {
      throw new Error('always');
    }, { connection: redis.url });
    collectErrors(w);
    await w.start();
    expect(await q.waitFor(doomed, { checkEveryMs: 60_000 })).toMatchObject({ state: 'dead' });
    await w.close();
    const pending = await q.add('never run', { notify: true });
    const waiting = q.waitFor(pending, { checkEveryMs: 60_000 });
    await new Promise((r) => setTimeout(r, 100));
    await q.cancel(pending);
    expect(await waiting).toMatchObject({ state: 'cancelled' });
    expect(await q.waitFor('424242')).toBeNull();
    const stuck = await q.add('no worker');
    await expect(q.waitFor(stuck, { timeoutMs: 200 })).rejects.toBeInstanceOf(WaitTimeoutError);
    await q.close();
  });

  it('a waiter opened before publishing gets results and last errors the queue does not keep', async () => {
    const q = new Queue<number>('wait-nokeep', { connection: redis.url });
    await q.configure({ keepCompleted: 0, keepDead: 0 });
    const waiter = await q.waiter<number>();
    const ids = await q.addBulk([1, 2, 3, -1].map((data) => ({ data, opts: { notify: true, attempts: 2, backoff: 'fixed:10ms' as const } })));
    const w = new Worker<number>('wait-nokeep', (t) => {
      if (t.data < 0) throw new Error(`negative ${t.data}`);
      return t.data * 10;
    }, { connection: redis.url, concurrency: 4 });
    collectErrors(w);
    await w.start();
    // Every task has ended and nothing of it is kept before anyone asks.
    await waitFor(async () => { const c = await q.counts(); return c.failed === 1 && c.completed === 3; }, 5000, 'all ended');
    expect(await q.getTask(ids[0]!)).toBeNull();
    expect(await q.waitFor(ids[0]!)).toBeNull();
    const outcomes = [];
    for (const id of ids) outcomes.push(await waiter.wait(id, { checkEveryMs: 60_000 }));
    expect(outcomes).toEqual([
      { id: ids[0], queue: 'wait-nokeep', state: 'completed', result: 10 },
      { id: ids[1], queue: 'wait-nokeep', state: 'completed', result: 20 },
      { id: ids[2], queue: 'wait-nokeep', state: 'completed', result: 30 },
      { id: ids[3], queue: 'wait-nokeep', state: 'dead', error: 'negative -1', attempts: 2 },
    ]);
    // A task without an announcement is looked up: kept ones resolve, gone ones are null.
    await q.configure({ keepCompleted: 10 });
    const plain = await q.add(5);
    expect(await waiter.wait(plain, { checkEveryMs: 50 })).toEqual({ id: plain, queue: 'wait-nokeep', state: 'completed', result: 50 });
    expect(await waiter.wait('424242')).toBeNull();
    await w.close();
    waiter.close();
    await q.close();
  });
});
