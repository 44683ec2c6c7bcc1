import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, WaitTimeoutError, Worker } from '../../src/index.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('waitFor', () => {
  it('resolves with the result once the task completes, past its retries, without polling for it', async () => {
    const q = new Queue<number>('wait', { connection: redis.url });
    const id = await q.add(21, { notify: true, attempts: 2, backoff: 'fixed:100ms' });
    let tries = 0;
    const w = new Worker<number>('wait', (t) => {
      if (++tries === 1) throw new Error('first try fails');
      return t.data * 2;
    }, { connection: redis.url });
    collectErrors(w);
    const waiting = q.waitFor(id, { checkEveryMs: 60_000 }); // only the announcement can wake it
    await w.start();
    const t = await waiting;
    await w.close();
    expect(t).toMatchObject({ state: 'completed', result: 42 });
    expect(t?.errors).toHaveLength(1);
    await q.close();
  });

  it('resolves with dead and cancelled tasks, null for unknown ones, and times out', async () => {
    const q = new Queue<string>('wait-ends', { connection: redis.url });
    const doomed = await q.add('x', { notify: true, attempts: 1 });
    const w = new Worker<string>('wait-ends', () => {
      throw new Error('always');
    }, { connection: redis.url });
    collectErrors(w);
    await w.start();
    expect(await q.waitFor(doomed, { checkEveryMs: 60_000 })).toMatchObject({ state: 'dead' });
    await w.close();
    const pending = await q.add('never run', { notify: true });
    const waiting = q.waitFor(pending, { checkEveryMs: 60_000 });
    await new Promise((r) => setTimeout(r, 100));
    await q.cancel(pending);
    expect(await waiting).toMatchObject({ state: 'cancelled' });
    expect(await q.waitFor('424242')).toBeNull();
    const stuck = await q.add('no worker');
    await expect(q.waitFor(stuck, { timeoutMs: 200 })).rejects.toBeInstanceOf(WaitTimeoutError);
    await q.close();
  });
});
