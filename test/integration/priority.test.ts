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

async function runAll(queue: string, n: number, handler?: (data: string, attempt: number) => void): Promise<string[]> {
  const order: string[] = [];
  const w = new Worker<string>(queue, (t) => {
    order.push(t.data);
    handler?.(t.data, t.attempt);
    return null;
  }, { connection: redis.url, concurrency: 1 });
  collectErrors(w);
  await w.start();
  await waitFor(() => order.length >= n, 10_000, `${n} tasks run`);
  await w.close();
  return order;
}

describe('priorities', () => {
  it('runs higher priorities first, FIFO within a priority, priority 0 between positive and negative', async () => {
    const q = new Queue<string>('prio', { connection: redis.url });
    const plan: Array<[string, number | undefined]> = [
      ['low-1', -5], ['zero-1', undefined], ['high-1', 10], ['zero-2', 0], ['mid-1', 5], ['high-2', 10], ['low-2', -5], ['lowest', -100], ['top', 100],
    ];
    await q.addBulk(plan.map(([data, priority]) => ({ data, opts: { priority } })));
    expect((await q.counts()).waiting).toBe(plan.length);
    const t = await q.getTask((await q.add('probe', { priority: 3 })));
    expect(t).toMatchObject({ state: 'waiting', priority: 3 });
    const order = await runAll('prio', plan.length + 1);
    expect(order).toEqual(['top', 'high-1', 'high-2', 'mid-1', 'probe', 'zero-1', 'zero-2', 'low-1', 'low-2', 'lowest']);
    await q.close();
  });

  it('a retried or delayed task keeps its priority', async () => {
    const q = new Queue<string>('prio-retry', { connection: redis.url });
    await q.add('urgent', { priority: 50, attempts: 2, backoff: 'fixed:0' });
    await q.add('later-urgent', { priority: 50, delay: 150 });
    await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: `bulk-${i}` })));
    const order = await runAll('prio-retry', 8, (data, attempt) => {
      if (data === 'urgent' && attempt === 1) throw new Error('first attempt fails');
    });
    // The retry goes before the priority-0 backlog, not behind it.
    expect(order.slice(0, 2)).toEqual(['urgent', 'urgent']);
    expect(order).toContain('later-urgent');
    expect(order).toHaveLength(8);
    await q.close();
  });

  it('rejects priorities outside -100..100', async () => {
    const q = new Queue<string>('prio-bad', { connection: redis.url });
    await expect(q.add('x', { priority: 101 })).rejects.toThrow(/priority/);
    await expect(q.add('x', { priority: 1.5 })).rejects.toThrow(/priority/);
    await q.close();
  });
});
