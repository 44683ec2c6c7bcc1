import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, TaskAbortedError, Worker, type Task } from '../../src/index.js';
import { LEASE_PIN } from '../../src/shared/keys.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { aborted, collectErrors, deferred, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('graceful shutdown', () => {
  it('close() ends although Redis, up, keeps refusing the call that settles the last task', { timeout: 20_000 }, async () => {
    const q = new Queue<number>('close-refused', { connection: redis.url });
    await q.add(1);
    const release = deferred();
    const started = deferred();
    const w = new Worker<number>('close-refused', async () => {
      started.resolve();
      await release.promise;
    }, { connection: redis.url, schedules: false });
    const errors = collectErrors(w);
    await w.start();
    await started.promise;
    await q.client.config('SET', 'maxmemory', '1');
    try {
      release.resolve();
      await waitFor(() => errors.some((e) => /OOM/.test(e.message)), 5000, 'a refused call');
      const t0 = Date.now();
      await w.close(0);
      expect(Date.now() - t0).toBeLessThan(8000);
    } finally {
      await q.client.config('SET', 'maxmemory', '0');
    }
    await q.close();
  });

  it('hands back, unstarted, the tasks that a call in flight when close() began brings', async () => {
    const q = new Queue<number>('close-inflight', { connection: redis.url });
    const ids = await q.addBulk(Array.from({ length: 3 }, (_, i) => ({ data: i, opts: { attempts: 1 } })));
    const started: string[] = [];
    const w = new Worker<number>('close-inflight', async (t) => {
      started.push(t.id);
      await sleep(300);
    }, { connection: redis.url, concurrency: 3, schedules: false });
    const errors = collectErrors(w);
    await w.start(); // its first call, which leases the tasks, is in flight now
    await w.close(10_000);
    expect(started).toEqual([]);
    expect(await q.counts()).toMatchObject({ waiting: 3, active: 0, completed: 0, failed: 0 });
    for (const id of ids) expect((await q.getTask(id))!.attempts).toBe(0);
    expect((await q.client.zrange(q.keys.lease, 0, -1)).filter((m) => m !== LEASE_PIN)).toEqual([]);
    expect(errors).toEqual([]);
    await q.close();
  });

  it('lets running tasks finish within the grace and leaves unstarted ones waiting, uncounted', async () => {
    const q = new Queue<number>('grace', { connection: redis.url });
    const ids = await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: i })));
    const started: string[] = [];
    const signals: AbortSignal[] = [];
    const closing = deferred();
    const w = new Worker<number>(
      'grace',
      async (t, ctx) => {
        started.push(t.id);
        signals.push(ctx.signal);
        // Still running when close() is called, done well within the grace.
        await closing.promise;
        await sleep(100);
        return t.data;
      },
      { connection: redis.url, concurrency: 2 },
    );
    const released: string[] = [];
    w.on('released', (t) => released.push(t.id));
    const errors = collectErrors(w);
    await w.start();
    await waitFor(() => started.length === 2, 5000, 'two tasks started');
    const closed = w.close(10_000);
    closing.resolve();
    await closed;

    // Oldest first: the first two published ran.
    expect(started).toEqual(ids.slice(0, 2));
    expect(released).toEqual([]);
    for (const s of signals) expect(s.aborted).toBe(false);
    expect(await q.counts()).toMatchObject({ completed: 2, waiting: 3, active: 0, delayed: 0, failed: 0, retried: 0 });
    for (const id of ids.slice(0, 2)) expect((await q.getTask(id))!.state).toBe('completed');
    for (const id of ids.slice(2)) {
      const t = (await q.getTask(id))!;
      expect(t.state).toBe('waiting');
      expect(t.attempts).toBe(0);
      expect(t.errors).toEqual([]);
    }
    // The worker removed itself from the queue's worker list.
    expect(await q.workers()).toEqual([]);
    expect(errors).toEqual([]);

    // Nothing was lost: another worker runs the rest, each once.
    const rest: string[] = [];
    const w2 = new Worker<number>('grace', (t) => void rest.push(t.id), { connection: redis.url });
    collectErrors(w2);
    await w2.start();
    await waitFor(async () => (await q.counts()).completed === 5, 5000, 'the rest completed');
    await w2.close();
    expect(rest).toEqual(ids.slice(2));
    await q.close();
  });

  it('hands an unfinished task back to the front of the queue after the grace, attempts unchanged', async () => {
    const q = new Queue<string>('handback', { connection: redis.url });
    const [a, b, c] = await q.addBulk([{ data: 'a' }, { data: 'b' }, { data: 'c' }].map((x) => ({ ...x, opts: { attempts: 2 } })));
    const stubborn = deferred<string>();
    const reasons: unknown[] = [];
    let startedA = false;
    const w = new Worker<string>(
      'handback',
      (_t: Task<string>, ctx) => {
        startedA = true;
        void aborted(ctx.signal).then((r) => reasons.push(r));
        return stubborn.promise; // ignores the abort
      },
      // (A handler that has not returned this long after the abort is not waited for.)
      { connection: redis.url, concurrency: 1, timeoutGraceMs: 300 },
    );
    const released: string[] = [];
    const completed: string[] = [];
    w.on('released', (t) => released.push(t.id));
    w.on('completed', (t) => completed.push(t.id));
    const errors = collectErrors(w);
    await w.start();
    await waitFor(() => startedA, 5000, 'task a started');
    const before = (await q.getTask(a!))!;
    expect(before.state).toBe('active');

    await w.close(300);

    expect(released).toEqual([a]);
    await waitFor(() => reasons.length === 1, 2000, 'abort reason');
    expect(reasons[0]).toBeInstanceOf(TaskAbortedError);
    expect((reasons[0] as TaskAbortedError).reason).toBe('shutdown');

    const t = (await q.getTask(a!))!;
    expect(t.state).toBe('waiting');
    expect(t.attempts).toBe(0);
    expect(t.errors).toEqual([]);
    // Front of the queue: the next RPOP takes it, before b and c.
    expect((await q.client.lindex(q.keys.wait, -1))!.startsWith(`${a}|0|2|`)).toBe(true);
    expect(await q.counts()).toMatchObject({ waiting: 3, active: 0, completed: 0, failed: 0, retried: 0, recovered: 0 });
    expect(await q.client.zrange(q.keys.lease, 0, -1)).toEqual([LEASE_PIN]);

    // The abandoned handler finishing later changes nothing.
    stubborn.resolve('too late');
    await sleep(50);
    expect(completed).toEqual([]);
    expect(await q.counts()).toMatchObject({ waiting: 3, completed: 0 });

    const order: string[] = [];
    const w2 = new Worker<string>('handback', (task) => {
      order.push(task.id);
      return `${task.data} done (attempt ${task.attempt})`;
    }, { connection: redis.url });
    collectErrors(w2);
    await w2.start();
    await waitFor(async () => (await q.counts()).completed === 3, 5000, 'all completed');
    await w2.close();
    expect(order).toEqual([a, b, c]);
    expect(await q.getResult(a!)).toBe('a done (attempt 1)');
    expect(errors).toEqual([]);
    await q.close();
  });

  it('hands a stopped task back only once its handler has returned: no other worker runs it meanwhile', async () => {
    const q = new Queue('handback-late', { connection: redis.url });
    const id = await q.add('x');
    let started = false;
    let stoppedAt = 0;
    // Like an --exec command that takes a while to die after its SIGTERM.
    const a = new Worker(
      'handback-late',
      async (_t, ctx) => {
        started = true;
        const reason = await aborted(ctx.signal);
        await sleep(400);
        stoppedAt = Date.now();
        throw reason;
      },
      { connection: redis.url },
    );
    collectErrors(a);
    await a.start();
    await waitFor(() => started, 5000, 'started on a');
    let startedOnB = 0;
    const b = new Worker('handback-late', () => void (startedOnB = Date.now()), { connection: redis.url });
    collectErrors(b);
    await b.start();
    const released: string[] = [];
    a.on('released', (t) => released.push(t.id));
    await a.close(50);
    expect(released).toEqual([id]);
    await waitFor(() => startedOnB > 0 && stoppedAt > 0, 5000, 'stopped on a, started on b');
    expect(startedOnB).toBeGreaterThanOrEqual(stoppedAt);
    await b.close();
    expect(await q.counts()).toMatchObject({ completed: 1, failed: 0, retried: 0 });
    expect((await q.getTask(id))!.attempts).toBe(1);
    await q.close();
  });

  it('a handler that finishes its task after the shutdown abort completes it (no second run)', async () => {
    const q = new Queue('finish-late', { connection: redis.url });
    const id = await q.add('x');
    let started = false;
    const a = new Worker(
      'finish-late',
      async () => {
        started = true;
        await sleep(300); // does not look at its signal
        return 'done anyway';
      },
      { connection: redis.url },
    );
    collectErrors(a);
    await a.start();
    await waitFor(() => started, 5000, 'started');
    const runsOnB: string[] = [];
    const b = new Worker('finish-late', (t) => void runsOnB.push(t.id), { connection: redis.url });
    collectErrors(b);
    await b.start();
    await a.close(50);
    await sleep(200);
    await b.close();
    expect(runsOnB).toEqual([]);
    expect(await q.getResult(id)).toBe('done anyway');
    expect(await q.counts()).toMatchObject({ completed: 1, waiting: 0, active: 0 });
    await q.close();
  });

  it('close() returns within its limits when Redis stops answering without closing the connection (frozen)', async () => {
    const own = await startRedis();
    const admin = own.client();
    const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))![1]);
    try {
      const q = new Queue('frozen', { connection: own.url });
      await q.add('x');
      let started = false;
      const w = new Worker(
        'frozen',
        async (_t, ctx) => {
          started = true;
          throw await aborted(ctx.signal);
        },
        { connection: own.url },
      );
      w.on('error', () => undefined);
      await w.start();
      await waitFor(() => started, 5000, 'started');
      process.kill(pid, 'SIGSTOP');
      const t0 = Date.now();
      let closed = false;
      const closing = w.close(200).then(() => (closed = true));
      // The grace, 5 s without an answer to the hand-back, and a second or two for QUITs.
      await waitFor(() => closed, 15_000, 'close() returned');
      expect(Date.now() - t0).toBeLessThan(12_000);
      await closing;
      process.kill(pid, 'SIGCONT');
      // The task comes back all the same (its lease, or the hand-back once Redis runs again).
      q.client.on('error', () => undefined);
      await waitFor(async () => ((await q.getTask('1'))?.state === 'waiting' ? true : false), 15_000, 'the task back in the queue');
      await q.close();
    } finally {
      process.kill(pid, 'SIGCONT');
      await own.destroy();
    }
  });

  it('tasks handed back together keep their order at the front of the queue', async () => {
    const q = new Queue<string>('handback-order', { connection: redis.url });
    const ids = await q.addBulk(['a', 'b', 'c', 'd'].map((data) => ({ data })));
    const started: string[] = [];
    const w = new Worker<string>(
      'handback-order',
      async (t, ctx) => {
        started.push(t.id);
        throw await aborted(ctx.signal);
      },
      { connection: redis.url, concurrency: 3 },
    );
    collectErrors(w);
    await w.start();
    await waitFor(() => started.length === 3, 5000, 'three started');
    await w.close(50);
    expect(started).toEqual(ids.slice(0, 3));
    const order: string[] = [];
    const w2 = new Worker<string>('handback-order', (t) => void order.push(t.id), { connection: redis.url });
    collectErrors(w2);
    await w2.start();
    await waitFor(() => order.length === 4, 5000, 'all four');
    await w2.close();
    expect(order).toEqual(ids);
    await q.close();
  });

  it('does not count a failure for a handler that gives up because of the shutdown abort', async () => {
    const q = new Queue('handback-abort', { connection: redis.url });
    const id = await q.add('x', { attempts: 1 });
    let started = false;
    const w = new Worker(
      'handback-abort',
      async (_t, ctx) => {
        started = true;
        throw await aborted(ctx.signal);
      },
      { connection: redis.url },
    );
    const failed: string[] = [];
    w.on('failed', (t) => failed.push(t.id));
    collectErrors(w);
    await w.start();
    await waitFor(() => started, 5000, 'started');
    await w.close(100);
    expect(failed).toEqual([]);
    const t = (await q.getTask(id))!;
    expect(t.state).toBe('waiting');
    expect(t.attempts).toBe(0);
    expect(await q.counts()).toMatchObject({ waiting: 1, failed: 0, deadRetained: 0 });
    await q.close();
  });

  it('closes an idle worker promptly and only once', async () => {
    const w = new Worker('idle-close', () => undefined, { connection: redis.url });
    collectErrors(w);
    await w.start();
    const p1 = w.close(5000);
    const p2 = w.close(5000);
    expect(p2).toBe(p1);
    await p1;
    const probe = redis.client();
    // Both its connections (commands and the blocking one) go away.
    await waitFor(async () => !((await probe.client('LIST')) as string).includes(`redtask:worker:${w.id}`), 5000, 'connections closed');
  });
});

