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

describe('fair groups', () => {
  it('a group with 10,000 waiting tasks delays another group\'s 10 tasks by only a few tasks', async () => {
    const q = new Queue<string>('fair', { connection: redis.url });
    const order: string[] = [];
    const w = new Worker<string>('fair', (t) => void order.push(t.data), { connection: redis.url, concurrency: 1 });
    collectErrors(w);
    await w.start();
    await q.addBulk(Array.from({ length: 10_000 }, (_, i) => ({ data: `A${i}`, opts: { group: 'tenant-a' } })));
    await waitFor(() => order.length >= 50, 10_000, 'A under way');
    const mark = order.length;
    await q.addBulk(Array.from({ length: 10 }, (_, i) => ({ data: `B${i}`, opts: { group: 'tenant-b' } })));
    await waitFor(() => order.filter((d) => d.startsWith('B')).length === 10, 10_000, 'all of B');
    await w.close();
    const lastB = order.lastIndexOf('B9');
    const aInBetween = order.slice(mark, lastB).filter((d) => d.startsWith('A')).length;
    // Round robin: about one A per B, plus the tasks already reserved when B arrived.
    expect(aInBetween).toBeLessThanOrEqual(13);
    // Within each group, publishing order holds.
    const bs = order.filter((d) => d.startsWith('B'));
    expect(bs).toEqual(Array.from({ length: 10 }, (_, i) => `B${i}`));
    const as = order.filter((d) => d.startsWith('A'));
    expect(as).toEqual(Array.from({ length: as.length }, (_, i) => `A${i}`));
    await q.close();
  });

  it('grouped and plain tasks share the workers: neither starves the other', async () => {
    const q = new Queue<string>('fair-mixed', { connection: redis.url });
    await q.addBulk(Array.from({ length: 200 }, (_, i) => ({ data: `plain${i}` })));
    await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: `g${i}`, opts: { group: 'small' } })));
    expect((await q.counts()).waiting).toBe(205);
    const order: string[] = [];
    const w = new Worker<string>('fair-mixed', (t) => void order.push(t.data), { connection: redis.url, concurrency: 1 });
    collectErrors(w);
    await w.start();
    await waitFor(() => order.length === 205, 10_000, 'all');
    await w.close();
    expect(order.lastIndexOf('g4')).toBeLessThan(15);
    await q.close();
  });

  it('a retried grouped task stays in its group', async () => {
    const q = new Queue<string>('fair-retry', { connection: redis.url });
    const id = await q.add('flaky', { group: 'g1', attempts: 2, backoff: 'fixed:0' });
    let tries = 0;
    const w = new Worker<string>('fair-retry', () => {
      if (++tries === 1) throw new Error('once');
      return 'ok';
    }, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 5000, 'completed on retry');
    await w.close();
    expect(tries).toBe(2);
    expect((await q.getTask(id))?.group).toBe('g1');
    await q.close();
  });

  it('rejects bad group names', async () => {
    const q = new Queue<string>('fair-bad', { connection: redis.url });
    await expect(q.add('x', { group: 'has space' })).rejects.toThrow(/invalid group/);
    await q.close();
  });

  it('groupMaxActive caps the running tasks of each group; the others go on', async () => {
    const q = new Queue<string>('fair-capped', { connection: redis.url });
    await q.configure({ groupMaxActive: 1 });
    await q.addBulk([
      ...Array.from({ length: 6 }, (_, i) => ({ data: `A${i}`, opts: { group: 'a' } })),
      ...Array.from({ length: 6 }, (_, i) => ({ data: `B${i}`, opts: { group: 'b' } })),
      ...Array.from({ length: 3 }, (_, i) => ({ data: `plain${i}` })),
    ]);
    const running = new Map<string, number>();
    const peak = new Map<string, number>();
    const w = new Worker<string>('fair-capped', async (t) => {
      const g = t.group || 'plain';
      running.set(g, (running.get(g) ?? 0) + 1);
      peak.set(g, Math.max(peak.get(g) ?? 0, running.get(g)!));
      await new Promise((r) => setTimeout(r, 40));
      running.set(g, running.get(g)! - 1);
    }, { connection: redis.url, concurrency: 6 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 15, 10_000, 'all done');
    await w.close();
    expect(peak.get('a')).toBe(1);
    expect(peak.get('b')).toBe(1);
    expect(peak.get('plain')).toBeGreaterThan(1);
    // Every running count went back to zero.
    expect(await q.client.hgetall(q.keys.gactive)).toEqual({});
    await q.close();
  });

  it('groupRateMax caps how many tasks each group starts per window; other groups are not held back', async () => {
    const q = new Queue<string>('fair-rate', { connection: redis.url });
    await q.configure({ groupRateMax: 2, groupRateWindowMs: 300 });
    await q.addBulk([
      ...Array.from({ length: 6 }, (_, i) => ({ data: `A${i}`, opts: { group: 'a' } })),
      ...Array.from({ length: 2 }, (_, i) => ({ data: `B${i}`, opts: { group: 'b' } })),
    ]);
    const starts = new Map<string, number>();
    const w = new Worker<string>('fair-rate', (t) => void starts.set(t.data, Date.now()), { connection: redis.url, concurrency: 10 });
    collectErrors(w);
    const t0 = Date.now();
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 8, 10_000, 'all done');
    await w.close();
    const a = [...starts].filter(([d]) => d.startsWith('A')).map(([, t]) => t).sort((x, y) => x - y);
    // Six tasks at two per window need three windows.
    expect(a[5]! - a[0]!).toBeGreaterThanOrEqual(300);
    expect(Math.max(starts.get('B0')!, starts.get('B1')!) - t0).toBeLessThan(300 + 200);
    await q.close();
  });
});
