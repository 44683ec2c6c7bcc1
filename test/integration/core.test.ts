import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('publish and process', () => {
  it('runs every published task once and counts it', async () => {
    const q = new Queue<number>('basic', { connection: redis.url });
    const ids = await q.addBulk(Array.from({ length: 50 }, (_, i) => ({ data: i })));
    expect(ids).toHaveLength(50);
    expect(new Set(ids).size).toBe(50);
    const seen: number[] = [];
    const w = new Worker<number>('basic', (t) => {
      seen.push(t.data);
      return t.data * 2;
    }, { connection: redis.url, concurrency: 4 });
    await w.start();
    await waitFor(() => seen.length === 50, 10_000, 'all tasks');
    await w.close();
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const c = await q.counts();
    expect(c).toMatchObject({ waiting: 0, active: 0, published: 50, completed: 50, failed: 0 });
    const t = await q.getTask(ids[7]!);
    expect(t?.state).toBe('completed');
    expect(t?.result).toBe(14);
    await q.close();
  });
});
