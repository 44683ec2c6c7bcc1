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

describe('delayed tasks', () => {
  it('a task due sooner, added while an idle worker waits for a later one, starts on its own time', async () => {
    const q = new Queue<string>('sooner', { connection: redis.url });
    const started = new Map<string, number>();
    const w = new Worker<string>('sooner', (t) => void started.set(t.data, Date.now()), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await sleep(100); // idle, blocked on the marker
    const t0 = Date.now();
    await q.add('later', { delay: 3000 });
    await sleep(50); // the worker now holds a timer for the later one
    const t1 = Date.now();
    await q.add('sooner', { delay: 300 });
    await waitFor(() => started.has('sooner'), 5000, 'sooner started');
    const late = started.get('sooner')! - (t1 + 300);
    expect(late).toBeGreaterThanOrEqual(0);
    // Well before both the later task's time and the 1 s maintenance tick.
    expect(started.get('sooner')! - t1).toBeLessThan(900);
    expect(started.has('later')).toBe(false);
    await waitFor(() => started.has('later'), 5000, 'later started');
    expect(started.get('later')! - t0).toBeGreaterThanOrEqual(3000);
    await w.close();
    await q.close();
  });

  it('a busy worker promotes a due delayed task with its next reservation, not at its next tick', async () => {
    const q = new Queue<string>('busy-delayed', { connection: redis.url });
    await q.addBulk(Array.from({ length: 1000 }, (_, i) => ({ data: `plain-${i}` })));
    const started = new Map<string, number>();
    const w = new Worker<string>('busy-delayed', async (t) => {
      started.set(t.data, Date.now());
      await sleep(2);
    }, { connection: redis.url, concurrency: 1, leaseMs: 30_000 });
    collectErrors(w);
    await w.start();
    await sleep(100);
    const t0 = Date.now();
    // Priority 10, so that once promoted it runs next, ahead of the plain backlog.
    await q.add('delayed', { delay: 200, priority: 10 });
    await waitFor(() => started.has('delayed'), 10_000, 'delayed ran');
    await w.close();
    // The maintenance tick comes once a second; the reservations came every few ms.
    expect(started.get('delayed')! - (t0 + 200)).toBeLessThan(600);
    expect(started.size).toBeLessThan(1001);
    await q.close();
  });

  it('a task due in 30 days, beyond what a timer can wait for, does not make an idle worker spin', async () => {
    const q = new Queue<string>('far', { connection: redis.url });
    await q.add('next month', { delay: 30 * 86_400_000 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    const w = new Worker<string>('far', () => undefined, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await sleep(200);
    const calls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await q.client.info('commandstats'))?.[1] ?? 0);
    const before = await calls();
    await sleep(1000);
    // About one maintenance call per second (the regular tick), not one per millisecond.
    expect((await calls()) - before).toBeLessThan(10);
    await w.close();
    process.off('warning', onWarning);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
    await q.close();
  });

  it('refuses a timeout a timer cannot wait for and a delay or run-at time that is not finite', async () => {
    const q = new Queue<string>('bad-times', { connection: redis.url });
    await expect(q.add('x', { timeout: 30 * 86_400_000 })).rejects.toThrow(/invalid timeout .*about 24.8 days/);
    await expect(q.add('x', { delay: Infinity })).rejects.toThrow(/invalid delay/);
    await expect(q.add('x', { runAt: Infinity })).rejects.toThrow(/invalid run-at time/);
    expect(() => new Worker('bad-times', () => undefined, { connection: redis.url, defaultTimeoutMs: 30 * 86_400_000 })).toThrow(/invalid defaultTimeoutMs/);
    expect((await q.counts()).waiting).toBe(0);
    await q.close();
  });
});
