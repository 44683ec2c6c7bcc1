import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, TaskAbortedError, Worker } from '../../src/index.js';
import { LEASE_PIN } from '../../src/shared/keys.js';
import { decodeRecord, type TaskRecord } from '../../src/shared/record.js';
import { runScript, scriptKeys } from '../../src/shared/scripts.js';
import { finishArgs, finishReply, type Settlement } from '../../src/shared/settle.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { aborted, collectErrors, deferred, sleep, startProxy } from '../helpers/util.js';


/**
 * Hands a leased task to another reservation ("thief.1") the way recovery and a new reserve
 * would: the entry in `active` and the lease member ("<id>|<token>") both change owner. The
 * thief never renews, so its lease runs out after `leaseMs`.
 */
async function steal(c: Queue['client'], k: Queue['keys'], id: string, cur: string, leaseMs: number): Promise<void> {
  const bar = cur.indexOf('|');
  await c
    .multi()
    .hset(k.active, id, `thief.1|${cur.slice(bar + 1)}`)
    .zrem(k.lease, `${id}|${cur.slice(0, bar)}`)
    .zadd(k.lease, Date.now() + leaseMs, `${id}|thief.1`)
    .exec();
}
let redis: TestRedis;
const children: ChildProcess[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.destroy();
});

const reserveKeys = (q: Queue) => scriptKeys.reserve(q.keys);
const maintainKeys = (q: Queue) => scriptKeys.maintain(q.keys);
const extendKeys = (q: Queue) => scriptKeys.extend(q.keys);
const finishKeys = (q: Queue) => scriptKeys.finish(q.keys);

async function finish(q: Queue, token: string, settle: [id: string, token: string, kind: string, value: string, at: number]): Promise<number> {
  const now = Date.now();
  const [id, held, kind, value, at] = settle;
  const call = finishArgs(now, 30_000, 0, token, { retry: false, wake: false }, [{ id, token: held, kind, value, at }]);
  const reply = finishReply((await runScript(q.client, 'finish', finishKeys(q), call.args)) as string[]);
  expect(reply.records).toEqual([]);
  return reply.applied(0) ? 1 : 0;
}

