import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { render, renderTask } from '../../src/commands/monitor-view.js';
import { run as monitorRun, snapshot } from '../../src/commands/monitor.js';
import { Queue, UsageError, Worker } from '../../src/index.js';
import { statsKey } from '../../src/shared/keys.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';
import { Chalk } from 'chalk';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.destroy();
});

const plain = new Chalk({ level: 0 });

/** Runs task-monitor in this process; resolves to its exit code and what it printed. */
async function monitor(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (b: Buffer) => (out += b.toString()));
  stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await monitorRun([...args, '--redis', redis.url], { stdin: new PassThrough(), stdout, stderr, env: {} });
  return { code, stdout: out, stderr: err };
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);

/** Records with a valid head and bad options or payload: [id, record, reason]. */
const BAD: Array<[string, string, RegExp]> = [
  ['61', '61|0|99999|0||null|"echo x"', /attempts 99999/],
  ['62', '62|0|3|0||null|"echo x"', /options null are not an object/],
  ['63', '63|0|3|0||[1]|1', /options \[1\] are not an object/],
  ['64', '64|0|3|0||"s"|1', /options "s"/],
  ['65', '65|0|3|0||7|1', /options 7/],
  ['66', '66|0|3|0||{"t":-1}|1', /option t -1/],
  ['67', '67|0|3|0||{"t":1e308}|1', /option t 1e\+308/],
  ['68', '68|0|3|0||{"p":"x"}|1', /option p "x"/],
  ['69', '69|0|3|0||{"bt":"zz"}|1', /option bt "zz"/],
  ['70', '70|0|3|0||{"bt":"e","bd":"NaN"}|1', /option bd "NaN"/],
  ['71', '71|0|3|0|||{not json', /payload: not valid JSON/],
  ['72', `72|0|3|0|||${deep(10_000)}`, /nested more than 512 levels/],
];

