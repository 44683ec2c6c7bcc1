import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, UnrecoverableError, Worker, type Task } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

/** A worker whose handler records the start time of every attempt, per task id. */
function recordingWorker(queue: string, handler: (t: Task) => unknown, leaseMs = 900) {
  const starts = new Map<string, number[]>();
  const failed: Array<{ id: string; retryAt: number | null; message: string }> = [];
  const w = new Worker(
    queue,
    (t) => {
      const list = starts.get(t.id) ?? [];
      list.push(Date.now());
      starts.set(t.id, list);
      return handler(t);
    },
    { connection: redis.url, concurrency: 2, leaseMs },
  );
  w.on('failed', (t, err, retryAt) => failed.push({ id: t.id, retryAt, message: err.message }));
  const errors = collectErrors(w);
  return { w, starts, failed, errors };
}

describe('retries and dead-lettering', () => {
  it('attempts a failing task exactly `attempts` times, a fixed backoff apart, then dead-letters it', async () => {
    const q = new Queue('fixed', { connection: redis.url });
    const seenAttempts: number[] = [];
    const { w, starts, failed, errors } = recordingWorker('fixed', (t) => {
      seenAttempts.push(t.attempt);
      expect(t.maxAttempts).toBe(3);
      throw new Error(`boom ${t.attempt}`);
    });
    await w.start();
    const id = await q.add({ n: 1 }, { attempts: 3, backoff: 'fixed:200ms' });
    await waitFor(async () => (await q.getTask(id))?.state === 'dead', 10_000, 'task dead');
    // Give a (wrong) extra attempt time to show up before counting.
    await waitFor(async () => (await q.counts()).active === 0, 5000, 'nothing active');
    await w.close();

    const times = starts.get(id)!;
    expect(times).toHaveLength(3);
    expect(seenAttempts).toEqual([1, 2, 3]);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(195);

    const t = (await q.getTask(id))!;
    expect(t.state).toBe('dead');
    expect(t.attempts).toBe(3);
    expect(t.data).toEqual({ n: 1 });
    expect(t.errors.map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(t.errors.map((e) => e.error)).toEqual(['boom 1', 'boom 2', 'boom 3']);
    for (const e of t.errors) expect(e.worker).toBe(w.id);
    expect(t.at).toBeGreaterThanOrEqual(times[2]!);

    const c = await q.counts();
    expect(c).toMatchObject({ failed: 1, retried: 2, completed: 0, waiting: 0, active: 0, delayed: 0, deadRetained: 1, published: 1 });

    // The worker announced each retry with its due time, and the last failure as final.
    expect(failed.map((f) => f.retryAt === null)).toEqual([false, false, true]);
    for (let i = 0; i < 2; i++) expect(times[i + 1]!).toBeGreaterThanOrEqual(failed[i]!.retryAt!);
    expect(errors).toEqual([]);
    await q.close();
  });

  it('spaces attempts exponentially (equal jitter) with a small base', async () => {
    const q = new Queue('expo', { connection: redis.url });
    const { w, starts, failed, errors } = recordingWorker('expo', () => {
      throw new Error('nope');
    });
    await w.start();
    const id = await q.add('x', { attempts: 4, backoff: { type: 'exponential', delay: 100, maxDelay: 10_000 } });
    await waitFor(async () => (await q.getTask(id))?.state === 'dead', 15_000, 'task dead');
    await w.close();

    const times = starts.get(id)!;
    expect(times).toHaveLength(4);
    // Attempt n failed -> next one after a delay in [base*2^(n-1)/2, base*2^(n-1)].
    const planned = failed.filter((f) => f.retryAt !== null);
    expect(planned).toHaveLength(3);
    for (let n = 1; n <= 3; n++) {
      const full = 100 * 2 ** (n - 1);
      const gap = times[n]! - times[n - 1]!;
      expect(gap).toBeGreaterThanOrEqual(full / 2 - 5);
      expect(times[n]!).toBeGreaterThanOrEqual(planned[n - 1]!.retryAt!);
    }
    const t = (await q.getTask(id))!;
    expect(t.errors).toHaveLength(4);
    expect(await q.counts()).toMatchObject({ failed: 1, retried: 3 });
    expect(errors).toEqual([]);
    await q.close();
  });

  it('dead-letters at once on UnrecoverableError, whatever attempts remain', async () => {
    const q = new Queue('unrecoverable', { connection: redis.url });
    const { w, starts, errors } = recordingWorker('unrecoverable', () => {
      throw new UnrecoverableError('bad input');
    });
    await w.start();
    const id = await q.add({}, { attempts: 5, backoff: 'fixed:10ms' });
    await waitFor(async () => (await q.getTask(id))?.state === 'dead', 10_000, 'task dead');
    await w.close();
    expect(starts.get(id)).toHaveLength(1);
    const t = (await q.getTask(id))!;
    expect(t.attempts).toBe(1);
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]!.error).toBe('bad input');
    expect(await q.counts()).toMatchObject({ failed: 1, retried: 0, deadRetained: 1 });
    expect(errors).toEqual([]);
    await q.close();
  });

  it('completes a task that succeeds on a later attempt, keeping the failed attempts in its history', async () => {
    const q = new Queue('flaky', { connection: redis.url });
    const { w, starts, errors } = recordingWorker('flaky', (t) => {
      if (t.attempt < 3) throw new Error(`try ${t.attempt}`);
      return { ok: t.attempt };
    });
    await w.start();
    const id = await q.add(null, { attempts: 3, backoff: 'fixed:50ms' });
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 10_000, 'task completed');
    await w.close();
    expect(starts.get(id)).toHaveLength(3);
    const t = (await q.getTask(id))!;
    expect(t.result).toEqual({ ok: 3 });
    expect(t.attempts).toBe(3);
    expect(t.errors.map((e) => e.error)).toEqual(['try 1', 'try 2']);
    expect(await q.counts()).toMatchObject({ completed: 1, failed: 0, retried: 2, deadRetained: 0, completedRetained: 1 });
    expect(errors).toEqual([]);
    await q.close();
  });

  it('sends a task with no backoff delay left to the back of the queue', async () => {
    const q = new Queue<string>('zero-delay', { connection: redis.url });
    const order: string[] = [];
    const w = new Worker<string>('zero-delay', (t) => {
      order.push(`${t.data}${t.attempt}`);
      if (t.data === 'a' && t.attempt === 1) throw new Error('again');
    }, { connection: redis.url });
    collectErrors(w);
    await q.add('a', { attempts: 2, backoff: 'fixed:0ms' });
    await q.addBulk([{ data: 'b' }, { data: 'c' }]);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 3, 10_000, 'all completed');
    await w.close();
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2']);
    expect(await q.counts()).toMatchObject({ retried: 1, delayed: 0 });
    await q.close();
  });

  it('uses the default of 3 attempts and fails a result that is not JSON-serializable', async () => {
    const q = new Queue('defaults', { connection: redis.url });
    const { w, starts, errors } = recordingWorker('defaults', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      return cyclic;
    });
    await w.start();
    const id = await q.add(1, { backoff: 'fixed:10ms' });
    await waitFor(async () => (await q.getTask(id))?.state === 'dead', 10_000, 'task dead');
    await w.close();
    expect(starts.get(id)).toHaveLength(3);
    const t = (await q.getTask(id))!;
    expect(t.maxAttempts).toBe(3);
    expect(t.errors[0]!.error).toMatch(/not serializable/);
    expect(errors).toEqual([]);
    await q.close();
  });
});
