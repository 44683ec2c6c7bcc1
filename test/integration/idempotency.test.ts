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

describe('idempotency keys', () => {
  it('publishing again with a key returns the first id and creates no second task', async () => {
    const q = new Queue<string>('idem', { connection: redis.url });
    const a = await q.add('charge #1', { key: 'order-1' });
    const b = await q.add('charge #1 again', { key: 'order-1' });
    const c = await q.add('charge #2', { key: 'order-2' });
    const d = await q.add('no key');
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(new Set([a, c, d]).size).toBe(3);
    expect(await q.counts()).toMatchObject({ waiting: 3, published: 3 });
    const ran: string[] = [];
    const w = new Worker<string>('idem', (t) => void ran.push(t.data), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(() => ran.length === 3, 5000, 'three tasks');
    // Still within the window after it ran: no second run.
    expect(await q.add('charge #1 a third time', { key: 'order-1' })).toBe(a);
    await sleep(200);
    await w.close();
    expect(ran.sort()).toEqual(['charge #1', 'charge #2', 'no key']);
    await q.close();
  });

  it('dedupes inside one batch and keeps the ids in input order', async () => {
    const q = new Queue<string>('idem-batch', { connection: redis.url });
    const ids = await q.addBulk([
      { data: 'a', opts: { key: 'x' } },
      { data: 'b' },
      { data: 'c', opts: { key: 'x' } },
      { data: 'd', opts: { key: 'y' } },
    ]);
    expect(ids[2]).toBe(ids[0]);
    expect(new Set(ids).size).toBe(3);
    expect((await q.counts()).waiting).toBe(3);
    expect((await q.getTask(ids[3]!))?.data).toBe('d');
    await q.close();
  });

  it('a key stops counting after its window', async () => {
    const q = new Queue<string>('idem-window', { connection: redis.url });
    const a = await q.add('first', { key: 'k', keyWindowMs: 150 });
    expect(await q.add('again', { key: 'k', keyWindowMs: 150 })).toBe(a);
    await sleep(250);
    const b = await q.add('after the window', { key: 'k', keyWindowMs: 150 });
    expect(b).not.toBe(a);
    expect((await q.counts()).waiting).toBe(2);
    await q.close();
  });

  it('a key past its window counts as gone, also among more expired keys than one call cleans up', async () => {
    const q = new Queue<string>('idem-expired', { connection: redis.url });
    const first = await q.addBulk(Array.from({ length: 1500 }, (_, i) => ({ data: `t${i}`, opts: { key: `k${i}`, keyWindowMs: 100 } })));
    await sleep(200);
    // The first publish after the window cleans up 1,000 expired keys; k999 is not among them (equal scores sort by key).
    const again = await q.add('t999 again', { key: 'k999', keyWindowMs: 100 });
    expect(again).not.toBe(first[999]);
    expect((await q.getTask(again))?.data).toBe('t999 again');
    // And the new key counts from now.
    expect(await q.add('t999 a third time', { key: 'k999' })).toBe(again);
    await q.close();
  });
});
