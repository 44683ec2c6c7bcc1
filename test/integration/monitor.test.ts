import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { run as monitorRun, snapshot } from '../../src/commands/monitor.js';
import { Queue, UnrecoverableError, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('monitor snapshot', () => {
  it('reports the oldest waiting task, the wait-time percentiles and the per-second history', async () => {
    const q = new Queue<number>('mon', { connection: redis.url });
    const c = redis.client();
    expect(await q.oldestWaitingAge()).toBeNull();
    await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ data: i })));
    await sleep(300);
    expect(await q.oldestWaitingAge()).toBeGreaterThanOrEqual(300);
    const before = await snapshot(c, redis.url, ['mon']);
    expect(before.queues[0]).toMatchObject({ name: 'mon', waiting: 20, waitP50Ms: null, waitP99Ms: null });
    expect(before.queues[0]!.oldestWaitingMs).toBeGreaterThanOrEqual(300);
    const w = new Worker<number>('mon', (t) => t.data, { connection: redis.url, concurrency: 5 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 20, 5000, 'done');
    // The counts reach Redis just after their second ends, and are read for whole seconds past.
    const after = await waitFor(async () => {
      const s = await snapshot(c, redis.url, ['mon']);
      return s.queues[0]!.waitP50Ms !== null && s.queues[0]!.completedPerSecond.reduce((a, b) => a + b, 0) === 20 ? s : undefined;
    }, 5000, 'history');
    await w.close();
    // Every task waited 300 ms or a little more: the 500 ms bucket.
    expect(after.queues[0]).toMatchObject({ waitP50Ms: 500, waitP99Ms: 500, oldestWaitingMs: null, waiting: 0 });
    expect(after.queues[0]!.completedPerSecond).toHaveLength(60);
    await q.close();
  });

  it('the oldest waiting task counts a starved low-priority one, not just the next to run', async () => {
    const q = new Queue<string>('mon-starved', { connection: redis.url });
    const low = await q.add('low', { priority: 1 });
    await sleep(50);
    await q.add('mid', { priority: 5 });
    await q.add('high', { priority: 9 });
    const lowAt = (await q.getTask(low))!.publishedAt;
    const now = Date.now();
    expect(await q.oldestWaitingAge(now)).toBe(now - lowAt);
    await q.close();
  });

  it('counts the completed and dead-lettered tasks per second, and a closing worker sends its last counts', async () => {
    const q = new Queue<number>('mon-outcomes', { connection: redis.url });
    await q.addBulk(Array.from({ length: 30 }, (_, i) => ({ data: i, opts: { attempts: 1 } })));
    const w = new Worker<number>('mon-outcomes', (t) => {
      if (t.data % 3 === 0) throw new UnrecoverableError('no');
      return t.data;
    }, { connection: redis.url, concurrency: 4, leaseMs: 30_000 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => {
      const c = await q.counts();
      return c.completed === 20 && c.failed === 10;
    }, 5000, 'all settled');
    // close() sends what the worker counted, without waiting for the end of the second.
    await w.close();
    const history = await q.history(10, Date.now() + 2000);
    expect(history.reduce((a, h) => a + h.completed, 0)).toBe(20);
    expect(history.reduce((a, h) => a + h.failed, 0)).toBe(10);
    await q.close();
  });

  it('sends a second\'s counts just after it ends, while the worker runs on', async () => {
    const q = new Queue<number>('mon-seconds', { connection: redis.url });
    const w = new Worker<number>('mon-seconds', (t) => t.data, { connection: redis.url, concurrency: 2, leaseMs: 30_000 });
    collectErrors(w);
    await w.start();
    // Start right after a second begins, so that the tasks finish within it.
    await sleep(1000 - (Date.now() % 1000) + 20);
    const second = Math.floor(Date.now() / 1000);
    await q.addBulk(Array.from({ length: 10 }, (_, i) => ({ data: i })));
    await waitFor(async () => (await q.counts()).completed === 10, 900, 'completed within the second');
    expect(Math.floor(Date.now() / 1000)).toBe(second);
    // 400 ms after the second ends its counts are in Redis, while the worker runs on.
    await sleep((second + 1) * 1000 + 400 - Date.now());
    const [h] = await q.history(1, (second + 1) * 1000 + 300);
    expect(h).toMatchObject({ second, completed: 10 });
    expect(h!.waits.reduce((a, b) => a + b, 0)).toBe(10);
    await w.close();
    await q.close();
  });

  it('the live view stops at once on a signal that comes before it starts to wait, whatever the interval', async () => {
    const signals = new EventEmitter();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let shown = 0;
    stdout.on('data', () => {
      // The first view is out: the signal lands before the wait for the next one begins.
      if (shown++ === 0) signals.emit('SIGINT');
    });
    const io = { stdin: new PassThrough(), stdout, stderr, env: {} };
    const t0 = Date.now();
    const code = await monitorRun(['--redis', redis.url, '--interval', '1h'], io, signals);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
