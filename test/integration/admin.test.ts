import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('inspect and retry', () => {
  it('lists tasks by state, next to run first or newest first', async () => {
    const q = new Queue<string>('list', { connection: redis.url });
    const ids = await q.addBulk(['a', 'b', 'c', 'd'].map((data) => ({ data })));
    const urgent = await q.add('urgent', { priority: 9 });
    const later = await q.add('later', { delay: 60_000 });
    const waiting = await q.listTasks('waiting', { limit: 10 });
    expect(waiting.map((t) => t.data)).toEqual(['a', 'b', 'c', 'd', 'urgent']);
    expect((await q.listTasks('waiting', { offset: 1, limit: 2 })).map((t) => t.id)).toEqual([ids[1], ids[2]]);
    expect((await q.listTasks('delayed')).map((t) => t.id)).toEqual([later]);
    expect(urgent).toBeTruthy();
    await q.close();
  });

  it('retry sends dead-lettered tasks back with fresh attempts and keeps their history', async () => {
    const q = new Queue<string>('retry-dead', { connection: redis.url });
    const ids = await q.addBulk(['x', 'y', 'z'].map((data) => ({ data, opts: { attempts: 1 } })));
    let healthy = false;
    const w = new Worker<string>('retry-dead', (t) => {
      if (!healthy) throw new Error(`broken ${t.data}`);
      return `fixed ${t.data}`;
    }, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).deadRetained === 3, 5000, 'all dead');
    expect((await q.listTasks('dead')).map((t) => t.id).sort()).toEqual([...ids].sort());
    healthy = true;
    expect(await q.retry([ids[0]!])).toBe(1);
    expect(await q.retry([ids[0]!])).toBe(0); // not dead any more
    await waitFor(async () => (await q.getTask(ids[0]!))?.state === 'completed', 5000, 'first retried');
    const first = await q.getTask(ids[0]!);
    expect(first?.result).toBe('fixed x');
    expect(first?.errors.map((e) => e.error)).toEqual(['broken x']);
    expect(await q.retryAllDead()).toBe(2);
    await waitFor(async () => (await q.counts()).completed === 3, 5000, 'all completed');
    expect((await q.counts()).deadRetained).toBe(0);
    await w.close();
    await q.close();
  });
});
