import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, TaskAbortedError, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('cancellation', () => {
  it('cancels waiting (list and prioritized) and delayed tasks; they never run', async () => {
    const q = new Queue<string>('cancel-idle', { connection: redis.url });
    const plain = await q.add('plain');
    const keep = await q.add('keep');
    const urgent = await q.add('urgent', { priority: 5 });
    const later = await q.add('later', { delay: 60_000 });
    expect(await q.cancel(plain)).toBe('waiting');
    expect(await q.cancel(urgent)).toBe('waiting');
    expect(await q.cancel(later)).toBe('delayed');
    expect(await q.cancel(plain)).toBeNull();
    expect(await q.cancel('999999')).toBeNull();
    for (const id of [plain, urgent, later]) expect((await q.getTask(id))?.state).toBe('cancelled');
    expect(await q.counts()).toMatchObject({ waiting: 1, delayed: 0, cancelled: 3, cancelledRetained: 3 });
    const ran: string[] = [];
    const w = new Worker<string>('cancel-idle', (t) => void ran.push(t.data), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(() => ran.length === 1, 5000, 'the kept task');
    await sleep(200);
    await w.close();
    expect(ran).toEqual(['keep']);
    expect((await q.getTask(keep))?.state).toBe('completed');
    await q.close();
  });

  it('cancels a running task: its signal fires with reason cancelled, and it is not retried', async () => {
    const q = new Queue<string>('cancel-running', { connection: redis.url });
    const id = await q.add('long', { attempts: 3 });
    const reasons: unknown[] = [];
    let starts = 0;
    const w = new Worker<string>('cancel-running', (_t, ctx) => {
      starts++;
      return new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => {
        reasons.push(ctx.signal.reason);
        reject(new Error('stopped'));
      }));
    }, { connection: redis.url, leaseMs: 900 });
    collectErrors(w);
    const cancelledEvents: string[] = [];
    const lost: string[] = [];
    w.on('cancelled', (t) => cancelledEvents.push(t.id));
    w.on('lost', (t) => lost.push(t.id));
    await w.start();
    await waitFor(async () => (await q.counts()).active === 1, 5000, 'running');
    expect(await q.cancel(id)).toBe('active');
    await waitFor(() => reasons.length === 1, 5000, 'the handler was told');
    expect(reasons[0]).toBeInstanceOf(TaskAbortedError);
    expect((reasons[0] as TaskAbortedError).reason).toBe('cancelled');
    expect(cancelledEvents).toEqual([id]);
    await sleep(1500); // past a lease: nothing brings it back
    await w.close();
    expect(starts).toBe(1);
    expect(lost).toEqual([]);
    const t = await q.getTask(id);
    expect(t?.state).toBe('cancelled');
    expect(await q.counts()).toMatchObject({ active: 0, waiting: 0, failed: 0, retried: 0, recovered: 0, cancelled: 1 });
    await q.close();
  });
});
