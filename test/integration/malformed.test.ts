import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, RepairedError, Worker } from '../../src/index.js';
import { snapshot } from '../../src/commands/monitor.js';
import { statsKey } from '../../src/shared/keys.js';
import { isDataError, KEY_TYPES } from '../../src/shared/repair.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { sleep } from '../helpers/util.js';

// Nothing read from Redis is trusted: malformed values of every kind, in every key a queue has,
// written while workers run. The workers must go on, every well-formed task must complete exactly
// once, every malformed task must be quarantined with a reason, and the monitor and the listings
// must still answer.

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

/** Task records with a readable head (id) and something wrong after it: each must be dead-lettered with a reason. */
function badRecords(first: number): Array<[what: string, id: string, record: string]> {
  const rows: Array<[string, string]> = [
    ['options null', '0|99999|0||null|"echo x"'],
    ['options an array', '0|3|0|n|[1,2]|1'],
    ['options a string', '0|3|0|n|"s"|1'],
    ['options a number', '0|3|0|n|7|1'],
    ['options not JSON', '0|3|0|n|{oops|1'],
    ['a negative timeout', '0|3|0|n|{"t":-1}|1'],
    ['a timeout of 1e308', '0|3|0|n|{"t":1e308}|1'],
    ['a priority that is a string', '0|3|0|n|{"p":"x"}|1'],
    ['a priority out of range', '0|3|0|n|{"p":1000}|1'],
    ['an unknown backoff type', '0|3|0|n|{"bt":"zz"}|1'],
    ['a negative backoff delay', '0|3|0|n|{"bt":"f","bd":-5}|1'],
    ['a group that is a number', '0|3|0|n|{"g":5}|1'],
    ['a schedule name that is an object', '0|3|0|n|{"sn":{}}|1'],
    ['a payload that is not JSON', '0|3|0|n||{not json'],
    ['a payload nested 100,000 deep', `0|3|0|n||${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ['no attempts allowed', '0|0|0|n||1'],
    ['more attempts made than allowed', '99999999999999999999|3|0|n||1'],
    ['an empty payload', '0|3|0|n||'],
  ];
  return rows.map(([what, rest], i) => [what, String(first + i), `${first + i}|${rest}`]);
}

/** Records without a readable head: set aside in the corrupt list. */
const HEADLESS = ['garbage', '|||||||', '5|x', 'NaN|0|3|0|n||1', '-3|0|3|0|n||1', '1e400|0|3|0|n||1'];

describe('malformed values in every key of a queue, while workers run', () => {
  it('workers go on, good tasks complete exactly once, bad ones are quarantined with a reason, and the monitor answers', async () => {
    const name = 'mal';
    const q = new Queue<number>(name, { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const runs = new Map<number, number>();
    const handler = (t: { data: number }) => {
      runs.set(t.data, (runs.get(t.data) ?? 0) + 1);
      return t.data;
    };
    const workers = [0, 1].map(() => new Worker<number>(name, handler, { connection: redis.url, concurrency: 4, leaseMs: 1000 }));
    const warnings: string[] = [];
    const errors: Error[] = [];
    const quarantined: string[] = [];
    for (const w of workers) {
      w.on('warning', (m) => warnings.push(m));
      w.on('error', (e) => errors.push(e));
      w.on('quarantined', (_q, id) => quarantined.push(id));
    }
    // Good tasks of every kind, published before the damage: plain, delayed, prioritized, grouped, with a key.
    const good: number[] = [];
    const publish = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        good.push(i);
        const kind = i % 5;
        await q.add(i, kind === 1 ? { delay: 300 } : kind === 2 ? { priority: 5 } : kind === 3 ? { group: `g${i % 3}` } : kind === 4 ? { key: `k${i}` } : {});
      }
    };
    await publish(0, 40);
    for (const w of workers) await w.start();

    // The damage.
    const bad = badRecords(900_000);
    for (const [, , record] of bad) await c.lpush(k.wait, record);
    for (const h of HEADLESS) await c.lpush(k.wait, h);
    const now = Date.now();
    await c.hset(k.config, { keepCompleted: 'inf', keepCompletedMs: '-5', keepDead: 'NaN', maxActive: '-1', rateMax: '1e308', rateWindowMs: 'abc', paused: 'maybe', groupMaxActive: '0.5', groupRateMax: '-7', nonsense: 'x' });
    await c.hset(k.meta, { retried: 'abc', recovered: '1e400', vt: 'nan', turn: '{}' });
    await c.zadd(k.delayed, now - 1000, '910000'); // due, with no record
    await c.hset(k.data, '910001', 'garbage'); // a record nobody points at
    await c.zadd(k.delayed, now - 1000, '910002');
    await c.hset(k.data, '910002', '910002|0|3|0|n|{"t":"x"}|1'); // due, with bad options
    await c.zadd(k.prio, -5e13, '910003'); // prioritized, with no record
    await c.zadd(k.groups, 1, '910004'); // grouped, with no record
    await c.hset(k.active, '910005', 'garbage'); // leased long ago, unreadable
    await c.zadd(k.lease, now - 60_000, '910005|tok.1');
    await c.zadd(k.lease, now - 60_000, 'no-token-at-all');
    await c.hset(k.errors, '910006', '{not json');
    await c.hset(k.results, '910006', '{not json');
    await c.hset(k.progress, '910007', '[[[');
    await c.hset(k.gstate, 'g1', 'abc');
    await c.hset(k.gactive, 'g2', '-40');
    await c.hset(k.grate, 'g1:1', 'x');
    await c.hset(k.idem, 'k999', 'not-an-id');
    await c.zadd(k.idemexp, now + 60_000, 'k999');
    await c.set(k.rate, 'abc');
    await c.zadd(k.marker, 0, 'zzz');
    await c.zadd(k.workers, now, 'ghost');
    await c.hset(k.winfo, 'ghost', '{"id":5,"queues":"x","concurrency":-1}');
    await c.hset(statsKey(name, Math.floor(now / 1000) - 2), { completed: 'abc', failed: 'NaN', w3: '-1', w999: '1' });
    await c.hset(k.schedules, 'every-zero', JSON.stringify({ rev: 'r', every: 0, anchor: 0, since: 0, overlap: 'allow', catchUp: 'none' }));
    await c.hset(k.schedtask, 'every-zero', '0|n||1');
    await c.zadd(k.schednext, now, 'every-zero');
    await c.hset(k.schedules, 'not-json', '{');
    await c.zadd(k.schednext, now, 'not-json');
    await c.hset(k.schedules, 'bad-cron', JSON.stringify({ rev: 'r', cron: 'not a cron', since: 0 }));
    await c.zadd(k.schednext, now, 'bad-cron');
    await c.zadd(k.schednext, now, 'no-definition');
    await c.hset(k.schedstate, 'every-zero', 'x|y|z');

    // Good tasks published after the damage.
    await publish(40, 40);
    await waitFor(() => good.every((i) => runs.has(i)), 20_000, 'every good task run');
    await sleep(1500); // leases, retries and maintenance passes: nothing may run twice
    expect(good.filter((i) => runs.get(i) !== 1)).toEqual([]);
    expect([...runs.keys()].filter((d) => !good.includes(d))).toEqual([]);

    // Every bad record with a head is dead-lettered with a reason, once.
    for (const [what, id] of bad) {
      const info = await q.getTask(id);
      expect({ what, state: info?.state }).toEqual({ what, state: 'dead' });
      const why = JSON.parse((await c.hget(k.errors, id))!) as Array<{ error: string }>;
      expect({ what, reason: why.at(-1)!.error.length > 0 }).toEqual({ what, reason: true });
    }
    expect(quarantined.filter((id) => id.startsWith('9000')).sort()).toEqual(bad.map(([, id]) => id).sort());
    expect(warnings.filter((m) => m.includes('dead-lettered')).length).toBeGreaterThanOrEqual(bad.length);
    // Headless records are set aside intact.
    expect((await c.lrange(k.corrupt, 0, -1)).sort()).toEqual([...HEADLESS].sort());

    // The workers still run: a task published now completes.
    const last = 10_000;
    good.push(last);
    await q.add(last);
    await waitFor(() => runs.get(last) === 1, 10_000, 'a task after everything');

    // The monitor and the listings answer.
    const snap = await snapshot(c, redis.url, [name]);
    expect(snap.queues[0]!.name).toBe(name);
    for (const state of ['waiting', 'active', 'delayed', 'completed', 'dead', 'cancelled'] as const) await q.listTasks(state, { limit: 1000 });
    const dead = await q.listTasks('dead', { limit: 1000 });
    expect(dead.length).toBeGreaterThanOrEqual(bad.length);
    await q.schedules();
    await q.workers();
    await q.settings();
    await q.history(10);
    await q.counts();

    for (const w of workers) await w.close();
    // What the workers reported: the scripts' failures on the bad data (each followed by a
    // repair) and the schedules set aside; nothing else.
    expect(errors.map((e) => e.message).filter((m) => !isDataError(m) && !/^schedule .* is corrupt and was paused/.test(m))).toEqual([]);
    expect(warnings.some((m) => m.includes('bad data set aside'))).toBe(true);
    await q.close();
  }, 60_000);

  it('keys of the wrong Redis type: set aside by whoever meets them first; workers, publishers and the monitor go on', async () => {
    const name = 'mal-types';
    const q = new Queue<number>(name, { connection: redis.url });
    const c = q.client;
    const k = q.keys;
    const runs = new Map<number, number>();
    const workers = [0, 1].map(() => new Worker<number>(name, (t) => void runs.set(t.data, (runs.get(t.data) ?? 0) + 1), { connection: redis.url, concurrency: 4, leaseMs: 1000 }));
    const warnings: string[] = [];
    const errors: Error[] = [];
    for (const w of workers) {
      w.on('warning', (m) => warnings.push(m));
      w.on('error', (e) => errors.push(e));
    }
    const good: number[] = [];
    const repaired: string[][] = [];
    const publish = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        good.push(i);
        const opts = i % 3 === 1 ? { delay: 200 } : i % 3 === 2 ? { priority: 3, group: 'g' } : {};
        // A publish that met the bad data first sets it aside and says so; the same publish again works.
        await q.add(i, opts).catch(async (err: unknown) => {
          if (!(err instanceof RepairedError)) throw err;
          repaired.push(err.setAside);
          await q.add(i, opts);
        });
      }
    };
    await publish(0, 30);
    for (const w of workers) await w.start();
    await waitFor(() => good.every((i) => runs.has(i)), 10_000, 'the first tasks run');
    await waitFor(async () => (await q.counts()).completed === 30, 10_000, 'the first tasks completed');

    // Every key of the queue, of another type than its own (the queue is drained: no task is lost
    // to the damage itself).
    for (const [field, type] of KEY_TYPES) {
      const key = k[field];
      await c.del(key);
      if (type === 'zset') await c.rpush(key, 'not a sorted set');
      else if (type === 'string') await c.hset(key, 'not', 'a string');
      else await c.set(key, `not a ${type}`);
    }
    await publish(30, 30);
    await waitFor(() => good.every((i) => runs.has(i)), 20_000, 'every good task run');
    await sleep(1000);
    expect(good.filter((i) => runs.get(i) !== 1)).toEqual([]);
    // Every key is of its own type again (or gone, until it is needed).
    for (const [field] of KEY_TYPES) expect({ field, type: await wrongType(c, k[field]) }).toEqual({ field, type: '(right)' });
    // What was set aside is kept, and was told.
    expect(await c.exists(`${k.config}:quarantined`)).toBe(1);
    expect([...warnings, ...repaired.flat()].some((m) => m.includes('renamed to'))).toBe(true);
    // The monitor and the listings answer.
    const snap = await snapshot(c, redis.url, [name]);
    expect(snap.queues[0]!.name).toBe(name);
    for (const state of ['waiting', 'active', 'delayed', 'completed', 'dead', 'cancelled'] as const) await q.listTasks(state, { limit: 100 });
    await q.schedules();
    await q.workers();
    await q.settings();
    await q.counts();
    for (const w of workers) await w.close();
    expect(errors.map((e) => e.message).filter((m) => !isDataError(m))).toEqual([]);
    await q.close();
  }, 60_000);
});

/** '(right)' when a key is absent or of its own type (KEY_TYPES), else the type it has. */
async function wrongType(c: import('ioredis').Redis, key: string): Promise<string> {
  const own = new Map<string, string>(KEY_TYPES.map(([f, t]) => [f, t]));
  const field = key.slice(key.lastIndexOf(':') + 1);
  const t = await c.type(key);
  return t === 'none' || t === own.get(field) ? '(right)' : t;
}