describe('fencing: a stale lease holder cannot settle', () => {
  it('rejects the late completion of a reservation whose lease expired and was taken over', async () => {
    const q = new Queue('stale', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const id = await q.add({ v: 1 }, { attempts: 3 });
    const t0 = Date.now();

    // Reservation A, with a short lease.
    const gotA = (await runScript(c, 'reserve', reserveKeys(q), [t0, 300, 1, 'workerA.1'])) as string[];
    expect(gotA).toHaveLength(1);
    expect(gotA[0]!.startsWith(`${id}|0|3|`)).toBe(true);
    expect(await c.hget(k.active, id)).toBe(`workerA.1|${gotA[0]}`);

    // Maintenance after A's lease ran out recovers the task: back to waiting, one attempt counted.
    const m = (await runScript(c, 'maintain', maintainKeys(q), [t0 + 1000, 1000, 15_000])) as number[];
    expect(m.slice(0, 3)).toEqual([1, 0, 0]);
    const recovered = (await q.getTask(id))!;
    expect(recovered.state).toBe('waiting');
    expect(recovered.attempts).toBe(1);
    expect(recovered.errors).toHaveLength(1);
    expect(recovered.errors[0]!.error).toMatch(/lease expired: worker workerA/);

    // Reservation B takes it.
    const gotB = (await runScript(c, 'reserve', reserveKeys(q), [Date.now(), 30_000, 1, 'workerB.1'])) as string[];
    expect(gotB).toHaveLength(1);
    expect(gotB[0]!.startsWith(`${id}|1|3|`)).toBe(true);

    // A comes back late: its completion, failure, dead-lettering and hand-back are all refused.
    expect(await finish(q, 'workerA.2', [id, 'workerA.1', 'c', '"from A"', 0])).toBe(0);
    expect(await finish(q, 'workerA.2', [id, 'workerA.1', 'r', '{"attempt":1,"at":0,"error":"late"}', Date.now()])).toBe(0);
    expect(await finish(q, 'workerA.2', [id, 'workerA.1', 'd', '{"attempt":1,"at":0,"error":"late"}', 0])).toBe(0);
    expect(await finish(q, 'workerA.2', [id, 'workerA.1', 'q', '', 0])).toBe(0);
    // A token that merely starts like B's does not pass either.
    expect(await finish(q, 'x', [id, 'workerB', 'c', '"prefix"', 0])).toBe(0);
    expect((await c.hget(k.active, id))!.startsWith('workerB.1|')).toBe(true);
    expect(await q.counts()).toMatchObject({ active: 1, waiting: 0, completed: 0, retried: 0, failed: 0, recovered: 1 });

    // A's heartbeat reports the task as lost; B's renews it.
    const lostA = await runScript(c, 'extend', extendKeys(q), [Date.now(), 30_000, 'workerA', '{}', id, 'workerA.1']);
    expect(lostA).toEqual([[id], []]);
    const lostB = await runScript(c, 'extend', extendKeys(q), [Date.now(), 30_000, 'workerB', '{}', id, 'workerB.1']);
    expect(lostB).toEqual([[], []]);

    // B completes; only once.
    expect(await finish(q, 'workerB.2', [id, 'workerB.1', 'c', '"from B"', 0])).toBe(1);
    expect(await finish(q, 'workerB.2', [id, 'workerB.1', 'c', '"again"', 0])).toBe(0);
    expect(await finish(q, 'workerA.3', [id, 'workerA.1', 'c', '"from A"', 0])).toBe(0);

    const done = (await q.getTask(id))!;
    expect(done.state).toBe('completed');
    expect(done.result).toBe('from B');
    expect(done.errors).toHaveLength(1);
    expect(await q.counts()).toMatchObject({ active: 0, waiting: 0, completed: 1, completedRetained: 1, recovered: 1, failed: 0 });
    // Only the pin is left in the lease ZSET, and it keeps the ZSET in its skiplist encoding.
    expect(await c.zrange(k.lease, 0, -1, 'WITHSCORES')).toEqual([LEASE_PIN, 'inf']);
    expect(await c.object('ENCODING', k.lease)).toBe('skiplist');
    await q.close();
  });

  it('dead-letters a recovered task whose last attempt it was', async () => {
    const q = new Queue('stale-last', { connection: redis.url });
    const c = q.client;
    const id = await q.add('x', { attempts: 1 });
    const t0 = Date.now();
    expect(await runScript(c, 'reserve', reserveKeys(q), [t0, 100, 1, 'gone.1'])).toHaveLength(1);
    const m = (await runScript(c, 'maintain', maintainKeys(q), [t0 + 500, 1000, 15_000])) as number[];
    expect(m.slice(0, 3)).toEqual([0, 0, 1]);
    const t = (await q.getTask(id))!;
    expect(t.state).toBe('dead');
    expect(t.errors[0]!.error).toMatch(/lease expired/);
    expect(await finish(q, 'gone.2', [id, 'gone.1', 'c', '"late"', 0])).toBe(0);
    expect(await q.counts()).toMatchObject({ failed: 1, completed: 0, recovered: 0, deadRetained: 1, active: 0 });
    await q.close();
  });

  it('aborts a running handler with reason lease-lost when its reservation is taken away', async () => {
    const q = new Queue('lease-lost', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const reasons: unknown[] = [];
    const w = new Worker(
      'lease-lost',
      async (t, ctx) => {
        if (t.attempt === 1) {
          const reason = await aborted(ctx.signal);
          reasons.push(reason);
          throw reason;
        }
        return `attempt ${t.attempt}`;
      },
      { connection: redis.url, leaseMs: 600 },
    );
    const lost: string[] = [];
    w.on('lost', (t) => lost.push(t.id));
    const errors = collectErrors(w);
    await w.start();
    const id = await q.add('payload', { attempts: 3 });
    const cur = await waitFor(() => c.hget(k.active, id), 5000, 'task active');
    expect(cur.startsWith(`${w.id}.`)).toBe(true);

    // Another reservation now holds it (as if maintenance had handed it to worker "thief").
    await steal(c, k, id, cur, 600);

    await waitFor(() => reasons.length === 1, 5000, 'abort');
    const reason = reasons[0];
    expect(reason).toBeInstanceOf(TaskAbortedError);
    expect((reason as TaskAbortedError).reason).toBe('lease-lost');
    // The handler's failure is refused (the lease is the thief's): reported as lost, not counted.
    await waitFor(() => lost.includes(id), 5000, 'lost event');
    expect((await c.hget(k.active, id))!.startsWith('thief.1|')).toBe(true);

    // The thief never renews, so the task is recovered and runs again here.
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 10_000, 'completed');
    await w.close();
    const t = (await q.getTask(id))!;
    expect(t.result).toBe('attempt 2');
    expect(t.errors).toHaveLength(1);
    expect(t.errors[0]!.error).toMatch(/lease expired: worker thief/);
    expect(await q.counts()).toMatchObject({ completed: 1, recovered: 1, retried: 0, failed: 0 });
    expect(errors).toEqual([]);
    await q.close();
  });

  it('a lost-lease reply about a stale run does not reach the new run of the same task', async () => {
    const q = new Queue('stale-reply', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const signals: AbortSignal[] = [];
    const w = new Worker('stale-reply', async (_t, ctx) => {
      signals.push(ctx.signal);
      await aborted(ctx.signal);
    }, { connection: redis.url, concurrency: 2, leaseMs: 30_000, schedules: false });
    collectErrors(w);
    await w.start();
    const id = await q.add(null);
    const cur = await waitFor(() => c.hget(k.active, id), 5000, 'task active');
    await waitFor(() => signals.length === 1, 5000, 'first run');
    // Another worker took the lease (as after a recovery); then, while this worker's renewal
    // for the first run is on its way, the task is leased to this worker again under the thief's
    // token (the one Redis now holds).
    await steal(c, k, id, cur, 30_000);
    // White-box: the worker's heartbeat and task runner (see src/shared/worker/).
    const inner = w as unknown as { heartbeat: { beating: boolean; beat(): Promise<void> }; runner: { start(q: string, rec: TaskRecord, token: string): void } };
    await waitFor(() => !inner.heartbeat.beating, 5000, 'no renewal in flight');
    const renewal = inner.heartbeat.beat();
    inner.runner.start('stale-reply', decodeRecord(cur.slice(cur.indexOf('|') + 1)), 'thief.1');
    await renewal;
    expect(signals).toHaveLength(2);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[1]!.aborted).toBe(false);
    await w.close(0);
    await q.close();
  });

  it('keeps renewing a re-reserved task while the stale run of it is still finishing on the same worker', async () => {
    const leaseMs = 600;
    const q = new Queue('zombie', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const releaseZombie = deferred();
    const secondStarted = deferred();
    const attempts: number[] = [];
    const w = new Worker(
      'zombie',
      async (t) => {
        attempts.push(t.attempt);
        if (t.attempt === 1) {
          await releaseZombie.promise; // ignores its abort signal
          return 'zombie';
        }
        secondStarted.resolve();
        await sleep(leaseMs * 4); // far longer than a lease: it must be renewed meanwhile
        return `attempt ${t.attempt}`;
      },
      { connection: redis.url, concurrency: 2, leaseMs },
    );
    const lost: string[] = [];
    w.on('lost', (t) => lost.push(t.id));
    const errors = collectErrors(w);
    await w.start();
    const id = await q.add(null, { attempts: 5 });
    const cur = await waitFor(() => c.hget(k.active, id), 5000, 'task active');
    await steal(c, k, id, cur, leaseMs);

    await secondStarted.promise;
    // The stale first run ends now; its result must be refused without disturbing the second run.
    releaseZombie.resolve();
    await waitFor(() => lost.includes(id), 5000, 'lost event of the stale run');
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 10_000, 'completed');
    await w.close();

    expect(attempts).toEqual([1, 2]);
    const t = (await q.getTask(id))!;
    expect(t.result).toBe('attempt 2');
    expect(await q.counts()).toMatchObject({ completed: 1, recovered: 1 });
    expect(errors).toEqual([]);
    await q.close();
  });
});

describe('finish: plain completions grouped by token', () => {
  it('settles five-value settlements and grouped ids in one call, reporting statuses in the order sent', async () => {
    const q = new Queue('grouped', { connection: redis.url });
    const c = q.client;
    await q.addBulk([1, 2, 3, 4, 5].map((n) => ({ data: n })));
    const now = Date.now();
    const a = ((await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 3, 'w.1', '0'])) as string[]).map((e) => e.split('|')[0]!);
    const b = ((await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 2, 'w.2', '0'])) as string[]).map((e) => e.split('|')[0]!);
    const error = JSON.stringify({ attempt: 1, at: now, error: 'boom', worker: 'w' });
    const plain = (id: string, token: string): Settlement => ({ id, token, kind: 'c', value: 'null', at: 0 });
    // Two groups of plain completions: w.1 with a[1] and b[0] (b[0] was leased under w.2, not
    // w.1), and w.2 with b[0] and b[1].
    const settles = [plain(a[1]!, 'w.1'), plain(b[0]!, 'w.1'), { id: a[0]!, token: 'w.1', kind: 'd', value: error, at: 0 }, plain(b[0]!, 'w.2'), plain(b[1]!, 'w.2')];
    const call = finishArgs(now, 30_000, 0, 'w.3', { retry: false, wake: false }, settles);
    // The detailed settlement goes first, then the plain ones grouped by token.
    expect(call.order.map((s) => s.id)).toEqual([a[0], a[1], b[0], b[0], b[1]]);
    const reply = finishReply((await runScript(c, 'finish', finishKeys(q), call.args)) as string[]);
    expect(reply.records).toEqual([]);
    // a[0] dead-lettered; a[1] completed; b[0] under the wrong token refused, then under its own completed; b[1] completed.
    expect(call.order.map((_, i) => reply.applied(i))).toEqual([true, true, false, true, true]);
    expect(await q.counts()).toMatchObject({ active: 1, completed: 3, failed: 1, waiting: 0 });
    expect((await q.getTask(a[0]!))!.state).toBe('dead');
    for (const id of [a[1]!, b[0]!, b[1]!]) expect((await q.getTask(id))!).toMatchObject({ state: 'completed', result: null });
    // a[2] is still leased under w.1.
    expect((await q.getTask(a[2]!))!.state).toBe('active');
    await q.close();
  });

  it('with nothing kept, checks plain completions by their lease members alone, and still refuses the ones not held', async () => {
    const q = new Queue('members', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await q.configure({ keepCompleted: 0 });
    await q.addBulk([1, 2, 3, 4].map((n) => ({ data: n })));
    const now = Date.now();
    const ids = ((await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 4, 'w.1', '0'])) as string[]).map((e) => e.split('|')[0]!);
    // Each lease member carries its reservation's token.
    expect((await c.zrange(k.lease, 0, -1)).filter((m) => m !== LEASE_PIN).sort()).toEqual(ids.map((id) => `${id}|w.1`).sort());
    const plain = (id: string, token: string): Settlement => ({ id, token, kind: 'c', value: 'null', at: 0 });
    // All held: applied, and nothing of them is left.
    let call = finishArgs(now, 30_000, 0, 'w.2', { retry: false, wake: false }, [plain(ids[0]!, 'w.1'), plain(ids[1]!, 'w.1')]);
    let reply = finishReply((await runScript(c, 'finish', finishKeys(q), call.args)) as string[]);
    expect([reply.applied(0), reply.applied(1)]).toEqual([true, true]);
    // One of the next two was handed to another reservation: only the other is applied.
    await steal(c, k, ids[3]!, (await c.hget(k.active, ids[3]!))!, 30_000);
    call = finishArgs(now, 30_000, 0, 'w.2', { retry: false, wake: false }, [plain(ids[2]!, 'w.1'), plain(ids[3]!, 'w.1')]);
    reply = finishReply((await runScript(c, 'finish', finishKeys(q), call.args)) as string[]);
    expect([reply.applied(0), reply.applied(1)]).toEqual([true, false]);
    expect(await q.counts()).toMatchObject({ active: 1, completed: 3, waiting: 0 });
    expect(await c.zcard(k.completed)).toBe(0);
    // The thief's lease and entry are untouched.
    expect((await c.hget(k.active, ids[3]!))!.startsWith('thief.1|')).toBe(true);
    expect(await c.zscore(k.lease, `${ids[3]}|thief.1`)).not.toBeNull();
    expect((await c.zrange(k.lease, 0, -1)).filter((m) => m !== LEASE_PIN)).toEqual([`${ids[3]}|thief.1`]);
    await q.close();
  });

  it('ignores an expired lease member of a token that no longer holds its task', async () => {
    const q = new Queue('old-members', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await q.add(1);
    const now = Date.now();
    const [y] = ((await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 1, 'w.1', '0'])) as string[]).map((e) => e.split('|')[0]!);
    // y: an expired member of a token that no longer holds the task (its entry belongs to w.9,
    // whose own member is still far from due).
    const yEntry = (await c.hget(k.active, y!))!;
    await c.multi().hset(k.active, y!, `w.9|${yEntry.slice(yEntry.indexOf('|') + 1)}`).zadd(k.lease, now - 10, `${y}|w.1`).zadd(k.lease, now + 30_000, `${y}|w.9`).exec();
    const [recovered] = (await runScript(c, 'maintain', maintainKeys(q), [now, 1000, 30_000])) as number[];
    expect(recovered).toBe(0);
    expect((await q.getTask(y!))!).toMatchObject({ state: 'active', leaseUntil: now + 30_000 });
    expect((await c.zrange(k.lease, 0, -1)).filter((m) => m !== LEASE_PIN)).toEqual([`${y}|w.9`]);
    await q.close();
  });
});

