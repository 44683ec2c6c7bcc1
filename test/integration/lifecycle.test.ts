import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, QueueFullError, UsageError, Worker, listQueues } from '../../src/index.js';
import { runScript, scriptKeys } from '../../src/shared/scripts.js';
import { finishArgs, finishReply, reserveArgs } from '../../src/shared/settle.js';
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
  it('starts a delayed task no earlier than it is due, and shows it as delayed meanwhile', async () => {
    const q = new Queue<string>('delayed', { connection: redis.url });
    const startedAt = new Map<string, number>();
    const w = new Worker<string>('delayed', (t) => void startedAt.set(t.data, Date.now()), { connection: redis.url, concurrency: 3 });
    const errors = collectErrors(w);
    await w.start();

    const t0 = Date.now();
    const late = await q.add('late', { delay: 700 });
    const soon = await q.add('soon', { delay: 300 });
    const at = await q.add('at', { runAt: new Date(t0 + 500) });
    const now = await q.add('now', { delay: 0 });

    const info = (await q.getTask(late))!;
    expect(info.state).toBe('delayed');
    expect(info.at).toBeGreaterThanOrEqual(t0 + 700);
    expect((await q.counts()).delayed).toBeGreaterThanOrEqual(2);

    await waitFor(() => startedAt.size === 4, 10_000, 'all delayed tasks started');
    await w.close();
    expect(startedAt.get('soon')!).toBeGreaterThanOrEqual(t0 + 300);
    expect(startedAt.get('at')!).toBeGreaterThanOrEqual(t0 + 500);
    expect(startedAt.get('late')!).toBeGreaterThanOrEqual(t0 + 700);
    for (const id of [late, soon, at, now]) expect((await q.getTask(id))!.state).toBe('completed');
    expect(await q.counts()).toMatchObject({ delayed: 0, completed: 4, published: 4 });
    expect(errors).toEqual([]);
    await q.close();
  });

  it('knows nothing of an id that was never published', async () => {
    const q = new Queue('unknown', { connection: redis.url });
    await q.add('x');
    expect(await q.getTask('999999')).toBeNull();
    expect(await q.getResult('999999')).toBeUndefined();
    await q.close();
  });

  it('rejects invalid options before publishing anything', async () => {
    const q = new Queue('invalid-opts', { connection: redis.url });
    await expect(q.add(1, { delay: -1 })).rejects.toThrow(UsageError);
    await expect(q.add(1, { attempts: 0 })).rejects.toThrow(UsageError);
    await expect(q.add(1, { attempts: 1.5 })).rejects.toThrow(UsageError);
    await expect(q.add(1, { backoff: 'linear:1s' })).rejects.toThrow(UsageError);
    // An object too: a delay that is not a whole number of ms would fail every retry in Redis.
    await expect(q.add(1, { backoff: { type: 'fixed', delay: 'abc' as unknown as number } })).rejects.toThrow(UsageError);
    await expect(q.add(1, { backoff: { type: 'linear' as 'fixed', delay: 100 } })).rejects.toThrow(UsageError);
    await expect(q.add(1, { name: 'a|b' })).rejects.toThrow(UsageError);
    await expect(q.add(1, { runAt: new Date('nope') })).rejects.toThrow(UsageError);
    q.maxPayloadBytes = 10;
    await expect(q.add('x'.repeat(20))).rejects.toThrow(/larger than the limit/);
    await expect(q.addBulk([{ data: 'ok' }, { data: 'x'.repeat(20) }])).rejects.toThrow(UsageError);
    expect(await q.counts()).toMatchObject({ published: 0, waiting: 0, delayed: 0 });
    await q.close();
  });
});

