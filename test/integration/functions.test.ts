import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { functionLibrary } from '../../src/shared/scripts.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

/** Calls of a command since the server started, from INFO commandstats (0 when never called). */
async function calls(command: string): Promise<number> {
  const info = await redis.client().info('commandstats');
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : 0;
}

async function libraries(): Promise<string[]> {
  const list = (await redis.client().call('FUNCTION', 'LIST')) as unknown[][];
  return list.map((lib) => String(lib[1]));
}

async function runAll(queue: string, n: number, url = redis.url): Promise<void> {
  const q = new Queue<number>(queue, { connection: redis.url });
  await q.addBulk(Array.from({ length: n }, (_, i) => ({ data: i })));
  const w = new Worker<number>(queue, (t) => t.data * 2, { connection: url, concurrency: 4 });
  const errors = collectErrors(w);
  await w.start();
  await waitFor(async () => (await q.counts()).completed === n, 10_000, `${n} completed`);
  await w.close();
  expect(errors).toEqual([]);
  await q.close();
}

describe('the task path as Redis Functions', () => {
  it('runs reserve and finish as Functions of one library named after its source', async () => {
    const lib = functionLibrary();
    expect(lib.name).toMatch(/^redtask_[0-9a-f]{12}$/);
    expect(Object.keys(lib.functions).sort()).toEqual(['finish', 'reserve']);
    const before = await calls('fcall');
    await runAll('fn-basic', 50);
    expect(await calls('fcall')).toBeGreaterThan(before);
    expect(await libraries()).toContain(lib.name);
  });

  it('loads the library again when Redis has lost it, and loses no task', async () => {
    await runAll('fn-reload-1', 10);
    await redis.client().call('FUNCTION', 'FLUSH');
    expect(await libraries()).toEqual([]);
    await runAll('fn-reload-2', 30);
    expect(await libraries()).toContain(functionLibrary().name);
  });

  it('falls back to EVALSHA for a user who may not use Functions', async () => {
    await redis.client().call('FUNCTION', 'FLUSH');
    await redis.client().call('ACL', 'SETUSER', 'nofn', 'on', '>pw', '~*', '&*', '+@all', '-fcall', '-function');
    const url = `redis://nofn:pw@127.0.0.1:${redis.port}`;
    const fcalls = await calls('fcall');
    await runAll('fn-fallback', 30, url);
    // Its FCALL calls were refused (not counted as calls) and nothing was loaded.
    expect(await calls('fcall')).toBe(fcalls);
    expect(await libraries()).toEqual([]);
  });

  it('sees a queue\'s settings change on the next call, although the library keeps the ones it read last', async () => {
    const q = new Queue<number>('fn-settings', { connection: redis.url });
    await q.configure({ keepCompleted: 0 });
    const w = new Worker<number>('fn-settings', (t) => t.data, { connection: redis.url });
    collectErrors(w);
    await w.start();
    const first = await q.add(1);
    await waitFor(async () => (await q.counts()).completed === 1, 5000, 'first completed');
    // The same worker, the same library: the next settlement keeps its task.
    await q.configure({ keepCompleted: 10 });
    const second = await q.add(2);
    await waitFor(async () => (await q.counts()).completed === 2, 5000, 'second completed');
    expect((await q.listTasks('completed')).map((t) => t.id)).toEqual([second]);
    expect(await q.getTask(first)).toBeNull();
    // Paused: the worker takes nothing until resumed.
    await q.pause();
    const third = await q.add(3);
    await new Promise((r) => setTimeout(r, 300));
    expect((await q.getTask(third))?.state).toBe('waiting');
    await q.resume();
    await waitFor(async () => (await q.getTask(third))?.state === 'completed', 5000, 'third completed');
    await w.close();
    await q.close();
  });
});
