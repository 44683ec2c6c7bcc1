import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
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

  it('falls back to the main connection when Redis refuses the task connection\'s handshake', async () => {
    // A user who may not name its connection: ioredis goes on without the name, the link does not.
    const admin = redis.client();
    await admin.call('ACL', 'SETUSER', 'noname', 'on', '>pw', '~*', '&*', '+@all', '-client|setname');
    const url = `redis://noname:pw@127.0.0.1:${redis.port}`;
    const { q, w, errors, seen } = await drain('link-refused', 200, url);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 200, 10_000, '200 completed');
    expect(seen.size).toBe(200);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^task connection refused, using the main connection: NOPERM/)]);
    await w.close();
    await q.close();
  });
});
