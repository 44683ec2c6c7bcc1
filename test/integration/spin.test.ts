import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { LinkClosedError, TaskLink } from '../../src/shared/link.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

// With nothing else to do, the worker waits for the reply of its task call by reading its
// socket (TaskLink.poll) instead of sleeping until the event loop wakes it (the `spin` option).
// These tests check what poll does with replies whole, in pieces, late, or never coming, and that
// a worker spinning still gives the event loop its turns.

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function readyLink(name: string): Promise<TaskLink> {
  const link = new TaskLink({ host: '127.0.0.1', port: redis.port, db: 0, name });
  link.connect();
  expect(await link.waitReady(2000)).toBe(true);
  // A reply through the event loop, as a worker's previous call: poll holds the loop only
  // within SPIN_HOLD_MS of one.
  await link.call(['PING']);
  return link;
}

describe('TaskLink.poll', () => {
  it('reads the reply of the call in flight without the event loop', async () => {
    const link = await readyLink('poll-basic');
    let settled = false;
    const p = link.call(['ECHO', 'hello']).then((v) => {
      settled = true;
      return v;
    });
    expect(link.poll(1_000_000, 1000)).toBe('answered');
    expect(settled).toBe(false); // the promise's callbacks run once the caller's stack unwinds
    expect(await p).toBe('hello');
    // Nothing in flight: nothing to wait for.
    expect(link.poll(1_000_000, 1000)).toBe('skipped');
    link.end();
  });

  it('puts together a reply that comes in many reads, intact', async () => {
    const admin = redis.client();
    const value = createHash('sha256').update('big').digest('hex').repeat(50_000); // 3.2 MB
    await admin.set('poll:big', value);
    const link = await readyLink('poll-big');
    const p = link.call(['GET', 'poll:big']);
    const r = link.poll(5_000_000, 1000);
    expect(r).toBe('answered');
    expect(await p).toBe(value);
    // The link goes on as usual afterwards, through the event loop and through poll.
    expect(await link.call(['STRLEN', 'poll:big'])).toBe(value.length);
    const q = link.call(['GET', 'poll:big']);
    expect(link.poll(5_000_000, 1000)).toBe('answered');
    expect(await q).toBe(value);
    link.end();
  });

  it('gives up after its time when the reply is late; the reply then comes through the event loop', async () => {
    const link = await readyLink('poll-late');
    const started = performance.now();
    const p = link.call(['BLPOP', 'poll:nothing', '0.3']);
    expect(link.poll(20_000, 1000)).toBe('late');
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(20);
    expect(waited).toBeLessThan(300);
    expect(await p).toBeNull();
    expect(await link.call(['PING'])).toBe('PONG');
    link.end();
  });

  it('does not hold an event loop that has not delivered a read for maxHoldMs', async () => {
    const link = await readyLink('poll-hold');
    await sleep(30);
    const p = link.call(['PING']);
    expect(link.poll(1_000_000, 5)).toBe('skipped');
    expect(await p).toBe('PONG');
    // That reply came through the loop: polling is allowed again.
    const again = link.call(['PING']);
    expect(link.poll(1_000_000, 5)).toBe('answered');
    expect(await again).toBe('PONG');
    link.end();
  });

  it('leaves a connection that closes while it polls to the event loop: the call fails as lost and the link connects again', async () => {
    const admin = redis.client();
    const link = await readyLink('poll-killed');
    const id = String(link.clientId);
    // The kill has to come from another process: this one is busy polling.
    const killer = spawn('sh', ['-c', `sleep 0.2; redis-cli -p ${redis.port} CLIENT KILL ID ${id}`], { stdio: 'ignore' });
    const exited = new Promise((r) => killer.once('exit', r));
    const p = link.call(['BLPOP', 'poll:never', '10']);
    const outcome = p.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    expect(link.poll(3_000_000, 1000)).toBe('skipped');
    expect(await outcome).toBeInstanceOf(LinkClosedError);
    await exited;
    await waitFor(() => link.status === 'ready', 5000, 'the link back');
    expect(await link.call(['PING'])).toBe('PONG');
    expect(await admin.exists('poll:never')).toBe(0);
    link.end();
  });
});

describe('the worker\'s spin', () => {
  async function run(queue: string, n: number, opts: { spin?: number }) {
    const q = new Queue<number>(queue, { connection: redis.url });
    await q.addBulk(Array.from({ length: n }, (_, i) => ({ data: i })));
    const seen = new Set<number>();
    const w = new Worker<number>(queue, (t) => void seen.add(t.data), { connection: redis.url, concurrency: 1, ...opts });
    const errors = collectErrors(w);
    return { q, w, seen, errors };
  }

  it('at concurrency 1 the worker waits for its replies by polling, and every task completes once', async () => {
    const poll = vi.spyOn(TaskLink.prototype, 'poll');
    const n = 2000;
    const { q, w, seen, errors } = await run('spin-on', n, {});
    let completed = 0;
    w.on('completed', () => completed++);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === n, 20_000, `${n} completed`);
    expect(seen.size).toBe(n);
    expect(completed).toBe(n);
    // Most replies came through poll (a late one makes it skip a few calls).
    const answered = poll.mock.results.filter((r) => r.value === 'answered').length;
    expect(answered).toBeGreaterThan(n / 4);
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('spin 0 never polls; a spin out of range is refused', async () => {
    const poll = vi.spyOn(TaskLink.prototype, 'poll');
    const { q, w, seen, errors } = await run('spin-off', 300, { spin: 0 });
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 300, 10_000, '300 completed');
    expect(seen.size).toBe(300);
    expect(poll).not.toHaveBeenCalled();
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
    expect(() => new Worker('x', () => undefined, { spin: -1 })).toThrow(/^invalid spin -1/);
    expect(() => new Worker('x', () => undefined, { spin: 1.5 })).toThrow(/^invalid spin 1.5/);
  });

  it('gives the event loop its turns while tasks stream through polled replies', async () => {
    // A long spin, so that every reply is polled for: without the hold limit the whole run
    // would be one chain of calls and replies, with no turn for timers (the lease heartbeats).
    const n = 10_000;
    const { q, w, seen, errors } = await run('spin-hold', n, { spin: 100_000 });
    let last = performance.now();
    let maxGap = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 1);
    await w.start();
    const started = performance.now();
    last = started;
    maxGap = 0;
    await waitFor(() => seen.size === n, 60_000, `${n} handled`);
    const took = performance.now() - started;
    clearInterval(tick);
    // (The bound is loose: a garbage collection or a slow machine may stall a turn, but not
    // for a whole run of 10,000 tasks.)
    expect(maxGap).toBeLessThan(Math.max(100, took / 4));
    await waitFor(async () => (await q.counts()).completed === n, 10_000, `${n} completed`);
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });
});
