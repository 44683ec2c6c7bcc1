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

describe('global concurrency', () => {
  it('maxActive caps the tasks running at once across all workers', async () => {
    const q = new Queue<number>('max-active', { connection: redis.url });
    await q.configure({ maxActive: 2 });
    await q.addBulk(Array.from({ length: 12 }, (_, i) => ({ data: i })));
    let running = 0;
    let peak = 0;
    const handler = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(60);
      running--;
    };
    const workers = [1, 2].map(() => new Worker<number>('max-active', handler, { connection: redis.url, concurrency: 5 }));
    for (const w of workers) collectErrors(w);
    await Promise.all(workers.map((w) => w.start()));
    await waitFor(async () => (await q.counts()).completed === 12, 15_000, 'all done');
    await Promise.all(workers.map((w) => w.close()));
    expect(peak).toBe(2);
    await q.close();
  });
});

describe('rate limits', () => {
  it('rateMax / rateWindowMs caps how many tasks start per window, and work resumes after it', async () => {
    const q = new Queue<number>('rate', { connection: redis.url });
    await q.configure({ rateMax: 5, rateWindowMs: 400 });
    await q.addBulk(Array.from({ length: 15 }, (_, i) => ({ data: i })));
    const starts: number[] = [];
    const w = new Worker<number>('rate', () => void starts.push(Date.now()), { connection: redis.url, concurrency: 10 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 15, 15_000, 'all done');
    await w.close();
    expect(starts).toHaveLength(15);
    starts.sort((a, b) => a - b);
    // 15 tasks at 5 per window need three windows: the last starts at least two windows after the first.
    expect(starts[14]! - starts[0]!).toBeGreaterThanOrEqual(2 * 400 - 50);
    // Fixed windows: never more than 2 × 5 starts within one window's length.
    for (let i = 0; i < starts.length; i++) {
      const within = starts.filter((t) => t >= starts[i]! && t < starts[i]! + 400).length;
      expect(within).toBeLessThanOrEqual(10);
    }
    await q.close();
  });

  it('rateMax without a window is refused', async () => {
    const q = new Queue('rate-bad', { connection: redis.url });
    await expect(q.configure({ rateMax: 5 })).rejects.toThrow(/rateWindowMs/);
    await q.close();
  });
});
