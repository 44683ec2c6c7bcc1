import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, UsageError, Worker, type Task } from '../../src/index.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

interface Run {
  id: string;
  due: number;
  publishedAt: number;
  data: unknown;
  worker: number;
}

/** Workers that record every scheduled task they run. */
function workers(queue: string, n: number, runs: Run[]): Worker[] {
  return Array.from({ length: n }, (_, i) => {
    const w = new Worker(queue, (t: Task) => {
      runs.push({ id: t.id, due: t.schedule?.due ?? -1, publishedAt: t.publishedAt, data: t.data, worker: i });
      return null;
    }, { connection: redis.url });
    collectErrors(w);
    return w;
  });
}

async function startAll(ws: Worker[]): Promise<void> {
  await Promise.all(ws.map((w) => w.start()));
}

async function closeAll(ws: Worker[]): Promise<void> {
  await Promise.all(ws.map((w) => w.close()));
}

/** Due times must be anchor + k·every for consecutive k, each once. */
function expectConsecutive(dues: number[], every: number): void {
  const sorted = [...dues].sort((a, b) => a - b);
  expect(new Set(sorted).size).toBe(sorted.length);
  for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBe(every);
}

describe('schedules', () => {
  it('fires an interval schedule at creation + k·interval, never early, each task tagged with its due time', async () => {
    const q = new Queue<string>('sch-every', { connection: redis.url });
    const info = await q.schedule('tick', 'hello', { every: 1000, name: 'ticker' });
    expect(info).toMatchObject({ name: 'tick', queue: 'sch-every', every: 1000, data: 'hello', taskName: 'ticker', paused: false, fired: 0 });
    expect(info.next).toBe(info.createdAt + 1000);
    const runs: Run[] = [];
    const ws = workers('sch-every', 1, runs);
    await startAll(ws);
    await waitFor(() => runs.length >= 3, 15_000, 'three fires');
    await closeAll(ws);
    expect(runs.slice(0, 3).map((r) => r.due)).toEqual([1, 2, 3].map((k) => info.createdAt + k * 1000));
    for (const r of runs) {
      expect(r.data).toBe('hello');
      expect(r.publishedAt).toBeGreaterThanOrEqual(r.due);
      // A tolerance, not a speed claim: the fire belongs to its due time.
      expect(r.publishedAt - r.due).toBeLessThan(3000);
    }
    const after = await q.getSchedule('tick');
    expect(after?.fired).toBe(runs.length);
    expect(after?.lastTaskId).toBe(runs.at(-1)!.id);
    await q.close();
  });

  it('fires a six-field cron schedule on its seconds, in its time zone', async () => {
    const q = new Queue('sch-cron', { connection: redis.url });
    const info = await q.schedule('even', { n: 1 }, { cron: '*/2 * * * * *', tz: 'Asia/Kolkata' });
    expect(info.next! % 2000).toBe(0);
    const runs: Run[] = [];
    const ws = workers('sch-cron', 1, runs);
    await startAll(ws);
    await waitFor(() => runs.length >= 2, 15_000, 'two fires');
    await closeAll(ws);
    for (const r of runs) {
      expect(r.due % 2000).toBe(0);
      expect(r.publishedAt).toBeGreaterThanOrEqual(r.due);
      expect(r.data).toEqual({ n: 1 });
    }
    expect(runs[0]!.due).toBe(info.next);
    expectConsecutive(runs.map((r) => r.due), 2000);
    await q.close();
  });

  it('fires each due time exactly once however many workers race for it', async () => {
    const q = new Queue('sch-race', { connection: redis.url });
    const info = await q.schedule('race', 'x', { every: 1000, catchUp: 'all' });
    const runs: Run[] = [];
    const ws = workers('sch-race', 4, runs);
    await startAll(ws);
    await waitFor(() => runs.length >= 6, 20_000, 'six fires');
    await q.pauseSchedule('race');
    await sleep(300);
    await closeAll(ws);
    const dues = runs.map((r) => r.due);
    expectConsecutive(dues, 1000);
    expect(Math.min(...dues)).toBe(info.createdAt + 1000);
    const s = await q.getSchedule('race');
    expect(s?.fired).toBe(runs.length);
    expect((await q.counts()).published).toBe(runs.length);
    await q.close();
  });

  it('heals itself when its next-fire entry is deleted', async () => {
    const q = new Queue('sch-heal', { connection: redis.url });
    await q.schedule('heal', 'x', { every: 1000 });
    const runs: Run[] = [];
    const ws = workers('sch-heal', 2, runs);
    await startAll(ws);
    await waitFor(() => runs.length >= 1, 15_000, 'first fire');
    const c = redis.client();
    // Without its entry no worker would see the schedule as due: each time, one puts it back.
    for (let i = 0; i < 3; i++) {
      await waitFor(async () => (await c.zscore('rt:{sch-heal}:schednext', 'heal')) !== null, 10_000, 'entry back');
      expect(await c.zrem('rt:{sch-heal}:schednext', 'heal')).toBe(1);
    }
    const before = runs.length;
    await waitFor(() => runs.length >= before + 2, 15_000, 'fires after the entry was deleted');
    expect(await c.zscore('rt:{sch-heal}:schednext', 'heal')).not.toBeNull();
    await closeAll(ws);
    expectConsecutive(runs.map((r) => r.due), 1000);
    await q.close();
  });

  it('keeps firing after every worker stopped and new ones started', async () => {
    const q = new Queue('sch-restart', { connection: redis.url });
    await q.schedule('restart', 'x', { every: 1000, catchUp: 'latest' });
    const runs: Run[] = [];
    const first = workers('sch-restart', 2, runs);
    await startAll(first);
    await waitFor(() => runs.length >= 2, 15_000, 'fires before the stop');
    await closeAll(first);
    const stoppedAt = Date.now();
    const before = runs.length;
    await sleep(2500);
    expect(runs.length).toBe(before);
    const second = workers('sch-restart', 2, runs);
    await startAll(second);
    await waitFor(() => runs.length >= before + 3, 15_000, 'fires after the restart');
    await closeAll(second);
    const dues = runs.map((r) => r.due);
    expect(new Set(dues).size).toBe(dues.length);
    // The stop was shorter than ON_TIME_MS: the due times it spanned were at most that late, so
    // each of them fires (none is lost to the catch-up policy), then the regular fires follow.
    // (Two workers run the fires that catch up at the same moment: in either order.)
    const later = runs.slice(before);
    expect(Math.min(...later.map((r) => r.due))).toBeLessThanOrEqual(stoppedAt + 1000);
    expectConsecutive(dues, 1000);
    await q.close();
  });

  it('pauses (no fires, none made up for), resumes and deletes a schedule', async () => {
    const q = new Queue('sch-admin', { connection: redis.url });
    await q.schedule('admin', 'x', { every: 1000, catchUp: 'all' });
    const runs: Run[] = [];
    const ws = workers('sch-admin', 1, runs);
    await startAll(ws);
    await waitFor(() => runs.length >= 1, 15_000, 'first fire');
    const paused = await q.pauseSchedule('admin');
    expect(paused).toMatchObject({ paused: true, next: null });
    const c = redis.client();
    expect(await c.zscore('rt:{sch-admin}:schednext', 'admin')).toBeNull();
    await sleep(300);
    const atPause = runs.length;
    await sleep(2500);
    expect(runs.length).toBe(atPause);
    const resumedAt = Date.now();
    const resumed = await q.resumeSchedule('admin');
    expect(resumed.paused).toBe(false);
    expect(resumed.next).toBeGreaterThan(resumedAt);
    await waitFor(() => runs.length >= atPause + 2, 15_000, 'fires after resume');
    // Nothing from the paused time was made up for, although the policy is "all".
    for (const r of runs.slice(atPause)) expect(r.due).toBeGreaterThan(resumedAt);
    expect(await q.deleteSchedule('admin')).toBe(true);
    expect(await q.deleteSchedule('admin')).toBe(false);
    expect(await q.getSchedule('admin')).toBeNull();
    await sleep(300);
    const atDelete = runs.length;
    await sleep(2000);
    expect(runs.length).toBe(atDelete);
    await closeAll(ws);
    for (const key of ['schedules', 'schedtask', 'schedstate']) expect(await c.hlen(`rt:{sch-admin}:${key}`)).toBe(0);
    expect(await c.zcard('rt:{sch-admin}:schednext')).toBe(0);
    await expect(q.pauseSchedule('admin')).rejects.toThrow(UsageError);
    await expect(q.resumeSchedule('nope')).rejects.toThrow(UsageError);
    await q.close();
  });

  it('a change that keeps the timing keeps the phase and publishes the new payload; a new interval starts afresh', async () => {
    const q = new Queue<string>('sch-update', { connection: redis.url });
    const a = await q.schedule('upd', 'old', { every: 1000 });
    const runs: Run[] = [];
    const ws = workers('sch-update', 1, runs);
    await startAll(ws);
    await waitFor(() => runs.length >= 1, 15_000, 'first fire');
    const b = await q.schedule('upd', 'new', { every: 1000, priority: 5 });
    expect(b.createdAt).toBe(a.createdAt);
    expect((b.next! - a.createdAt) % 1000).toBe(0);
    const n = runs.length;
    await waitFor(() => runs.length >= n + 2, 15_000, 'fires after the change');
    const afterChange = runs.slice(n + 1);
    for (const r of afterChange) expect(r.data).toBe('new');
    const changedAt = Date.now();
    const c2 = await q.schedule('upd', 'slower', { every: 2000 });
    expect(c2.next).toBeGreaterThan(changedAt);
    expect(c2.next! - c2.updatedAt).toBe(2000);
    await closeAll(ws);
    expectConsecutive(runs.map((r) => r.due), 1000);
    expect((await q.schedules()).map((s) => s.name)).toEqual(['upd']);
    await q.close();
  });

  it('refuses bad input with UsageError', async () => {
    const q = new Queue('sch-bad', { connection: redis.url });
    const bad: Array<[string, Parameters<Queue['schedule']>[2]]> = [
      ['x', {}],
      ['x', { cron: '* * * * *', every: 1000 }],
      ['x', { cron: 'not a cron' }],
      ['x', { cron: '61 * * * *' }],
      // Fewer than 5 fields or more than 6 (cron-parser would read "0 9 * *" as "0 * 0 9 * *").
      ['x', { cron: '0 9 * *' }],
      ['x', { cron: '* * * *' }],
      ['x', { cron: '0 0 9 * * * *' }],
      ['x', { cron: '* * * * *', tz: 'Mars/Olympus' }],
      ['x', { every: 1000, tz: 'UTC' }],
      ['x', { every: 10 }],
      ['x', { every: 1.5 }],
      ['x', { every: 1000, overlap: 'sometimes' as 'skip' }],
      ['x', { every: 1000, catchUp: 'most' as 'all' }],
      ['x', { every: 1000, catchUpWindowMs: -1 }],
      ['x', { every: 1000, attempts: 0 }],
      ['x', { every: 1000, priority: 101 }],
      ['x', { every: 1000, delay: 5 } as Parameters<Queue['schedule']>[2]],
      ['bad name', { every: 1000 }],
    ];
    for (const [name, opts] of bad) await expect(q.schedule(name, null, opts), JSON.stringify(opts)).rejects.toThrow(UsageError);
    expect(await q.schedules()).toEqual([]);
    await q.close();
  });
});
