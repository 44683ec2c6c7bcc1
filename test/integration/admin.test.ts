import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { runScript, scriptKeys } from '../../src/shared/scripts.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('inspect and retry', () => {
  it('lists tasks by state, next to run first or newest first', async () => {
    const q = new Queue<string>('list', { connection: redis.url });
    const ids = await q.addBulk(['a', 'b', 'c', 'd'].map((data) => ({ data })));
    const urgent = await q.add('urgent', { priority: 9 });
    const later = await q.add('later', { delay: 60_000 });
    const waiting = await q.listTasks('waiting', { limit: 10 });
    expect(waiting.map((t) => t.data)).toEqual(['a', 'b', 'c', 'd', 'urgent']);
    expect((await q.listTasks('waiting', { offset: 1, limit: 2 })).map((t) => t.id)).toEqual([ids[1], ids[2]]);
    expect((await q.listTasks('delayed')).map((t) => t.id)).toEqual([later]);
    expect(urgent).toBeTruthy();
    await q.close();
  });

  it('retry sends dead-lettered tasks back with fresh attempts and keeps their history', async () => {
    const q = new Queue<string>('retry-dead', { connection: redis.url });
    const ids = await q.addBulk(['x', 'y', 'z'].map((data) => ({ data, opts: { attempts: 1 } })));
    let healthy = false;
    const w = new Worker<string>('retry-dead', (t) => {
      if (!healthy) throw new Error(`broken ${t.data}`);
      return `fixed ${t.data}`;
    }, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).deadRetained === 3, 5000, 'all dead');
    expect((await q.listTasks('dead')).map((t) => t.id).sort()).toEqual([...ids].sort());
    healthy = true;
    expect(await q.retry([ids[0]!])).toBe(1);
    expect(await q.retry([ids[0]!])).toBe(0); // not dead any more
    await waitFor(async () => (await q.getTask(ids[0]!))?.state === 'completed', 5000, 'first retried');
    const first = await q.getTask(ids[0]!);
    expect(first?.result).toBe('fixed x');
    expect(first?.errors.map((e) => e.error)).toEqual(['broken x']);
    expect(await q.retryAllDead()).toBe(2);
    await waitFor(async () => (await q.counts()).completed === 3, 5000, 'all completed');
    expect((await q.counts()).deadRetained).toBe(0);
    await w.close();
    await q.close();
  });

  it('retryAllDead sends back each task that was dead when called once, though a worker dead-letters it again meanwhile', async () => {
    const q = new Queue<string>('retry-all', { connection: redis.url });
    const n = 2500;
    const ids = await q.addBulk(Array.from({ length: n }, (_, i) => ({ data: `t${i}`, opts: { attempts: 1 } })));
    const w = new Worker<string>('retry-all', () => {
      throw new Error('still broken');
    }, { connection: redis.url, concurrency: 50 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).deadRetained === n, 20_000, 'all dead');
    // The worker keeps running: the tasks sent back fail and die again while later pages go.
    expect(await q.retryAllDead()).toBe(n);
    await waitFor(async () => (await q.counts()).deadRetained === n, 20_000, 'all dead again');
    await w.close();
    for (const id of [ids[0]!, ids[999]!, ids[1000]!, ids[n - 1]!]) expect((await q.getTask(id))?.errors).toHaveLength(2);
    expect(Number(await q.client.hget(q.keys.meta, 'retriedByHand'))).toBe(n);

    // Pages by the time each died: 1,500 tasks that died in the same millisecond (more than a
    // page) and the rest at other times are all read once.
    const c = q.client;
    const m = c.multi();
    ids.forEach((id, i) => m.zadd(q.keys.dead, i < 1500 ? 1000 : 2000 + i, id));
    await m.exec();
    expect(await q.retryAllDead()).toBe(n);
    expect(await c.zcard(q.keys.dead)).toBe(0);
    expect((await q.counts()).waiting).toBe(n);
    expect(await q.retryAllDead()).toBe(0);
    await q.close();
  });

  it('fsck repairs an active task without a lease, a stale lease, a record in no state, and group counts', async () => {
    const q = new Queue<string>('fsck', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const [a, b] = await q.addBulk([{ data: 'a' }, { data: 'b' }]);
    // a: taken by a "worker" whose lease entry got lost.
    const rec = (await c.lrange(k.wait, -1, -1))[0]!;
    await c.multi().rpop(k.wait).hset(k.active, a!, `ghost.1|${rec}`).exec();
    // Stale leases: a member without a token, which is the lease of no task ("<id>"); one of
    // task a under a token that does not hold it ("<id>|<token>").
    await c.zadd(k.lease, Date.now() + 60_000, '9999', Date.now() + 60_000, `${a}|ghost.0`);
    await c.hset(k.data, '8888', '8888|0|3|1795696585356|||"orphan"');
    await c.hset(k.gactive, 'tenant', 5);
    const r = await q.fsck();
    expect(r).toEqual({ orphanActive: 1, staleLease: 2, orphanRecord: 1, groupCounts: 0, schedules: 0, setAside: [] });
    expect(await c.zscore(k.lease, '9999')).toBeNull();
    expect(await c.zscore(k.lease, `${a}|ghost.0`)).toBeNull();
    // Task a got an expired lease of the token that holds it.
    expect(Number(await c.zscore(k.lease, `${a}|ghost.1`))).toBeLessThanOrEqual(Date.now());
    expect(await c.hgetall(k.gactive)).toEqual({});
    expect((await q.getTask('8888'))?.state).toBe('dead');
    // The lease it gave task a has expired: a worker's maintenance recovers it and runs it.
    const ran: string[] = [];
    const w = new Worker<string>('fsck', (t) => void ran.push(t.data), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(() => ran.includes('a') && ran.includes('b'), 5000, 'both ran');
    await w.close();
    expect(b).toBeTruthy();
    // Nothing left to repair.
    expect(await q.fsck()).toEqual({ orphanActive: 0, staleLease: 0, orphanRecord: 0, groupCounts: 0, schedules: 0, setAside: [] });
    // A schedule whose pending fire was deleted gets it back.
    await q.schedule('nightly', 'report', { cron: '0 3 * * *' });
    await c.zrem(k.schednext, 'nightly');
    expect((await q.fsck()).schedules).toBe(1);
    expect(Number(await c.zscore(k.schednext, 'nightly'))).toBeGreaterThan(Date.now());
    await q.close();
  });

  it("fsck first sets aside what does not fit the queue's structure, then repairs the rest, and says what it set aside", async () => {
    const q = new Queue<string>('fsck-structure', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await q.add('a');
    // A key of the wrong type would make the scans below fail (WRONGTYPE); a counter that is not a number.
    await c.set(k.active, 'not a hash');
    await c.hset(k.meta, 'completed', 'many');
    const r = await q.fsck();
    expect(r.setAside.join('\n')).toMatch(/active: a string, not a hash/);
    expect(r.setAside.join('\n')).toMatch(/completed/);
    expect(r).toMatchObject({ orphanActive: 0, staleLease: 0, orphanRecord: 0 });
    expect(await c.get(`${k.active}:quarantined`)).toBe('not a hash');
    expect((await q.counts()).waiting).toBe(1);
    expect((await q.fsck()).setAside).toEqual([]);
    await q.close();
  });

  it('delete removes a task that is not running; purge empties a state', async () => {
    const q = new Queue<string>('purge', { connection: redis.url });
    const ids = await q.addBulk(['a', 'b', 'c'].map((data) => ({ data })));
    const urgent = await q.add('urgent', { priority: 3 });
    await q.add('later', { delay: 60_000 });
    expect(await q.delete(ids[1]!)).toBe('waiting');
    expect(await q.delete(urgent)).toBe('waiting');
    expect(await q.getTask(ids[1]!)).toBeNull();
    expect(await q.delete('12345')).toBeNull();
    expect((await q.counts()).waiting).toBe(2);
    expect(await q.purge('waiting')).toBe(2);
    expect(await q.purge('delayed')).toBe(1);
    expect(await q.counts()).toMatchObject({ waiting: 0, delayed: 0 });
    expect(await q.client.hlen(q.keys.data)).toBe(0);
    await q.close();
  });

  it('delete and purge leave alone a task that a worker took or that changed state since they looked', async () => {
    const q = new Queue<string>('remove-race', { connection: redis.url });
    const remove = (args: string[]) => runScript(q.client, 'remove', scriptKeys.remove(q.keys), args);
    const [a, b] = await q.addBulk([{ data: 'a' }, { data: 'b' }]);
    const record = (await q.client.lrange(q.keys.wait, -1, -1))[0]!;
    // a is taken by a worker after delete read its record from the list.
    await q.client.multi().rpop(q.keys.wait).hset(q.keys.active, a!, `w1.1|${record}`).exec();
    expect(await remove(['task', a!, record])).toBe('active');
    await expect(q.delete(a!)).rejects.toThrow(/is running: cancel it first/);
    expect(await q.client.hexists(q.keys.active, a!)).toBe(1);
    // A delayed task that became a waiting prioritized one since purge read the delayed set.
    const c = await q.add('c', { priority: 5 });
    expect(await remove(['delayed', c])).toBe(0);
    expect(await remove(['dead', c, b!])).toBe(0);
    expect((await q.getTask(c))?.state).toBe('waiting');
    expect(await q.client.hexists(q.keys.data, c)).toBe(1);
    // What is in the state it names goes, with what was kept about it.
    expect(await remove(['waiting', c])).toBe(1);
    expect(await q.client.hexists(q.keys.data, c)).toBe(0);
    expect(await q.delete(b!)).toBe('waiting');
    expect(await q.delete(b!)).toBeNull();
    expect(await q.client.llen(q.keys.wait)).toBe(0);
    await q.close();
  });

  it('finds a task near the old end of a long list while tasks keep being published', async () => {
    const q = new Queue<string>('long-list', { connection: redis.url });
    const producer = new Queue<string>('long-list', { connection: redis.url });
    const [oldest] = await q.addBulk(Array.from({ length: 5000 }, (_, i) => ({ data: `t${i}` })));
    let publishing = true;
    const more = (async () => {
      while (publishing) await producer.addBulk(Array.from({ length: 500 }, () => ({ data: 'more' })));
    })();
    try {
      for (let round = 0; round < 3; round++) expect((await q.getTask(oldest!))?.data).toBe('t0');
      expect(await q.cancel(oldest!)).toBe('waiting');
      expect((await q.getTask(oldest!))?.state).toBe('cancelled');
    } finally {
      publishing = false;
      await more;
    }
    await producer.close();
    await q.close();
  });

  it('looks a task up with one scan of the list when it is not found anywhere', async () => {
    const q = new Queue<string>('one-scan', { connection: redis.url });
    await q.addBulk(Array.from({ length: 3500 }, (_, i) => ({ data: `t${i}` })));
    await q.client.hset(q.keys.meta, 'seq', 10_000); // id 9999 was published and is gone
    const lranges = async () => Number(/cmdstat_lrange:calls=(\d+)/.exec(await q.client.info('commandstats'))?.[1] ?? 0);
    const before = await lranges();
    expect(await q.getTask('9999')).toBeNull();
    expect((await lranges()) - before).toBe(4); // 1,000 at a time, the last page short
    await q.close();
  });

  it('lists waiting tasks across the list, the prioritized and the grouped ones, a page at a time', async () => {
    const q = new Queue<string>('list-pages', { connection: redis.url });
    await q.addBulk(['a', 'b'].map((data) => ({ data })));
    await q.addBulk(['p1', 'p2', 'p3'].map((data, i) => ({ data, opts: { priority: 9 - i } })));
    await q.addBulk(['g1', 'g2'].map((data, i) => ({ data, opts: { group: `g${i}` } })));
    const page = async (offset: number, limit: number) => (await q.listTasks('waiting', { offset, limit })).map((t) => t.data);
    expect(await page(0, 10)).toEqual(['a', 'b', 'p1', 'p2', 'p3', 'g1', 'g2']);
    expect(await page(1, 3)).toEqual(['b', 'p1', 'p2']);
    expect(await page(3, 3)).toEqual(['p2', 'p3', 'g1']);
    expect(await page(5, 3)).toEqual(['g1', 'g2']);
    expect(await page(7, 3)).toEqual([]);
    await q.close();
  });

  it('a grouped task id without a record does not hold a place among the candidates', async () => {
    const q = new Queue<string>('ghost-group', { connection: redis.url });
    await q.configure({ groupMaxActive: 1 });
    await q.client.zadd(q.keys.groups, 0, '777');
    await q.add('real', { group: 'g' });
    const ran: string[] = [];
    const w = new Worker<string>('ghost-group', (t) => void ran.push(t.data), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(() => ran.includes('real'), 5000, 'ran');
    await w.close();
    expect(await q.client.zscore(q.keys.groups, '777')).toBeNull();
    await q.close();
  });
});
