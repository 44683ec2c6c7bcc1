import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Queue, Worker } from '../../src/index.js';
import { TaskLink } from '../../src/shared/link.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors, sleep } from '../helpers/util.js';

// The worker's task calls (finish, reserve) go over a connection of its own (TaskLink, see
// src/shared/link.ts) instead of the ioredis client: these tests check that it is used, and that
// what ioredis would otherwise do for those calls still holds (auth, database, dropped
// connections, large replies, a refused handshake).

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

interface ClientInfo {
  id: string;
  name: string;
  db: string;
  cmd: string;
  user: string;
}

async function clients(): Promise<ClientInfo[]> {
  const text = (await redis.client().call('CLIENT', 'LIST')) as string;
  return text
    .trim()
    .split('\n')
    .map((line) => Object.fromEntries(line.split(' ').map((kv) => kv.split('=', 2) as [string, string])) as unknown as ClientInfo);
}

async function drain(queue: string, n: number, url: string, opts: { concurrency?: number; payload?: (i: number) => string; slow?: boolean } = {}) {
  const q = new Queue<string>(queue, { connection: url });
  const data = Array.from({ length: n }, (_, i) => (opts.payload ? opts.payload(i) : `t${i}`));
  await q.addBulk(data.map((d) => ({ data: d })));
  const seen = new Map<string, number>();
  const w = new Worker<string>(
    queue,
    async (t) => {
      seen.set(t.data, (seen.get(t.data) ?? 0) + 1);
      if (opts.slow) await sleep(Math.random() < 0.5 ? 0 : 2);
    },
    { connection: url, concurrency: opts.concurrency ?? 4 },
  );
  const errors = collectErrors(w);
  return { q, w, errors, seen, data };
}

