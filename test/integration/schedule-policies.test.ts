import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker, type Task } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, deferred, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

/** A worker whose first scheduled run blocks until released; it tracks how many run at once. */
function blockingWorker(queue: string) {
  const started: Task[] = [];
  const release = deferred();
  let running = 0;
  let maxRunning = 0;
  const worker = new Worker(queue, async (t) => {
    started.push(t);
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      if (started.length === 1) await release.promise;
      else await sleep(50);
    } finally {
      running--;
    }
    return null;
  }, { connection: redis.url, concurrency: 3 });
  collectErrors(worker);
  return { worker, started, release, maxRunning: () => maxRunning };
}

describe('overlap policies', () => {
  it('skip: no fire while the previous task runs; fires again once it finished', async () => {
    const q = new Queue('ov-skip', { connection: redis.url });
    await q.schedule('s', 'x', { every: 1000, overlap: 'skip' });
    const b = blockingWorker('ov-skip');
    await b.worker.start();
    await waitFor(() => b.started.length === 1, 15_000, 'first run');
    await waitFor(async () => (await q.getSchedule('s'))!.skipped >= 2, 15_000, 'two skipped fires');
    expect(b.started).toHaveLength(1);
    expect((await q.counts()).published).toBe(1);
    b.release.resolve();
    await waitFor(() => b.started.length >= 3, 15_000, 'fires after the first finished');
    await b.worker.close();
    expect(b.maxRunning()).toBe(1);
    const [first, second] = b.started.map((t) => t.schedule!.due);
    expect(second! - first!).toBeGreaterThanOrEqual(3000);
    await q.close();
  });

  it('skip: a previous task still waiting in the list counts too (the queue is paused)', async () => {
    const q = new Queue('ov-skip-wait', { connection: redis.url });
    await q.pause();
    await q.schedule('s', 'x', { every: 1000, overlap: 'skip' });
    const ran: Task[] = [];
    const w = new Worker('ov-skip-wait', (t) => void ran.push(t), { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.getSchedule('s'))!.skipped >= 2, 15_000, 'two skipped fires');
    expect((await q.counts()).waiting).toBe(1);
    await q.resume();
    await waitFor(() => ran.length >= 2, 15_000, 'the waiting task and a new fire');
    await w.close();
    const dues = ran.map((t) => t.schedule!.due);
    expect(dues[1]! - dues[0]!).toBeGreaterThanOrEqual(3000);
    await q.close();
  });

  it('queue-one: overlapping fires collapse into one that runs after the previous task', async () => {
    const q = new Queue('ov-one', { connection: redis.url });
    await q.schedule('s', 'x', { every: 1000, overlap: 'queue-one' });
    const b = blockingWorker('ov-one');
    await b.worker.start();
    await waitFor(() => b.started.length === 1, 15_000, 'first run');
    const held = await waitFor(async () => {
      const s = (await q.getSchedule('s'))!;
      return s.deferred !== null && s.skipped >= 1 ? s : undefined;
    }, 15_000, 'a deferred fire that replaced an earlier one');
    expect(b.started).toHaveLength(1);
    expect((await q.counts()).published).toBe(1);
    b.release.resolve();
    await waitFor(() => b.started.length >= 3, 15_000, 'the deferred run and the next fire');
    await b.worker.close();
    expect(b.maxRunning()).toBe(1);
    // The deferred run is for a due time that came while the first one ran (the latest of them).
    const dues = b.started.map((t) => t.schedule!.due);
    expect(dues[1]).toBeGreaterThanOrEqual(held.deferred!);
    expect(dues[1]! - dues[0]!).toBeGreaterThanOrEqual(2000);
    expect(dues[2]).toBeGreaterThan(dues[1]!);
    await q.close();
  });

  it('allow: fires on time although the previous task still runs', async () => {
    const q = new Queue('ov-allow', { connection: redis.url });
    await q.schedule('s', 'x', { every: 1000 });
    const b = blockingWorker('ov-allow');
    await b.worker.start();
    await waitFor(() => b.started.length >= 3, 15_000, 'three runs');
    expect(b.maxRunning()).toBeGreaterThanOrEqual(2);
    b.release.resolve();
    await b.worker.close();
    expect((await q.getSchedule('s'))!.skipped).toBe(0);
    await q.close();
  });

  it('a full queue (maxWaiting) skips the fire', async () => {
    const q = new Queue('ov-full', { connection: redis.url });
    await q.configure({ maxWaiting: 1 });
    await q.pause();
    await q.schedule('s', 'x', { every: 1000 });
    const w = new Worker('ov-full', () => null, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.getSchedule('s'))!.skipped >= 2, 15_000, 'skipped fires');
    await w.close();
    expect((await q.counts()).published).toBe(1);
    expect((await q.getSchedule('s'))!.fired).toBe(1);
    await q.close();
  });
});

