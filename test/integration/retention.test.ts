import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { runScript, scriptKeys } from '../../src/shared/scripts.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

async function sizes(q: Queue): Promise<{ data: number; results: number; errors: number }> {
  const [data, results, errors] = await Promise.all([q.client.hlen(q.keys.data), q.client.hlen(q.keys.results), q.client.hlen(q.keys.errors)]);
  return { data, results, errors };
}

describe('retention', () => {
  it('keeps only keepCompleted completed tasks, while the completed total counts all', async () => {
    const q = new Queue<number>('keep-completed', { connection: redis.url });
    await q.configure({ keepCompleted: 5 });
    const ids = await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ data: i })));
    const w = new Worker<number>('keep-completed', (t) => t.data * 2, { connection: redis.url, concurrency: 3 });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 20, 10_000, '20 completed');
    await w.close();

    const c = await q.counts();
    expect(c).toMatchObject({ completed: 20, completedRetained: 5, waiting: 0, active: 0 });
    // No leftovers of the trimmed ones in the side hashes.
    expect(await sizes(q)).toEqual({ data: 5, results: 5, errors: 0 });
    let kept = 0;
    for (const id of ids) {
      const t = await q.getTask(id);
      if (t === null) continue;
      kept++;
      expect(t.state).toBe('completed');
      expect(t.result).toBe(t.data * 2);
    }
    expect(kept).toBe(5);
    // The last one finished is among those kept.
    const newest = await q.client.zrange(q.keys.completed, -1, -1);
    expect(await q.getResult(newest[0]!)).toBeDefined();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('keeps no completed task with keepCompleted=0, including its attempt history', async () => {
    const q = new Queue('keep-none', { connection: redis.url });
    await q.configure({ keepCompleted: 0 });
    const ids = await q.addBulk(Array.from({ length: 4 }, () => ({ data: null, opts: { backoff: 'fixed:10ms' } })));
    const w = new Worker('keep-none', (t) => {
      if (t.attempt === 1) throw new Error('first try fails');
      return 'ok';
    }, { connection: redis.url, concurrency: 4 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 4, 10_000, '4 completed');
    await w.close();
    expect(await q.counts()).toMatchObject({ completed: 4, completedRetained: 0, retried: 4 });
    expect(await sizes(q)).toEqual({ data: 0, results: 0, errors: 0 });
    for (const id of ids) expect(await q.getTask(id)).toBeNull();
    await q.close();
  });

  it('keeps only keepDead dead-lettered tasks, while the failed total counts all', async () => {
    const q = new Queue('keep-dead', { connection: redis.url });
    await q.configure({ keepDead: 3 });
    await q.addBulk(Array.from({ length: 8 }, (_, i) => ({ data: i, opts: { attempts: 1 } })));
    const w = new Worker('keep-dead', () => {
      throw new Error('always');
    }, { connection: redis.url, concurrency: 2 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).failed === 8, 10_000, '8 failed');
    await w.close();
    expect(await q.counts()).toMatchObject({ failed: 8, deadRetained: 3, completed: 0, retried: 0 });
    expect(await sizes(q)).toEqual({ data: 3, results: 0, errors: 3 });
    for (const id of await q.client.zrange(q.keys.dead, 0, -1)) {
      const t = (await q.getTask(id))!;
      expect(t.state).toBe('dead');
      expect(t.errors).toHaveLength(1);
    }
    await q.close();
  });

  it('applies keepDead to tasks dead-lettered by lease recovery too', async () => {
    const q = new Queue('keep-dead-recovered', { connection: redis.url });
    await q.configure({ keepDead: 2 });
    await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: i, opts: { attempts: 1 } })));
    // Leases are taken and then abandoned (as by a crashed worker).
    const k = q.keys;
    const t0 = Date.now();
    expect(await runScript(q.client, 'reserve', scriptKeys.reserve(k), [t0, 100, 5, 'crashed.1'])).toHaveLength(5);
    await runScript(q.client, 'maintain', scriptKeys.maintain(k), [t0 + 1000, 1000, 15_000]);
    expect(await q.counts()).toMatchObject({ failed: 5, deadRetained: 2, active: 0, waiting: 0 });
    expect(await sizes(q)).toEqual({ data: 2, results: 0, errors: 2 });
    await q.close();
  });

  it('drops completed tasks older than keepCompletedMs', async () => {
    const q = new Queue<string>('keep-age', { connection: redis.url });
    await q.configure({ keepCompletedMs: 300 });
    const w = new Worker<string>('keep-age', (t) => t.data, { connection: redis.url });
    collectErrors(w);
    await w.start();
    const [old] = await q.addBulk([{ data: 'old' }]);
    await waitFor(async () => (await q.counts()).completed === 1, 5000, 'first completed');
    expect((await q.getTask(old!))!.state).toBe('completed');
    await sleep(400);
    const [fresh] = await q.addBulk([{ data: 'fresh' }]);
    await waitFor(async () => (await q.counts()).completed === 2, 5000, 'second completed');
    await w.close();
    expect(await q.getTask(old!)).toBeNull();
    expect((await q.getTask(fresh!))!.result).toBe('fresh');
    expect(await q.counts()).toMatchObject({ completed: 2, completedRetained: 1 });
    await q.close();
  });
});
