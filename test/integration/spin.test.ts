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
  return link;
}

/** Polls until the replies are in (a slow machine may take more than one 2 ms poll: 'late'). */
function pollAnswered(link: TaskLink, holdMs = 1000): string {
  let r: string;
  do r = link.poll(2000, holdMs);
  while (r === 'late');
  return r;
}

describe('TaskLink.poll', () => {
  it('reads the reply of the call in flight without the event loop', async () => {
    const link = await readyLink('poll-basic');
    let settled = false;
    const p = link.call(['ECHO', 'hello']).then((v) => {
      settled = true;
      return v;
    });
    expect(pollAnswered(link)).toBe('answered');
    expect(settled).toBe(false); // the promise's callbacks run once the caller's stack unwinds
    expect(await p).toBe('hello');
    // Nothing in flight: nothing to wait for.
    expect(link.poll(2000, 1000)).toBe('skipped');
    link.end();
  });

  it('puts together a reply that comes in many reads, intact', async () => {
    const admin = redis.client();
    const value = createHash('sha256').update('big').digest('hex').repeat(50_000); // 3.2 MB
    await admin.set('poll:big', value);
    const link = await readyLink('poll-big');
    const p = link.call(['GET', 'poll:big']);
    expect(pollAnswered(link)).toBe('answered');
    expect(await p).toBe(value);
    // Given up after a few reads: the rest comes through the event loop, intact.
    for (let i = 0; i < 5; i++) {
      await link.call(['PING']);
      const part = link.call(['GET', 'poll:big']);
      link.poll(30, 1000);
      expect(await part).toBe(value);
    }
    // The link goes on as usual afterwards, through the event loop and through poll.
    expect(await link.call(['STRLEN', 'poll:big'])).toBe(value.length);
    const q = link.call(['GET', 'poll:big']);
    expect(pollAnswered(link)).toBe('answered');
    expect(await q).toBe(value);
    link.end();
  });

  it('keeps the part of a reply it read when it gives up: the rest comes through the event loop, and the reply is intact', async () => {
    // The first part of the reply is read by poll and held by the parser; libuv reads the second
    // 50 ms later, into a buffer of its own (were it the same, it would overwrite the first part).
    const server = spawn(process.execPath, [new URL('../fixtures/split-reply-server.mjs', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
      const { port, value } = JSON.parse(line) as { port: number; value: string };
      const link = new TaskLink({ host: '127.0.0.1', port, db: 0, name: 'split' });
      link.connect();
      expect(await link.waitReady(2000)).toBe(true);
      for (let round = 0; round < 3; round++) {
        await link.call(['PING']);
        const p = link.call(['GET', 'k']);
        // 10 polls of 2 ms: the first part is in well before the second is sent.
        for (let i = 0; i < 10; i++) expect(link.poll(2000, 1000)).toBe('late');
        expect(await p).toBe(value);
      }
      link.end();
    } finally {
      server.kill();
    }
  });

  it('gives up after its time when the reply is late; the reply then comes through the event loop', async () => {
    const link = await readyLink('poll-late');
    const started = performance.now();
    const p = link.call(['BLPOP', 'poll:nothing', '0.3']);
    expect(link.poll(2000, 1000)).toBe('late');
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(2);
    expect(waited).toBeLessThan(300);
    expect(await p).toBeNull();
    expect(await link.call(['PING'])).toBe('PONG');
    link.end();
  });

  it('holds the event loop for at most maxHoldMs per turn, over all the polls of every link in the turn', async () => {
    const a = await readyLink('poll-hold-a');
    const b = await readyLink('poll-hold-b');
    await sleep(5); // a new turn
    const first = a.call(['PING']);
    expect(pollAnswered(a, 100)).toBe('answered');
    // The same turn goes on (a chain of tasks, say) past the limit: no more polls, on any link.
    const until = performance.now() + 120;
    while (performance.now() < until);
    const second = a.call(['PING']);
    const other = b.call(['PING']);
    expect(a.poll(2000, 100)).toBe('skipped');
    expect(b.poll(2000, 100)).toBe('skipped');
    expect(await Promise.all([first, second, other])).toEqual(['PONG', 'PONG', 'PONG']);
    // A new turn: polling again. (The check phase ends a turn's polls: the replies above may
    // have come in the same turn, after its timers.)
    await sleep(5);
    const third = b.call(['PING']);
    expect(pollAnswered(b, 100)).toBe('answered');
    expect(await third).toBe('PONG');
    // The limit also ends a poll under way: 'skipped', not 'late' (no back-off for it).
    await sleep(5);
    const started = performance.now();
    const blocked = a.call(['BLPOP', 'poll:nothing', '0.3']);
    expect(a.poll(2000, 1)).toBe('skipped');
    expect(performance.now() - started).toBeLessThan(250);
    expect(await blocked).toBeNull();
    a.end();
    b.end();
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
    // (Polled until the kill: each poll stops at 2 ms.)
    let r: string;
    const until = performance.now() + 3000;
    do r = link.poll(2000, 5000);
    while (r === 'late' && performance.now() < until);
    expect(r).toBe('skipped');
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
    const { q, w, seen, errors } = await run('spin-on', n, { spin: 2000 });
    let completed = 0;
    w.on('completed', () => completed++);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === n, 20_000, `${n} completed`);
    expect(seen.size).toBe(n);
    expect(completed).toBe(n);
    // Replies came through poll. (How many depends on the machine: a late reply makes the
    // worker skip the next calls, 8 and up; on this project's VM most are polled.)
    const answered = poll.mock.results.filter((r) => r.value === 'answered').length;
    expect(answered).toBeGreaterThan(0);
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
    expect(() => new Worker('x', () => undefined, { spin: 2001 })).toThrow(/^invalid spin 2001: from 0 to 2000 µs$/);
    expect(() => new Worker('x', () => undefined, { spin: 1.5 })).toThrow(/^invalid spin 1.5/);
  });

  it('does not poll when its task calls go through the main connection (Functions not allowed)', async () => {
    await redis.client().call('ACL', 'SETUSER', 'spin-nofn', 'on', '>pw', '~*', '&*', '+@all', '-fcall', '-function');
    const url = `redis://spin-nofn:pw@127.0.0.1:${redis.port}`;
    const poll = vi.spyOn(TaskLink.prototype, 'poll');
    const q = new Queue<number>('spin-nofn', { connection: url });
    await q.addBulk(Array.from({ length: 200 }, (_, i) => ({ data: i })));
    const seen = new Set<number>();
    const w = new Worker<number>('spin-nofn', (t) => void seen.add(t.data), { connection: url, concurrency: 1 });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 200, 10_000, '200 completed');
    expect(seen.size).toBe(200);
    // Only the first call went over the link (and was refused: the worker then knows).
    expect(poll.mock.calls.length).toBeLessThanOrEqual(2);
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('gives the event loop its turns while tasks stream through polled replies', async () => {
    // A long spin, so that every reply is polled for: without the hold limit the whole run
    // would be one chain of calls and replies, with no turn for timers (the lease heartbeats).
    const n = 10_000;
    const { q, w, seen, errors } = await run('spin-hold', n, { spin: 2000 });
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
