import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, TaskAbortedError, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

/** A handler that runs until its signal fires, and records why it fired. */
function untilAborted(reasons: unknown[]) {
  return (_t: unknown, ctx: { signal: AbortSignal }) =>
    new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        reasons.push(ctx.signal.reason);
        reject(new Error('stopped'));
      });
    });
}

describe('timeouts', () => {
  it('aborts an attempt that runs too long, fails it, and retries it by its policy', async () => {
    const q = new Queue('timeout', { connection: redis.url });
    const id = await q.add('slow', { timeout: 200, attempts: 2, backoff: 'fixed:50ms' });
    const reasons: unknown[] = [];
    const w = new Worker('timeout', untilAborted(reasons), { connection: redis.url });
    collectErrors(w);
    await w.start();
    const t = await waitFor(async () => {
      const info = await q.getTask(id);
      return info?.state === 'dead' ? info : undefined;
    }, 10_000, 'dead after two timed-out attempts');
    await w.close();
    expect(reasons).toHaveLength(2);
    for (const r of reasons) {
      expect(r).toBeInstanceOf(TaskAbortedError);
      expect((r as TaskAbortedError).reason).toBe('timeout');
    }
    expect(t.errors.map((e) => [e.attempt, e.error])).toEqual([
      [1, 'timed out after 200ms'],
      [2, 'timed out after 200ms'],
    ]);
    expect(await q.counts()).toMatchObject({ failed: 1, retried: 1 });
    await q.close();
  });

  it('fails the attempt and frees the slot when the handler ignores the signal past the grace', async () => {
    const q = new Queue<string>('timeout-stuck', { connection: redis.url });
    const stuck = await q.add('stuck', { timeout: 100, attempts: 1 });
    const next = await q.add('next');
    const ran: string[] = [];
    const w = new Worker<string>('timeout-stuck', (t) => {
      ran.push(t.data);
      if (t.data === 'stuck') return new Promise(() => undefined); // never settles
      return 'ok';
    }, { connection: redis.url, concurrency: 1, timeoutGraceMs: 100 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.getTask(next))?.state === 'completed', 10_000, 'the next task ran');
    await w.close(1000);
    expect(ran).toEqual(['stuck', 'next']);
    const s = await q.getTask(stuck);
    expect(s?.state).toBe('dead');
    expect(s?.errors[0]?.error).toBe('timed out after 100ms');
    await q.close();
  });

  it("applies the worker's default timeout to tasks published without one, and a task's own over it", async () => {
    const q = new Queue<string>('timeout-default', { connection: redis.url });
    const plain = await q.add('plain', { attempts: 1 });
    const own = await q.add('own', { attempts: 1, timeout: 60_000 });
    const w = new Worker<string>('timeout-default', (t, ctx) =>
      t.data === 'own'
        ? new Promise((r) => setTimeout(() => r('finished'), 400))
        : new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))),
    { connection: redis.url, concurrency: 2, defaultTimeoutMs: 150 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed + (await q.counts()).failed === 2, 10_000, 'both done');
    await w.close();
    expect((await q.getTask(plain))?.errors[0]?.error).toBe('timed out after 150ms');
    expect((await q.getTask(own))?.result).toBe('finished');
    await q.close();
  });

  it('a handler that finishes after its timeout fired still counts as timed out', async () => {
    const q = new Queue<string>('timeout-late', { connection: redis.url });
    const id = await q.add('late', { attempts: 1, timeout: 100 });
    const w = new Worker<string>('timeout-late', () => new Promise((r) => setTimeout(() => r('too late'), 300)), { connection: redis.url });
    collectErrors(w);
    await w.start();
    const t = await waitFor(async () => {
      const info = await q.getTask(id);
      return info?.state === 'dead' ? info : undefined;
    }, 10_000, 'dead');
    await w.close();
    expect(t.result).toBeUndefined();
    expect(t.errors[0]?.error).toBe('timed out after 100ms');
    await q.close();
  });
});
