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

describe('corrupt records', () => {
  it('sets unreadable records aside without crashing and without losing valid tasks', async () => {
    const q = new Queue<number>('corrupt', { connection: redis.url });
    const k = q.keys;
    const first = await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: i })));
    // Garbage (no record head at all), a payload that is not JSON, and opts that are not JSON.
    await q.client.lpush(k.wait, 'garbage');
    await q.client.lpush(k.wait, '900|0|3|1700000000000|bad||{not json');
    await q.client.lpush(k.wait, '901|0|3|1700000000000|bad|{oops|1');
    const second = await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: 100 + i })));

    const seen: number[] = [];
    const w = new Worker<number>('corrupt', (t) => {
      seen.push(t.data);
      return t.data;
    }, { connection: redis.url, concurrency: 2 });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 10, 10_000, 'all valid tasks completed');
    await waitFor(async () => (await q.client.zcard(k.dead)) === 2, 5000, 'bad records dead-lettered');
    // Still alive: later tasks are processed too.
    const third = await q.add(200);
    await waitFor(async () => (await q.getTask(third))?.state === 'completed', 5000, 'task after the corrupt ones');
    await w.close();

    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 200]);
    for (const id of [...first, ...second]) expect((await q.getTask(id))!.state).toBe('completed');
    // The headless record is kept aside for inspection, not handed out and not lost.
    expect(await q.client.lrange(k.corrupt, 0, -1)).toEqual(['garbage']);
    // The ones with a head are dead-lettered at once (retrying cannot make them readable).
    expect((await q.client.zrange(k.dead, 0, -1)).sort()).toEqual(['900', '901']);
    const why900 = JSON.parse((await q.client.hget(k.errors, '900'))!) as Array<{ error: string }>;
    expect(why900).toHaveLength(1);
    expect(why900[0]!.error).toMatch(/not valid JSON/);
    expect(await q.client.hget(k.errors, '901')).toMatch(/corrupt task record 901/);
    const c = await q.counts();
    expect(c).toMatchObject({ completed: 11, failed: 2, waiting: 0, active: 0 });
    expect(errors).toEqual([]);
    await q.close();
  });

  it('sets aside a queue that holds nothing but garbage, then serves new tasks', async () => {
    const q = new Queue('all-garbage', { connection: redis.url });
    const k = q.keys;
    await q.client.lpush(k.wait, 'x', 'y|z', '|||||||', '12|a|3|4|5|6|7');
    const w = new Worker('all-garbage', (t) => t.data, { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.client.llen(k.corrupt)) === 4, 5000, 'garbage set aside');
    const id = await q.add('fine');
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 5000, 'valid task completed');
    await w.close();
    expect(await q.client.llen(k.wait)).toBe(0);
    expect(errors).toEqual([]);
    await q.close();
  });
});