describe('several queues in one worker', () => {
  it('serves every queue it was given, telling the handler which queue a task came from', async () => {
    const names = ['multi-a', 'multi-b', 'multi-c'];
    const queues = names.map((n) => new Queue<number>(n, { connection: redis.url }));
    const seen: Array<[string, number]> = [];
    const w = new Worker<number>(names, (t) => void seen.push([t.queue, t.data]), { connection: redis.url, concurrency: 2 });
    const errors = collectErrors(w);
    await w.start();
    for (const [i, q] of queues.entries()) await q.addBulk(Array.from({ length: 5 }, (_, j) => ({ data: i * 10 + j })));
    await waitFor(() => seen.length === 15, 10_000, 'all 15 tasks');
    await w.close();
    for (const [i, name] of names.entries()) {
      const mine = seen.filter(([q]) => q === name).map(([, d]) => d).sort((x, y) => x - y);
      expect(mine).toEqual([0, 1, 2, 3, 4].map((j) => i * 10 + j));
      expect(await queues[i]!.counts()).toMatchObject({ completed: 5, waiting: 0, active: 0 });
    }
    const all = await listQueues(queues[0]!.client);
    for (const n of names) expect(all).toContain(n);
    expect(errors).toEqual([]);
    for (const q of queues) await q.close();
  });

  it('reports itself in each queue it serves while running', async () => {
    const q = new Queue('info', { connection: redis.url });
    const w = new Worker(['info', 'info-other'], () => undefined, { connection: redis.url, concurrency: 3, workerId: 'info-worker-1' });
    collectErrors(w);
    await w.start();
    const ws = await waitFor(async () => {
      const list = await q.workers();
      return list.length === 1 ? list : undefined;
    }, 5000, 'worker listed');
    expect(ws[0]).toMatchObject({ id: 'info-worker-1', pid: process.pid, queues: ['info', 'info-other'], concurrency: 3 });
    expect(ws[0]!.lastSeen).toBeGreaterThan(0);
    await w.close();
    expect(await q.workers()).toEqual([]);
    await q.close();
  });

  it('does not list a worker that stopped sending heartbeats (killed); lists an entry it cannot read as corrupt', async () => {
    const q = new Queue('info-dead', { connection: redis.url });
    const c = q.client;
    const now = Date.now();
    const info = (id: string, leaseMs?: number) => JSON.stringify({ id, host: 'h', pid: 1, queues: ['info-dead'], concurrency: 1, running: 0, startedAt: now - 60_000, version: 'x', leaseMs });
    await c.zadd(q.keys.workers, now - 1000, 'live', now - 20_000, 'killed', now - 50_000, 'long-lease', now - 12_000, 'old-default', now, 'garbled');
    await c.hset(q.keys.winfo, { live: info('live', 5000), killed: info('killed', 5000), 'long-lease': info('long-lease', 30_000), 'old-default': info('old-default'), garbled: '{not json' });
    const live = await q.workers(now);
    expect(live.map((w) => w.id).sort()).toEqual(['garbled', 'live', 'long-lease']);
    expect(live.find((w) => w.id === 'garbled')).toMatchObject({ queues: [], corrupt: 'its description: not valid JSON' });
    expect((await q.workers(now + 60_000)).map((w) => w.id)).toEqual([]);
    await q.close();
  });
});

