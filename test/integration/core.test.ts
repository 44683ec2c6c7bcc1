import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishInterruptedError, Queue, Worker } from '../../src/index.js';
import { registerScripts } from '../../src/shared/scripts.js';
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

  it('sends a bulk of large payloads in calls of at most 16 MiB of records, ids in order', async () => {
    // 40 payloads of about 1 MB: in one call they would make one 40 MB command (and near the
    // payload limit, a thousand of them would pass the longest string V8 can build).
    const q = new Queue<string>('bulk-size', { connection: redis.url });
    const admin = redis.client();
    const calls = async () => {
      const info = (await admin.info('commandstats')) as string;
      return [...info.matchAll(/^cmdstat_(?:evalsha|eval|fcall):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const before = await calls();
    const ids = await q.addBulk(Array.from({ length: 40 }, (_, i) => ({ data: `${i}:`.padEnd(1_000_000, 'x') })));
    expect(await calls()).toBe(before + 3);
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => String(Number(ids[0]) + i)));
    const waiting = await admin.lrange(q.keys.wait, 0, -1);
    expect(waiting).toHaveLength(40);
    // The oldest first to be taken (the right end): in the order given.
    expect(waiting.reverse().map((e) => JSON.parse(e.slice(e.indexOf('"'))).split(':')[0])).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
    await q.close();
  });

  it('an addBulk that fails part-way says which of its tasks went in', async () => {
    const q = new Queue<number>('bulk-part', { connection: redis.url });
    // White-box: the publish script's second call fails (as a key of the wrong type would make it).
    registerScripts(q.client);
    const client = q.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const publish = client.rt_publish!;
    let calls = 0;
    client.rt_publish = function (this: unknown, ...args: unknown[]) {
      if (++calls === 2) return Promise.reject(new Error('ERR something failed in the script'));
      return publish.apply(this, args);
    };
    const err = await q.addBulk(Array.from({ length: 1500 }, (_, i) => ({ data: i }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishInterruptedError);
    const accepted = (err as PublishInterruptedError).accepted;
    expect(accepted).toHaveLength(1000);
    expect((err as Error).message).toBe('ERR something failed in the script');
    expect((await q.counts()).waiting).toBe(1000);
    expect((await q.getTask(accepted[999]!))?.data).toBe(999);
    await q.close();
  });
});