describe('a reply lost in a disconnect strands nothing', () => {
  it('returns the tasks leased under a token when the same token is sent again as a retry', async () => {
    const q = new Queue('lost-reply', { connection: redis.url });
    const c = q.client;
    await q.addBulk([1, 2, 3, 4, 5].map((n) => ({ data: n })));
    const now = Date.now();
    // The first call leased two tasks, but its reply never reached the worker.
    const first = (await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 2, 'w1.7', '0'])) as string[];
    expect(first).toHaveLength(2);
    // The worker sends the same token again, marked as a retry: it gets those two back, and no more.
    const again = (await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 2, 'w1.7', '1'])) as string[];
    expect(again.sort()).toEqual([...first].sort());
    expect(await q.counts()).toMatchObject({ waiting: 3, active: 2 });
    // Asking for more on the retry tops it up from the queue.
    const more = (await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 3, 'w1.7', '1'])) as string[];
    expect(more).toHaveLength(3);
    expect(await q.counts()).toMatchObject({ waiting: 2, active: 3 });
    // Without the retry flag a token is never looked up again.
    const fresh = (await runScript(c, 'reserve', reserveKeys(q), [now, 30_000, 1, 'w1.7', '0'])) as string[];
    expect(fresh).toHaveLength(1);
    expect(first).not.toContain(fresh[0]);
  });

  it('a worker whose reply is lost after Redis ran its call gets the leased task back, with no attempt counted', async () => {
    // A proxy that can swallow the next reply from Redis and cut the connections, as a network
    // failure right after Redis executed a call would.
    const { createServer, connect } = await import('node:net');
    const { freePort } = await import('../helpers/redis.js');
    const port = await freePort();
    let dropNextReply = false;
    let dropped = 0;
    const sockets = new Set<import('node:net').Socket>();
    const server = createServer((client) => {
      const upstream = connect(redis.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.on('data', (b) => upstream.write(b));
      upstream.on('data', (b) => {
        if (dropNextReply) {
          dropNextReply = false;
          dropped++;
          for (const s of sockets) s.destroy();
          sockets.clear();
          return;
        }
        client.write(b);
      });
      for (const s of [client, upstream]) s.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy()));
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));

    const q = new Queue('lost-reply-worker', { connection: redis.url });
    await q.addBulk(Array.from({ length: 10 }, (_, i) => ({ data: i, opts: { attempts: 1 } })));
    const seen: number[] = [];
    const w = new Worker<number>('lost-reply-worker', (t) => {
      seen.push(t.data);
      // The reply to the call that settles this task and leases the next one is lost.
      if (t.data === 4) dropNextReply = true;
      return t.data;
    }, { connection: `redis://127.0.0.1:${port}`, concurrency: 1, leaseMs: 1000 });
    w.on('error', () => undefined);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 10, 20_000, 'all completed');
    // Long enough for a stranded lease (1 s) to have been recovered and dead-lettered.
    await sleep(2000);
    await w.close();
    server.close();
    expect(dropped).toBe(1);
    // attempts: 1 means a task stranded by the lost reply would have been dead-lettered by its lease.
    expect(await q.counts()).toMatchObject({ completed: 10, failed: 0, recovered: 0, active: 0, waiting: 0 });
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await q.close();
  });
});