describe('overlap and limits, corner cases', () => {
  it('skip: a previous task retried by hand and waiting again counts as pending', async () => {
    const q = new Queue('ov-retried', { connection: redis.url });
    await q.schedule('s', 'x', { every: 1000, overlap: 'skip', attempts: 1 });
    const failing = new Worker('ov-retried', () => {
      throw new Error('broken');
    }, { connection: redis.url });
    collectErrors(failing);
    await failing.start();
    await waitFor(async () => (await q.counts()).deadRetained >= 1, 15_000, 'the first task dead');
    await q.pauseSchedule('s');
    await failing.close();
    // Dead-lettered after one failure; the ones after it may not have fired yet: keep one.
    await q.pause();
    expect(await q.retryAllDead()).toBeGreaterThanOrEqual(1);
    const published = (await q.counts()).published;
    await q.resumeSchedule('s');
    const w = new Worker('ov-retried', () => null, { connection: redis.url });
    collectErrors(w);
    await w.start();
    const skipped = (await q.getSchedule('s'))!.skipped;
    await waitFor(async () => (await q.getSchedule('s'))!.skipped >= skipped + 2, 15_000, 'skipped fires');
    await w.close();
    expect((await q.counts()).published).toBe(published);
    await q.close();
  });

  it('grouped tasks waiting count towards maxWaiting for a fire too', async () => {
    const q = new Queue('ov-full-groups', { connection: redis.url });
    await q.configure({ maxWaiting: 1 });
    await q.pause();
    await q.add('grouped', { group: 'tenant-a' });
    await q.schedule('s', 'x', { every: 1000 });
    const w = new Worker('ov-full-groups', () => null, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.getSchedule('s'))!.skipped >= 2, 15_000, 'skipped fires');
    await w.close();
    expect((await q.counts()).published).toBe(1);
    expect((await q.getSchedule('s'))!.fired).toBe(0);
    await q.close();
  });
});

describe('catch-up policies after downtime', () => {
  /**
   * Downtime, simulated: the schedule (every minute) is moved 10.5 minutes into the past, as if
   * it had been created then and no worker had run since. Its 10 missed due times lie 30 s,
   * 90 s, ..., 570 s ago.
   */
  async function missedTen(q: Queue, name: string, opts: Parameters<Queue['schedule']>[2]): Promise<{ latest: number; next: number }> {
    const info = await q.schedule(name, name, { every: 60_000, ...opts });
    const c = redis.client();
    const key = `rt:{${q.name}}:schedules`;
    const def = JSON.parse((await c.hget(key, name))!) as { anchor: number; since: number };
    def.anchor -= 630_000;
    def.since -= 630_000;
    await c.hset(key, name, JSON.stringify(def));
    await c.zadd(`rt:{${q.name}}:schednext`, def.anchor + 60_000, name);
    return { latest: info.createdAt - 30_000, next: info.createdAt + 30_000 };
  }

  it('none drops the missed fires, latest fires the most recent one, all fires each within its window', async () => {
    const q = new Queue<string>('catch', { connection: redis.url });
    const none = await missedTen(q, 'none', { catchUp: 'none' });
    const latest = await missedTen(q, 'latest', { catchUp: 'latest' });
    const all = await missedTen(q, 'all', { catchUp: 'all', catchUpWindowMs: 300_000 });
    const narrow = await missedTen(q, 'narrow', { catchUp: 'latest', catchUpWindowMs: 10_000 });
    const ran: Task<string>[] = [];
    const w = new Worker<string>('catch', (t) => void ran.push(t), { connection: redis.url, concurrency: 4 });
    collectErrors(w);
    await w.start();
    await waitFor(async () => {
      const s = await q.schedules();
      return s.length === 4 && s.every((x) => x.lastDue !== null);
    }, 15_000, 'every schedule caught up');
    await waitFor(async () => (await q.counts()).completed === 6, 15_000, 'six runs');
    await sleep(300);
    await w.close();
    const by = (name: string) => ran.filter((t) => t.data === name).map((t) => t.schedule!.due).sort((a, b) => a - b);
    expect(by('none')).toEqual([]);
    expect(by('latest')).toEqual([latest.latest]);
    expect(by('all')).toEqual([4, 3, 2, 1, 0].map((k) => all.latest - k * 60_000));
    expect(by('narrow')).toEqual([]);
    for (const [name, t] of Object.entries({ none, latest, all, narrow })) {
      const s = (await q.getSchedule(name))!;
      expect(s.lastDue, name).toBe(t.latest);
      expect(s.next, name).toBe(t.next);
    }
    await q.close();
  });
});