describe('maxWaiting', () => {
  it('refuses a batch that would exceed the limit as a whole, and accepts again once there is room', async () => {
    const q = new Queue<number>('bounded', { connection: redis.url });
    await q.configure({ maxWaiting: 5 });
    expect((await q.settings()).maxWaiting).toBe(5);
    await q.addBulk([1, 2, 3].map((data) => ({ data })));
    await expect(q.addBulk([4, 5, 6].map((data) => ({ data })))).rejects.toBeInstanceOf(QueueFullError);
    expect(await q.counts()).toMatchObject({ waiting: 3, published: 3 });
    const seq = await q.client.hget(q.keys.meta, 'seq');
    expect(seq).toBe('3');
    await q.addBulk([4, 5].map((data) => ({ data })));
    await expect(q.add(6)).rejects.toThrow(/is full/);
    expect(await q.counts()).toMatchObject({ waiting: 5, published: 5 });

    // Working some off makes room again.
    const w = new Worker<number>('bounded', () => undefined, { connection: redis.url, concurrency: 5 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 5, 5000, 'drained');
    await w.close();
    await q.addBulk([6, 7, 8, 9, 10].map((data) => ({ data })));
    expect((await q.counts()).waiting).toBe(5);

    await q.configure({ maxWaiting: 0 });
    await q.addBulk(Array.from({ length: 20 }, (_, i) => ({ data: i })));
    expect((await q.counts()).waiting).toBe(25);
    await expect(q.configure({ maxWaiting: -1 })).rejects.toThrow(UsageError);
    await q.close();
  });

  it('on a full queue, a repeated idempotency key still gets its first id, and a delayed task is accepted', async () => {
    const q = new Queue<string>('bounded-keys', { connection: redis.url });
    await q.configure({ maxWaiting: 1 });
    const first = await q.add('charge 1', { key: 'order-1' });
    // A publisher retrying with its key learns that its task was accepted.
    expect(await q.add('charge 1', { key: 'order-1' })).toBe(first);
    expect(await q.addBulk([{ data: 'charge 1', opts: { key: 'order-1' } }, { data: 'charge 1', opts: { key: 'order-1' } }])).toEqual([first, first]);
    // A delayed task does not wait for a worker yet: it does not count.
    const later = await q.add('later', { delay: 3_600_000 });
    // A new task due now does.
    await expect(q.add('charge 2', { key: 'order-2' })).rejects.toBeInstanceOf(QueueFullError);
    await expect(q.add('plain')).rejects.toBeInstanceOf(QueueFullError);
    expect(await q.counts()).toMatchObject({ waiting: 1, delayed: 1, published: 2 });
    expect((await q.getTask(later))!.state).toBe('delayed');
    await q.close();
  });
});

describe('idle workers', () => {
  it('wakes a worker blocked on Redis as soon as a task is published', async () => {
    const q = new Queue('wake', { connection: redis.url });
    const started: number[] = [];
    const w = new Worker('wake', () => void started.push(Date.now()), { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    const probe = redis.client();
    // Wait until its blocking connection sits in BZPOPMIN, then a little more so any
    // start-up activity is over and only a wake-up can make it fetch.
    await waitFor(
      async () => ((await probe.client('LIST')) as string).split('\n').some((l) => l.includes(`name=redtask:worker:${w.id}:block`) && l.includes('cmd=bzpopmin')),
      5000,
      'worker blocked',
    );
    await sleep(1200);
    expect(started).toEqual([]);

    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      await q.add(i);
      await waitFor(() => started.length === i + 1, 5000, `task ${i} picked up`);
      // The blocking call lasts 5 s and the heartbeat does not fetch: under 1 s means woken.
      expect(started[i]! - t0).toBeLessThan(1000);
      await sleep(300);
    }
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('wakes every idle worker when several tasks arrive at once', async () => {
    const q = new Queue('wake-many', { connection: redis.url });
    const by = new Map<string, number>();
    const workers = [0, 1, 2].map(
      () =>
        new Worker('wake-many', async (_t) => {
          await sleep(300);
        }, { connection: redis.url }),
    );
    for (const w of workers) {
      collectErrors(w);
      w.on('started', () => by.set(w.id, (by.get(w.id) ?? 0) + 1));
      await w.start();
    }
    await sleep(300);
    await q.addBulk([1, 2, 3].map((data) => ({ data })));
    // One worker alone would finish all three in 0.9 s, long before a 5 s blocking call ends:
    // all three start a task only if each was woken.
    await waitFor(() => by.size === 3, 4000, 'all three workers started a task');
    for (const w of workers) await w.close();
    expect(await q.counts()).toMatchObject({ completed: 3 });
    await q.close();
  });
  it('passes a wake-up on only from the call that took the marker, not from a busy worker', async () => {
    // The marker wakes one idle worker; that worker's call sets it again when tasks remain, so the
    // next idle worker wakes too. A busy worker's finish call never took the marker: it leaves it
    // alone (a command fewer per call on the hot path), and the chain stays intact.
    const q = new Queue('wake-pass', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await q.addBulk([1, 2, 3, 4].map((data) => ({ data })));
    await c.del(k.marker);
    const now = Date.now();
    const [first] = (await runScript(c, 'reserve', scriptKeys.reserve(k), reserveArgs(now, 30_000, 1, 'w.1', false))) as string[];
    expect(await c.zscore(k.marker, 'm')).toBe('0');
    await c.del(k.marker);
    const done = (record: string, token: string) => ({ id: record.split('|')[0]!, token, kind: 'c', value: 'null', at: 0 });
    const busy = finishArgs(now, 30_000, 1, 'w.2', { retry: false, wake: false }, [done(first!, 'w.1')]);
    const second = finishReply((await runScript(c, 'finish', scriptKeys.finish(k), busy.args)) as string[]).records;
    expect(second).toHaveLength(1);
    expect(await c.zscore(k.marker, 'm')).toBeNull();
    const woken = finishArgs(now, 30_000, 1, 'w.3', { retry: false, wake: true }, [done(second[0]!, 'w.2')]);
    expect(finishReply((await runScript(c, 'finish', scriptKeys.finish(k), woken.args)) as string[]).records).toHaveLength(1);
    expect(await c.zscore(k.marker, 'm')).toBe('0');
    expect(await q.counts()).toMatchObject({ waiting: 1, active: 1, completed: 2 });
    await q.close();
  });
});

describe('progress', () => {
  it('shows the last progress of a running task and clears it when the task ends', async () => {
    const q = new Queue('progress', { connection: redis.url });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = new Worker(
      'progress',
      async (_t, ctx) => {
        await ctx.progress({ pct: 50 });
        await gate;
        return 'ok';
      },
      { connection: redis.url },
    );
    collectErrors(w);
    await w.start();
    const id = await q.add(null);
    const publishedAt = Date.now();
    const running = await waitFor(async () => {
      const t = await q.getTask(id);
      return t?.progress ? t : undefined;
    }, 5000, 'progress');
    expect(running.state).toBe('active');
    // Who runs it, since when, and which attempt.
    expect(running).toMatchObject({ worker: w.id, attempts: 1, maxAttempts: 3 });
    expect(running.startedAt).toBeGreaterThanOrEqual(publishedAt - 1000);
    expect(running.startedAt).toBeLessThanOrEqual(Date.now());
    expect(running.progress).toEqual({ pct: 50 });
    expect(running.leaseUntil).toBeGreaterThan(Date.now() - 1000);
    release();
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 5000, 'completed');
    await w.close();
    expect(await q.client.hexists(q.keys.progress, id)).toBe(0);
    await q.close();
  });
});