describe('network partition', () => {
  it('tells a handler to stop once its lease has run out while its worker cannot reach Redis', async () => {
    const leaseMs = 600;
    const proxy = await startProxy(redis.port);
    const q = new Queue('partition', { connection: redis.url });
    const reasons: unknown[] = [];
    let started = false;
    const cutOff = new Worker(
      'partition',
      async (_t, ctx) => {
        started = true;
        const reason = await aborted(ctx.signal);
        reasons.push(reason);
        throw reason;
      },
      { connection: proxy.url, leaseMs },
    );
    collectErrors(cutOff);
    await cutOff.start();
    const id = await q.add('x', { attempts: 3 });
    // (Started, not just leased: a cut between the lease and its reply reaching the worker would
    // leave no handler to stop.)
    await waitFor(() => started, 5000, 'the handler started');

    await proxy.cut();
    // Meanwhile the rest of the system recovers the task and runs it elsewhere.
    const other = new Worker('partition', () => 'done elsewhere', { connection: redis.url, leaseMs });
    collectErrors(other);
    await other.start();
    await waitFor(async () => (await q.getTask(id))?.state === 'completed', 10_000, 'completed elsewhere');
    // The cut-off handler must not keep running alongside: its lease is gone.
    await waitFor(() => reasons.length === 1, 3000, 'the cut-off handler to be aborted');
    expect(reasons[0]).toBeInstanceOf(TaskAbortedError);
    expect((reasons[0] as TaskAbortedError).reason).toBe('lease-lost');

    await proxy.heal();
    await other.close();
    await cutOff.close(100);
    expect(await q.counts()).toMatchObject({ completed: 1, recovered: 1, active: 0 });
    expect(await q.getResult(id)).toBe('done elsewhere');
    await proxy.close();
    await q.close();
  });
});