describe('shutdown and wake-ups', () => {
  it('a grouped task handed back at shutdown is counted out of its group, so the group is not held back', async () => {
    const q = new Queue<number>('grace-group', { connection: redis.url });
    await q.configure({ groupMaxActive: 1 });
    await q.add(1, { group: 'tenant' });
    const started = deferred();
    const w = new Worker<number>('grace-group', async (_t, ctx) => {
      started.resolve();
      throw await aborted(ctx.signal);
    }, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await started.promise;
    expect(await q.client.hget(q.keys.gactive, 'tenant')).toBe('1');
    await w.close(50);
    expect(await q.counts()).toMatchObject({ waiting: 1, active: 0 });
    expect(await q.client.hget(q.keys.gactive, 'tenant')).toBeNull();
    // The group's slot is free: another worker takes the task at once.
    const again = deferred();
    const w2 = new Worker<number>('grace-group', () => again.resolve(), { connection: redis.url });
    collectErrors(w2);
    await w2.start();
    await again.promise;
    await w2.close();
    await q.close();
  });

  it('a worker that holds a wake-up it cannot act on sets the marker again for the next idle worker', async () => {
    // A worker that was never started has no free slot, as when its calls in flight filled
    // every slot just before its blocking pop took the marker. (The decision is unit-tested in
    // worker-dispatcher.test.ts; this checks that it reaches Redis.)
    const q = new Queue('wake-back', { connection: redis.url });
    await q.client.del(q.keys.marker);
    const w = new Worker('wake-back', () => undefined, { connection: redis.url });
    (w as unknown as { dispatcher: { wokeUp(pass: string[]): void } }).dispatcher.wokeUp(['wake-back']);
    await waitFor(async () => (await q.client.zscore(q.keys.marker, 'm')) === '0', 2000, 'the marker set again');
    await w.close();
    await q.close();
  });
});

describe('close() during start()', () => {
  it('a worker closed while its start-up call to Redis is on its way starts nothing', async () => {
    const q = new Queue('close-in-start', { connection: `${redis.url}/3` });
    await q.add('x');
    let ran = 0;
    const w = new Worker('close-in-start', () => void ran++, { connection: `${redis.url}/3` });
    // White-box: close() is called just as the worker checks its database (SELECT), and the
    // check's answer comes only once close() has finished.
    // (Once the connection is ready: ioredis itself sends a SELECT while it connects.)
    const inner = w as unknown as { client: { select(db: number): Promise<unknown>; once(e: 'ready', f: () => void): void } };
    const select = inner.client.select.bind(inner.client);
    let closing: Promise<void> | undefined;
    inner.client.once('ready', () => {
      inner.client.select = async (db) => {
        closing = w.close(0);
        const answer = await select(db);
        await closing;
        return answer;
      };
    });
    await w.start();
    await closing;
    await new Promise((r) => setTimeout(r, 300));
    expect(ran).toBe(0);
    expect(await q.counts()).toMatchObject({ waiting: 1, active: 0 });
    // Nothing was left open (a connection made after close() would keep the process alive).
    expect(((await q.client.client('LIST')) as string).includes(`redtask:worker:${w.id}`)).toBe(false);
    await q.close();
  });
});