describe('quarantine of what cannot be decoded', () => {
  it('dead-letters bad records with their reason, runs the rest, and lists them all', async () => {
    const q = new Queue<number>('qt-tasks', { connection: redis.url });
    const k = q.keys;
    const before = await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: i })));
    for (const [, raw] of BAD) await q.client.lpush(k.wait, raw);
    const after = await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ data: 100 + i })));
    const seen: number[] = [];
    const w = new Worker<number>('qt-tasks', (t) => void seen.push(t.data), { connection: redis.url, concurrency: 3 });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 10 && (await q.client.zcard(k.dead)) === BAD.length, 10_000, 'all handled');
    // The worker is still running: a task published now completes.
    const later = await q.add(200);
    await waitFor(async () => (await q.getTask(later))?.state === 'completed', 5000, 'later task');
    await w.close();
    expect(errors).toEqual([]);
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 100, 101, 102, 103, 104, 200]);
    for (const id of [...before, ...after]) expect((await q.getTask(id))!.state).toBe('completed');

    // Each bad one: dead, its reason as its error, shown as corrupt with what could be read.
    for (const [id, , reason] of BAD) {
      const t = (await q.getTask(id))!;
      expect(t, id).toMatchObject({ id, state: 'dead' });
      expect(t.corrupt, id).toMatch(reason);
      expect(t.errors[0]!.error, id).toMatch(reason);
      expect(t.data).toBeUndefined();
    }
    // The head could be read; the attempt that found the record unreadable counts.
    expect((await q.getTask('62'))!).toMatchObject({ attempts: 1, maxAttempts: 3, publishedAt: 0 });
    const dead = await q.listTasks('dead', { limit: 100 });
    expect(dead.map((t) => t.id).sort()).toEqual(BAD.map(([id]) => id).sort());
    expect(dead.every((t) => t.corrupt !== undefined)).toBe(true);

    // task-monitor lists them (exit 0, not 1 for the whole listing), and shows one.
    const list = await monitor('tasks', 'qt-tasks', '--state', 'dead', '--limit', '100');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim().split('\n')).toHaveLength(BAD.length);
    expect(list.stdout).toMatch(/^\s*62 {2}dead .* corrupt: corrupt task record 62: its options null are not an object$/m);
    const json = await monitor('tasks', 'qt-tasks', '--state', 'dead', '--json');
    expect(json.code).toBe(0);
    for (const line of json.stdout.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('corrupt');
    const show = await monitor('show', 'qt-tasks', '66');
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('corrupt    corrupt task record 66: its option t -1 is out of range');
    expect(show.stdout).not.toContain('payload');
    const completedList = await monitor('tasks', 'qt-tasks', '--state', 'completed', '--limit', '100');
    expect(completedList.stdout.trim().split('\n')).toHaveLength(11);
    await q.close();
  });

  it('lists waiting and active tasks around corrupt ones, and reads what else is stored about a task', async () => {
    const q = new Queue<string>('qt-list', { connection: redis.url });
    const k = q.keys;
    const [a] = await q.addBulk([{ data: 'a' }]);
    await q.client.lpush(k.wait, '90|0|3|0||null|"x"', 'garbage');
    const [b] = await q.addBulk([{ data: 'b' }]);
    const waiting = await q.listTasks('waiting');
    expect(waiting.map((t) => [t.id, t.data, t.corrupt === undefined])).toEqual([
      [a, 'a', true],
      ['90', undefined, false],
      ['', undefined, false],
      [b, 'b', true],
    ]);
    expect(waiting[2]!.corrupt).toMatch(/corrupt task record: "garbage"/);
    expect((await q.getTask('90'))!).toMatchObject({ id: '90', state: 'waiting', corrupt: /options null/ });

    // An active task with a corrupt record, under a lease of worker "host-1-abc".
    await q.client.hset(k.active, '91', 'host-1-abc.2|91|0|3|0||{"p":"x"}|1');
    await q.client.zadd(k.lease, Date.now() + 60_000, '91|host-1-abc.2');
    // An active task that is fine, with progress that is not JSON.
    await q.client.hset(k.active, '92', 'host-1-abc.3|92|1|3|0|job|{"t":5000,"g":"g1"}|"ok"');
    await q.client.zadd(k.lease, Date.now() + 60_000, '92|host-1-abc.3');
    await q.client.hset(k.progress, '92', '{half');
    const active = await q.listTasks('active');
    expect(active.map((t) => t.id).sort()).toEqual(['91', '92']);
    const t91 = active.find((t) => t.id === '91')!;
    expect(t91).toMatchObject({ state: 'active', worker: 'host-1-abc', corrupt: /option p "x"/ });
    const t92 = (await q.getTask('92'))!;
    expect(t92).toMatchObject({ state: 'active', data: 'ok', name: 'job', attempts: 2, maxAttempts: 3, timeout: 5000, group: 'g1', worker: 'host-1-abc' });
    expect(t92.corrupt).toBe('its progress: not valid JSON');
    expect(t92).not.toHaveProperty('opts');
    expect(t92).not.toHaveProperty('made');

    // A completed task whose errors and result cannot be read.
    await q.client.hset(k.data, '93', '93|1|3|0|||"done"');
    await q.client.zadd(k.completed, Date.now(), '93');
    await q.client.hset(k.errors, '93', 'not a list');
    await q.client.hset(k.results, '93', deep(2000));
    const t93 = (await q.getTask('93'))!;
    expect(t93).toMatchObject({ state: 'completed', data: 'done', attempts: 2, errors: [] });
    expect(t93.corrupt).toBe('its errors: not valid JSON; its result: nested more than 512 levels deep');
    await expect(q.getResult('93')).rejects.toThrow(/nested more than 512/);
    expect(renderTask(t93, plain)).toContain('corrupt    its errors: not valid JSON');
    await q.close();
  });

  it('pauses a schedule that does not decode, with its reason, and keeps the worker running', async () => {
    const q = new Queue<string>('qt-sched', { connection: redis.url });
    const k = q.keys;
    await q.schedule('good', 'tick', { every: 1000 });
    const made = await q.schedule('zero', 'z', { every: 60_000 });
    // The interval of issue 14 (Fatal JavaScript invalid size error), a definition that is no
    // JSON, and one whose task template is bad.
    const raw = (await q.client.hget(k.schedules, 'zero'))!;
    await q.client.hset(k.schedules, 'zero', raw.replace('"every":60000', '"every":0'));
    await q.client.zadd(k.schednext, Date.now() - 1000, 'zero');
    await q.client.hset(k.schedules, 'junk', '{"rev":"x1","every":');
    await q.client.hset(k.schedtask, 'junk', '3|||"j"');
    await q.schedule('badtpl', 'b', { every: 2000 });
    await q.client.hset(k.schedtask, 'badtpl', '3||null|"b"');
    expect(made.every).toBe(60_000);

    // Listed as corrupt before any worker looked.
    const listed = await q.schedules();
    expect(listed.map((s) => [s.name, s.corrupt !== undefined])).toEqual([
      ['badtpl', true],
      ['good', false],
      ['junk', true],
      ['zero', true],
    ]);

    const seen: string[] = [];
    const w = new Worker<string>('qt-sched', (t) => void seen.push(t.data), { connection: redis.url });
    const errors = collectErrors(w);
    await w.start();
    await waitFor(() => seen.filter((d) => d === 'tick').length >= 2, 10_000, 'good schedule fired twice');
    await waitFor(() => errors.length >= 3, 5000, 'reported');
    // Once each, however many passes the scheduler made.
    await new Promise((r) => setTimeout(r, 1500));
    await w.close();
    expect(seen.every((d) => d === 'tick')).toBe(true);
    expect(errors.map((e) => e.message).sort()).toEqual([
      expect.stringMatching(/^schedule badtpl of queue qt-sched is corrupt and was paused: its task template: its options null/),
      expect.stringMatching(/^schedule junk of queue qt-sched is corrupt and was paused: its definition: not valid JSON/),
      expect.stringMatching(/^schedule zero of queue qt-sched is corrupt and was paused: its interval 0 is not a whole number/),
    ]);

    // Set aside in Redis: paused, with the reason and the definition it replaced; no pending fire.
    const aside = JSON.parse((await q.client.hget(k.schedules, 'zero'))!) as Record<string, unknown>;
    expect(aside).toMatchObject({ paused: true, corrupt: expect.stringMatching(/interval 0/), stored: expect.stringContaining('"every":0') });
    expect(await q.client.zscore(k.schednext, 'zero')).toBeNull();
    const zero = (await q.getSchedule('zero'))!;
    expect(zero).toMatchObject({ paused: true, next: null, corrupt: expect.stringMatching(/interval 0/) });

    const cli = await monitor('schedules', '-q', 'qt-sched');
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/qt-sched\s+zero\s+-\s+paused \(corrupt\).*corrupt: its interval 0/);
    expect(cli.stdout).toMatch(/qt-sched\s+good\s+every 1s/);
    await expect(q.resumeSchedule('zero')).rejects.toThrow(UsageError);

    // Publishing it again replaces the corrupt one; it fires again.
    const fixed = await q.schedule('zero', 'z', { every: 1000 });
    expect(fixed.corrupt).toBeUndefined();
    expect(fixed.paused).toBe(false);
    const w2 = new Worker<string>('qt-sched', (t) => void seen.push(t.data), { connection: redis.url });
    collectErrors(w2);
    await w2.start();
    await waitFor(() => seen.includes('z'), 5000, 'repaired schedule fired');
    await w2.close();
    await q.close();
  });

  it('workers, settings, counters, history and the monitor answer around corrupt entries', async () => {
    const q = new Queue<number>('qt-mon', { connection: redis.url });
    const k = q.keys;
    await q.add(1);
    const w = new Worker<number>('qt-mon', (t) => t.data, { connection: redis.url });
    collectErrors(w);
    await w.start();
    await waitFor(async () => (await q.counts()).completed === 1, 5000, 'done');
    const now = Date.now();
    await q.client.zadd(k.workers, now, 'ghost');
    await q.client.hset(k.winfo, 'ghost', JSON.stringify({ id: 'ghost', host: 'h', pid: 1, queues: 'qt-mon', concurrency: 1, running: 0, startedAt: now, version: 'x' }));
    await q.client.hset(k.config, 'maxActive', 'lots', 'keepDead', '5', 'colour', 'blue');
    await q.client.hset(k.meta, 'retried', 'NaN');
    await q.client.rpush(k.corrupt, 'garbage');
    const second = Math.floor(now / 1000) - 3;
    await q.client.hset(statsKey('qt-mon', second), 'completed', '-4');
    await q.schedule('bad', 1, { every: 60_000 });
    await q.client.hset(k.schedules, 'bad', '[]');

    const workers = await q.workers();
    expect(workers.map((x) => x.id).sort()).toEqual(['ghost', w.id].sort());
    expect(workers.find((x) => x.id === 'ghost')).toMatchObject({ queues: [], corrupt: expect.stringMatching(/queues "qt-mon"/) });
    expect(await q.settings()).toEqual({
      keepDead: 5,
      corrupt: { maxActive: 'maxActive "lots" is not a whole number >= 0', colour: '"colour" is not a setting' },
    });
    const counts = await q.counts();
    expect(counts).toMatchObject({ completed: 1, retried: 0, setAside: 1, corrupt: 'retried "NaN" is not a whole number >= 0' });
    const hist = await q.history(10, now);
    expect(hist.find((h) => h.second === second)).toMatchObject({ completed: 0, corrupt: 'completed "-4" is not a whole number >= 0' });

    const s = await snapshot(q.client, redis.url, ['qt-mon']);
    expect(s.queues[0]).toMatchObject({ name: 'qt-mon', completed: 1 });
    expect(s.schedules).toEqual([expect.objectContaining({ name: 'bad', paused: true, when: '-', corrupt: expect.stringMatching(/not an object/) })]);
    expect(s.corrupt).toEqual([
      expect.stringMatching(/^qt-mon: 1 record\(s\) without a readable head set aside in rt:\{qt-mon\}:corrupt$/),
      expect.stringMatching(/^qt-mon: counters: retried "NaN"/),
      expect.stringMatching(/^qt-mon: stats of 1 second\(s\) unreadable \(counted as 0\), e.g. completed "-4"/),
    ]);
    const drawn = render(s, plain);
    expect(drawn).toMatch(/ghost\s+corrupt: its queues "qt-mon"/);
    expect(drawn).toContain('qt-mon/bad  -  paused, corrupt: its definition [] is not an object');
    expect(drawn).toContain('corrupt records (3)');
    const once = await monitor('--once', '-q', 'qt-mon');
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toContain('corrupt records (3)');
    const config = await monitor('config', 'qt-mon');
    expect(config.code).toBe(0);
    expect(JSON.parse(config.stdout)).toMatchObject({ keepDead: 5, corrupt: { maxActive: expect.any(String) } });
    await w.close();
    await q.close();
  });
});