describe('calls made while Redis is away', () => {
  it('wait until Redis is back: tasks leased after an outage longer than the lease get deadlines ahead, not past ones', async () => {
    const leaseMs = 300;
    const proxy = await startProxy(redis.port);
    const q = new Queue('outage-lease', { connection: redis.url });
    // At each start: how far ahead the task leases end (a lease that ended already is taken
    // for a dead worker's by any worker's maintenance, and the task runs twice).
    const ahead: number[] = [];
    const w = new Worker('outage-lease', async () => {
      const leases = await q.client.zrange(q.keys.lease, 0, -1, 'WITHSCORES');
      for (let i = 0; i < leases.length; i += 2) if (leases[i] !== LEASE_PIN) ahead.push(Number(leases[i + 1]) - Date.now());
    }, { connection: proxy.url, leaseMs, schedules: false });
    collectErrors(w);
    await w.start();
    await proxy.cut();
    const inner = w as unknown as { dispatcher: { wokeUp(pass: string[]): void } };
    await new Promise((resolve) => w.once('waiting', resolve));
    await q.addBulk([{ data: 'a' }, { data: 'b' }]);
    // A wake-up during the outage (past any pause after a failed call).
    await sleep(300);
    inner.dispatcher.wokeUp([]);
    await sleep(leaseMs * 3);
    await proxy.heal();
    await waitFor(async () => (await q.counts()).completed === 2, 10_000, 'both completed');
    expect(ahead.length).toBeGreaterThan(0);
    expect(Math.min(...ahead)).toBeGreaterThan(0);
    expect(await q.counts()).toMatchObject({ completed: 2, recovered: 0, failed: 0 });
    await w.close();
    await proxy.close();
    await q.close();
  });
});