describe('the worker\'s task connection', () => {
  it('carries the task calls, named after the worker, and closes with it', async () => {
    const { q, w, errors, seen } = await drain('link-basic', 300, redis.url);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 300, 10_000, '300 completed');
    const link = (await clients()).find((c) => c.name === `redtask:worker:${w.id}:tasks`);
    expect(link?.cmd).toBe('fcall');
    expect(seen.size).toBe(300);
    await w.close();
    await waitFor(async () => !(await clients()).some((c) => c.name.startsWith(`redtask:worker:${w.id}`)), 5000, 'connections closed');
    expect(errors).toEqual([]);
    await q.close();
  });

  it('goes on after its connection is killed mid-run: every task completes once, none is lost', async () => {
    const n = 3000;
    const { q, w, errors, seen } = await drain('link-kill', n, redis.url, { concurrency: 10, slow: true });
    const lost: string[] = [];
    w.on('lost', (t) => lost.push(t.id));
    await w.start();
    let kills = 0;
    while ((await q.counts()).completed < n && kills < 5) {
      const link = (await clients()).find((c) => c.name === `redtask:worker:${w.id}:tasks`);
      if (link) {
        await redis.client().call('CLIENT', 'KILL', 'ID', link.id);
        kills++;
      }
      await sleep(30);
    }
    expect(kills).toBe(5);
    await waitFor(async () => (await q.counts()).completed === n, 20_000, `${n} completed`);
    const counts = await q.counts();
    expect(counts.active).toBe(0);
    expect(counts.waiting).toBe(0);
    expect(seen.size).toBe(n);
    // A call whose reply was lost is sent again under its token: its tasks come back to this
    // worker, not after their lease, and none runs twice.
    expect([...seen.values()].every((v) => v === 1)).toBe(true);
    expect(lost).toEqual([]);
    await w.close();
    // The calls the kills cut off were reported; nothing else was.
    expect(errors.every((e) => /connection to Redis lost|not ready|^task connection: /.test(e.message))).toBe(true);
    await q.close();
  });

  it('a progress report sent just before the handler returns is cleared by the finish (no stale entry)', async () => {
    const q = new Queue<number>('link-progress', { connection: redis.url });
    await q.addBulk(Array.from({ length: 2000 }, (_, i) => ({ data: i })));
    const w = new Worker<number>(
      'link-progress',
      (t, ctx) => {
        void ctx.progress({ at: t.data });
      },
      { connection: redis.url, concurrency: 10 },
    );
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 2000, 20_000, '2000 completed');
    await w.close();
    expect(await redis.client().hlen('rt:{link-progress}:progress')).toBe(0);
    expect(errors).toEqual([]);
    await q.close();
  });

  it('gives up a connect whose handshake is never answered (a proxy that accepts and forwards nothing), and tries again', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const link = new TaskLink({ host: '127.0.0.1', port, db: 0, name: 'silent' }, 200);
    const errors: string[] = [];
    link.on('error', (err: Error) => errors.push(err.message));
    link.connect();
    await waitFor(() => errors.length >= 2, 5000, 'two timed-out attempts');
    expect(errors[0]).toBe('connect to Redis timed out after 200 ms');
    expect(link.status).not.toBe('ready');
    await expect(link.call(['PING'])).rejects.toThrow(/not ready/);
    link.end();
    silent.close();
  });

  it('connects to a host name as the main connection does (localhost)', async () => {
    const { q, w, errors } = await drain('link-hostname', 50, `redis://localhost:${redis.port}`);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 50, 10_000, '50 completed');
    expect((await clients()).find((c) => c.name === `redtask:worker:${w.id}:tasks`)?.cmd).toBe('fcall');
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('signs in as the URL\'s user and uses its database', async () => {
    const admin = redis.client();
    await admin.call('ACL', 'SETUSER', 'linkuser', 'on', '>s3cret', '~*', '&*', '+@all');
    const url = `redis://linkuser:s3cret@127.0.0.1:${redis.port}/5`;
    const { q, w, errors } = await drain('link-auth', 100, url);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 100, 10_000, '100 completed');
    const link = (await clients()).find((c) => c.name === `redtask:worker:${w.id}:tasks`);
    expect(link).toMatchObject({ user: 'linkuser', db: '5', cmd: 'fcall' });
    // The tasks lived in database 5, not 0.
    const db5 = redis.client();
    await db5.select(5);
    expect(await db5.exists(`rt:{link-auth}:meta`)).toBe(1);
    expect(await admin.exists(`rt:{link-auth}:meta`)).toBe(0);
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('reads replies that arrive in many pieces (large payloads)', async () => {
    // 40 tasks of about 512 KiB each, ten leased per call: replies of megabytes.
    const big = (i: number) => `${i}:` + createHash('sha256').update(String(i)).digest('hex').repeat(8192);
    const { q, w, errors, seen, data } = await drain('link-big', 40, redis.url, { concurrency: 10, payload: big });
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 40, 20_000, '40 completed');
    expect([...seen.keys()].sort()).toEqual([...data].sort());
    await w.close();
    expect(errors).toEqual([]);
    await q.close();
  });

  it('gives every pipelined call its own reply intact when replies straddle reads (the read buffer is reused)', async () => {
    // Replies of every size, sent back to back so that they arrive packed into reads and cut at
    // any point: a reply cut short must keep its first part while the next read comes in.
    const admin = redis.client();
    const sizes = [0, 1, 100, 5_000, 65_535, 65_536, 70_000, 200_000, 3];
    for (const [i, n] of sizes.entries()) await admin.set(`straddle:${i}`, createHash('sha256').update(String(i)).digest('hex').repeat(Math.ceil(n / 64)).slice(0, n));
    await admin.rpush('straddle:list', ...Array.from({ length: 3000 }, (_, i) => `item-${i}-${'y'.repeat(i % 97)}`));
    const link = new TaskLink({ host: '127.0.0.1', port: redis.port, db: 0, name: 'straddle' });
    link.connect();
    expect(await link.waitReady(2000)).toBe(true);
    const want: Array<Promise<unknown>> = [];
    const got: Array<Promise<unknown>> = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < sizes.length; i++) {
        got.push(link.call(['GET', `straddle:${(i + round) % sizes.length}`]));
        want.push(admin.get(`straddle:${(i + round) % sizes.length}`));
      }
      got.push(link.call(['LRANGE', 'straddle:list', round, -1]));
      want.push(admin.lrange('straddle:list', round, -1));
    }
    expect(await Promise.all(got)).toEqual(await Promise.all(want));
    link.end();
  });

  it('keeps a long reply that arrives in small reads at about its own size (not a read buffer per piece)', async () => {
    // A stand-in for Redis that answers the handshake and then sends a 2 MB string 1,000 bytes at
    // a time. Before the last piece, the memory the link holds for the reply is measured.
    const size = 2_000_000;
    const body = Buffer.concat([Buffer.from(`$${size}\r\n`), Buffer.alloc(size, 120), Buffer.from('\r\n')]);
    let held = -1;
    const base = { arrayBuffers: 0 };
    const server = createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d: Buffer) => {
        const text = d.toString();
        if (text.includes('SETNAME')) s.write('+OK\r\n');
        if (text.includes('$2\r\nID')) s.write(':7\r\n');
        if (!text.includes('GET')) return;
        let off = 0;
        const next = () => {
          if (off + 1000 >= body.length) {
            held = process.memoryUsage().arrayBuffers - base.arrayBuffers;
            s.write(body.subarray(off));
            return;
          }
          s.write(body.subarray(off, off + 1000));
          off += 1000;
          setTimeout(next, 0);
        };
        next();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const link = new TaskLink({ host: '127.0.0.1', port: (server.address() as { port: number }).port, db: 0, name: 'drip' });
    link.connect();
    expect(await link.waitReady(2000)).toBe(true);
    // Garbage of the tests before, collected while the reply comes in, would hide what it holds.
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    base.arrayBuffers = process.memoryUsage().arrayBuffers;
    const reply = (await link.call(['GET', 'big'])) as string;
    expect(reply.length).toBe(size);
    // The reply's pieces (2 MB) and a few read buffers; a 64 KiB buffer held per piece would be
    // over 100 MB.
    expect(held).toBeGreaterThan(1_000_000);
    expect(held).toBeLessThan(16_000_000);
    link.end();
    server.close();
  });

  it('notices a connection that Redis closes while it is idle (no call to fail), and connects again', async () => {
    const link = new TaskLink({ host: '127.0.0.1', port: redis.port, db: 0, name: 'idle-drop' });
    link.connect();
    expect(await link.waitReady(2000)).toBe(true);
    const first = link.clientId!;
    let readies = 0;
    link.on('ready', () => readies++);
    await redis.client().call('CLIENT', 'KILL', 'ID', String(first));
    await waitFor(async () => readies === 1, 3000, 'ready again');
    expect(link.clientId).not.toBe(first);
    expect(await link.call(['PING'])).toBe('PONG');
    link.end();
  });

  it('signs in as a user without a password, and goes on when the URL has a password Redis does not ask for', async () => {
    const admin = redis.client();
    // ioredis sends AUTH <user> "" for a user without a password; the link does the same.
    await admin.call('ACL', 'SETUSER', 'openuser', 'on', 'nopass', '~*', '&*', '+@all');
    const a = await drain('link-nopass', 50, `redis://openuser@127.0.0.1:${redis.port}`);
    await a.w.start();
    await waitFor(async () => (await a.q.counts()).completed === 50, 10_000, '50 completed');
    expect((await clients()).find((c) => c.name === `redtask:worker:${a.w.id}:tasks`)).toMatchObject({ user: 'openuser', cmd: 'fcall' });
    await a.w.close();
    await a.q.close();
    // A password for the default user, which has none: Redis says so, and that is not an error.
    const b = await drain('link-needless-pw', 50, `redis://:unused@127.0.0.1:${redis.port}`);
    await b.w.start();
    await waitFor(async () => (await b.q.counts()).completed === 50, 10_000, '50 completed');
    expect((await clients()).find((c) => c.name === `redtask:worker:${b.w.id}:tasks`)).toMatchObject({ user: 'default', cmd: 'fcall' });
    await b.w.close();
    expect([...a.errors, ...b.errors]).toEqual([]);
    await b.q.close();
  });

  it('falls back to the main connection when Redis refuses the task connection\'s handshake', async () => {
    // The user's password changes while the worker runs: its main connection stays signed in, the
    // task connection's next handshake is refused (WRONGPASS).
    const admin = redis.client();
    await admin.call('ACL', 'SETUSER', 'rotating', 'on', '>pw1', '~*', '&*', '+@all');
    const url = `redis://rotating:pw1@127.0.0.1:${redis.port}`;
    const { q, w, errors, seen } = await drain('link-refused', 100, url);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 100, 10_000, '100 completed');
    await admin.call('ACL', 'SETUSER', 'rotating', 'resetpass', '>pw2');
    const tasks = (await clients()).find((c) => c.name === `redtask:worker:${w.id}:tasks`)!;
    await admin.call('CLIENT', 'KILL', 'ID', tasks.id);
    await waitFor(() => errors.some((e) => /refused/.test(e.message)), 5000, 'the link refused');
    await q.addBulk(Array.from({ length: 100 }, (_, i) => ({ data: `u${i}` })));
    await waitFor(async () => (await q.counts()).completed === 200, 10_000, '200 completed');
    expect(seen.size).toBe(200);
    expect(errors.map((e) => e.message).filter((m) => !/^task connection: /.test(m))).toEqual([expect.stringMatching(/^task connection refused, using the main connection: WRONGPASS/)]);
    expect((await clients()).some((c) => c.name === `redtask:worker:${w.id}:tasks`)).toBe(false);
    await w.close();
    await q.close();
  });

  it('a database the server does not have: start() rejects with one clear message, and nothing lands in database 0', async () => {
    const admin = redis.client();
    const before = await admin.dbsize();
    const w = new Worker('no-such-db', async () => undefined, { connection: `redis://127.0.0.1:${redis.port}/99` });
    await expect(w.start()).rejects.toThrow(/^cannot use database 99 of Redis at redis:\/\/127\.0\.0\.1:\d+\/99: ERR DB index is out of range$/);
    await w.close();
    expect(await admin.dbsize()).toBe(before);
    expect((await clients()).some((c) => c.name.startsWith(`redtask:worker:${w.id}`))).toBe(false);
  });
});
