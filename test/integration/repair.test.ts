import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { KEY_TYPES, quarantineKey, repairQueue } from '../../src/shared/repair.js';
import { assertBuilt, runCli } from '../e2e/helpers.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';

// Bad data in a queue's structure (a key of the wrong type, a counter that is not a number) made
// every call of its scripts fail for ever; the worker now sets it aside and goes on.

let redis: TestRedis;
beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

describe('repair', () => {
  it('renames keys of the wrong type, resets counters and drops settings that are not numbers, and says what it did', async () => {
    const q = new Queue('rep-unit', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await q.add('x');
    await c.del(k.config, k.results, k.rate);
    await c.set(k.config, 'not a hash');
    await c.rpush(k.results, 'a list');
    await c.hset(k.meta, { completed: 'abc', vt: 'nan', seq: '{}' });
    await c.hset(k.gactive, 'g', '1.5');
    await c.set(k.rate, 'x');
    const before = Date.now();
    const lines = await repairQueue(c, k);
    expect(lines.join('\n')).toMatch(/config: a string, not a hash/);
    expect(lines.join('\n')).toMatch(/results: a list, not a hash/);
    expect(await c.type(k.config)).toBe('none');
    expect(await c.get(`${k.config}:quarantined`)).toBe('not a hash');
    expect(await c.hget(k.meta, 'completed')).toBe('0');
    expect(Number(await c.hget(k.meta, 'seq'))).toBeGreaterThanOrEqual(before);
    expect(await c.hget(k.gactive, 'g')).toBeNull();
    expect(await c.exists(k.rate)).toBe(0);
    expect(await c.hgetall(quarantineKey(k))).toMatchObject({ [`${k.meta} completed`]: 'abc', [`${k.meta} seq`]: '{}', [`${k.gactive} g`]: '1.5', [k.rate]: 'x' });
    // A queue in order: nothing to do.
    expect(await repairQueue(c, k)).toEqual([]);
    // Tasks go on: ids above every earlier one.
    const id = await q.add('y');
    expect(Number(id)).toBeGreaterThanOrEqual(before);
    await q.close();
  });

  it('a worker whose calls fail because of bad data repairs the queue, warns, and completes the tasks', async () => {
    const q = new Queue<number>('rep-worker', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const ids = await q.addBulk([1, 2, 3].map((data) => ({ data })));
    // Keys every task call reads or writes, of the wrong type.
    await c.set(k.config, 'oops');
    await c.set(k.gstate, 'oops');
    await c.hset(k.meta, 'completed', 'many');
    const done: number[] = [];
    const w = new Worker<number>('rep-worker', (t) => void done.push(t.data), { connection: redis.url });
    const warnings: string[] = [];
    const errors: Error[] = [];
    w.on('warning', (m) => warnings.push(m));
    w.on('error', (e) => errors.push(e));
    await w.start();
    await waitFor(() => done.length === 3, 10_000, 'the tasks run');
    await waitFor(async () => (await q.counts()).completed === 3, 10_000, 'the tasks completed');
    expect(done.sort()).toEqual([1, 2, 3]);
    for (const id of ids) expect((await q.getTask(id))?.state).toBe('completed');
    expect(warnings.some((m) => m.includes(`${k.config}: a string, not a hash`))).toBe(true);
    expect(warnings.some((m) => m.includes(`${k.meta} completed`))).toBe(true);
    // The failures that led to the repair were reported, and stopped once it was done.
    expect(errors.length).toBeGreaterThan(0);
    await w.close();
    await q.close();
  });

  it('the programs meet bad data too: they set it aside, say so on stderr, and answer (a publish that met it asks to be sent again)', async () => {
    const q = new Queue('rep-cli', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await q.add('x');
    // A publish that meets a counter that is not a number: it sets it aside, and asks to be sent again.
    await c.hset(k.meta, 'seq', 'abc');
    const published = await runCli('task-publish', ['-q', 'rep-cli', '--redis', redis.url, 'y']);
    expect(published.code).toBe(1);
    expect(published.stderr).toMatch(/task-publish: warning: queue rep-cli: bad data set aside: .*meta seq/);
    expect(published.stderr).toMatch(/set aside: 1 item\(s\); try again/);
    const again = await runCli('task-publish', ['-q', 'rep-cli', '--redis', redis.url, 'y']);
    expect(again.code).toBe(0);
    // A listing that meets a key of the wrong type: it sets it aside, says so, and answers.
    await c.del(k.dead);
    await c.set(k.dead, 'not a sorted set');
    const listed = await runCli('task-monitor', ['tasks', 'rep-cli', '--state', 'dead', '--redis', redis.url]);
    expect(listed.code).toBe(0);
    expect(listed.stderr).toContain(`task-monitor: warning: queue rep-cli: bad data set aside: ${k.dead}: a string, not a zset`);
    expect(await c.get(`${k.dead}:quarantined`)).toBe('not a sorted set');
    await q.close();
  });

  it('an idle worker whose marker key has the wrong type does not spin on it: the wait fails, the queue is repaired, and a publish is picked up', async () => {
    const q = new Queue('rep-marker', { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    await c.set(k.marker, 'not a sorted set');
    const done: string[] = [];
    const w = new Worker<string>('rep-marker', (t) => void done.push(t.data), { connection: redis.url });
    const warnings: string[] = [];
    w.on('warning', (m) => warnings.push(m));
    w.on('error', () => undefined);
    const pops = async () => {
      const info = (await c.info('commandstats')).split('\n').find((l) => l.startsWith('cmdstat_bzpopmin:'));
      return info ? Number(/calls=(\d+)/.exec(info)![1]) : 0;
    };
    const before = await pops();
    await w.start();
    await waitFor(() => warnings.some((m) => m.includes(`${k.marker}: a string, not a zset`)), 5000, 'the marker set aside');
    await new Promise((r) => setTimeout(r, 1000));
    // A few waits (one failed, then the 5 s waits), not one per round trip.
    expect((await pops()) - before).toBeLessThan(10);
    await q.add('after');
    await waitFor(() => done.includes('after'), 5000, 'the task published after');
    await w.close();
    await q.close();
  });

  it('knows the type of every key of a queue', () => {
    const names = KEY_TYPES.map(([n]) => n).sort();
    const k = Object.keys(new Queue('rep-names', { connection: redis.url, lazy: true } as never).keys).filter((n) => n !== 'prefix').sort();
    expect(names).toEqual(k);
  });
});