describe('crash recovery', () => {
  const fixture = fileURLToPath(new URL('../fixtures/crash-worker.mjs', import.meta.url));
  const dist = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));

  it('runs the tasks of a SIGKILLed worker again on another worker, each completed once', async () => {
    if (!existsSync(dist)) throw new Error(`${dist} is missing: run "npm run build" before this test`);
    const leaseMs = 1500;
    const q = new Queue<number>('crash', { connection: redis.url });
    const ids = await q.addBulk(Array.from({ length: 10 }, (_, i) => ({ data: i, opts: { attempts: 3 } })));

    const child = spawn(process.execPath, [fixture, redis.url, 'crash', String(leaseMs), 'crashchild'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let childErr = '';
    child.stderr!.on('data', (d: Buffer) => (childErr += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));

    // Its 5 slots are full: 5 tasks active under its tokens, the other 5 waiting.
    const held = await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`crash worker exited early: ${childErr}`);
        const active = await q.client.hgetall(q.keys.active);
        return Object.keys(active).length === 5 ? active : undefined;
      },
      15_000,
      'the child to hold 5 tasks',
    );
    for (const v of Object.values(held)) expect(v.startsWith('crashchild.')).toBe(true);
    expect((await q.counts()).waiting).toBe(5);
    const heldIds = Object.keys(held).sort();

    child.kill('SIGKILL');
    await exited;
    expect(child.signalCode).toBe('SIGKILL');

    const runs = new Map<string, number>();
    const w = new Worker<number>(
      'crash',
      (t) => {
        runs.set(t.id, (runs.get(t.id) ?? 0) + 1);
        return t.data * 10;
      },
      { connection: redis.url, concurrency: 5, leaseMs: 2000 },
    );
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 10, leaseMs + 5000, 'all 10 tasks completed');
    await w.close();

    expect([...runs.keys()].sort()).toEqual([...ids].sort());
    for (const n of runs.values()) expect(n).toBe(1);
    const c = await q.counts();
    expect(c).toMatchObject({ completed: 10, recovered: 5, failed: 0, waiting: 0, active: 0, delayed: 0 });
    for (const id of ids) {
      const t = (await q.getTask(id))!;
      expect(t.state).toBe('completed');
      expect(t.result).toBe(t.data * 10);
      if (heldIds.includes(id)) {
        // The attempt whose lease expired, and the one that completed.
        expect(t.attempts).toBe(2);
        expect(t.errors).toHaveLength(1);
        expect(t.errors[0]!.error).toMatch(/lease expired/);
        expect(t.errors[0]!.worker).toBe('crashchild');
      } else {
        expect(t.attempts).toBe(1);
        expect(t.errors).toEqual([]);
      }
    }
    expect(errors).toEqual([]);
    await q.close();
  });
});
