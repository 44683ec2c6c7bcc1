import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRecord } from '../../src/shared/record.js';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { sleep } from '../helpers/util.js';
import { assertBuilt, runCli, startCli, type Running } from './helpers.js';

let redis: TestRedis;
const workers: Running[] = [];

beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis?.destroy();
});

interface ScheduleJson {
  name: string;
  queue: string;
  every?: number;
  cron?: string;
  tz?: string;
  next: number | null;
  lastDue: number | null;
  fired: number;
  skipped: number;
  paused: boolean;
  data: unknown;
}

async function schedules(...args: string[]): Promise<ScheduleJson[]> {
  const r = await runCli('task-monitor', ['--redis', redis.url, 'schedules', '--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { schedules: ScheduleJson[] }).schedules;
}

describe('schedules end to end', () => {
  it('five task-worker processes race for a one-second schedule for a minute: every due time fires once', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'race', '--schedule', 'sec', '--every', '1s', '--catch-up', 'all', '--json', 'echo "$TASK_DUE"']);
    expect(pub.code, pub.stderr).toBe(0);
    const created = JSON.parse(pub.stdout) as { schedule: string; queue: string; next: number };
    expect(created).toMatchObject({ schedule: 'sec', queue: 'race' });
    const anchor = created.next - 1000;
    for (let i = 0; i < 5; i++) workers.push(startCli('task-worker', ['--redis', redis.url, '-q', 'race', '--exec', '-c', '2']));
    const racers = workers.slice(-5);

    // A minute of due times, then the schedule is paused (the window ends somewhere in that call).
    await sleep(anchor + 60_000 - Date.now());
    const before = Date.now();
    const paused = await runCli('task-monitor', ['--redis', redis.url, 'schedule-pause', 'race', 'sec']);
    const after = Date.now();
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stderr).toContain('paused schedule sec of race');

    const c = redis.client();
    const published = Number(await c.hget('rt:{race}:meta', 'published'));
    await waitFor(async () => Number(await c.hget('rt:{race}:meta', 'completed')) === published, 30_000, 'every fired task completed');
    for (const w of racers) w.child.kill('SIGTERM');
    for (const w of racers) expect((await w.exited).code).toBe(0);

    const records = Object.values(await c.hgetall('rt:{race}:data')).map((e) => decodeRecord(e));
    const results = await c.hgetall('rt:{race}:results');
    expect(records).toHaveLength(published);
    const dues = records.map((r) => r.opts.sd!).sort((a, b) => a - b);
    // No due time fired twice, none was left out, and each is anchor + k·1s.
    expect(new Set(dues).size).toBe(dues.length);
    expect(dues[0]).toBe(anchor + 1000);
    for (let i = 1; i < dues.length; i++) expect(dues[i]! - dues[i - 1]!).toBe(1000);
    // As many fires as due times in the window (the last one may race the pause).
    const inWindow = Math.floor((before - anchor) / 1000);
    expect(dues.length).toBeGreaterThanOrEqual(inWindow - 1);
    expect(dues.length).toBeLessThanOrEqual(Math.floor((after - anchor) / 1000));
    expect(dues.length).toBeGreaterThanOrEqual(59);
    // Each command saw its own due time in TASK_DUE.
    for (const r of records) expect(JSON.parse(results[r.id]!)).toBe(`${new Date(r.opts.sd!).toISOString()}\n`);
    // Each fire was published by exactly one of the five processes, and they did race for them.
    const logged = racers.map((w) => [...w.stderr().matchAll(/schedule sec published race#(\d+) for (\S+)/g)].map((m) => m[2]!));
    const all = logged.flat();
    expect(all).toHaveLength(dues.length);
    expect(new Set(all).size).toBe(dues.length);
    expect(logged.filter((l) => l.length > 0).length).toBeGreaterThanOrEqual(2);

    const [s] = await schedules('-q', 'race');
    expect(s).toMatchObject({ name: 'sec', queue: 'race', every: 1000, paused: true, next: null, fired: dues.length, skipped: 0 });
    expect(s!.lastDue).toBe(dues.at(-1));
  }, 100_000);

  it('task-monitor lists, pauses, resumes and deletes schedules; bad input exits 2', async () => {
    const cron = await runCli('task-publish', ['--redis', redis.url, '-q', 'admin', '--schedule', 'nightly', '--cron', '0 2 * * *', '--tz', 'Europe/Berlin', '--overlap', 'skip', '-n', 'report', 'make report']);
    expect(cron.code, cron.stderr).toBe(0);
    expect(cron.stdout).toMatch(/^nightly next \d{4}-\d\d-\d\dT(00|01):00:00\.000Z\n$/);
    const every = await runCli('task-publish', ['--redis', redis.url, '-q', 'admin', '--schedule', 'poll', '--every', '5m', '--data-json', '{"url":"http://127.0.0.1/"}']);
    expect(every.code, every.stderr).toBe(0);

    const list = await schedules('-q', 'admin');
    expect(list.map((s) => s.name)).toEqual(['nightly', 'poll']);
    expect(list[0]).toMatchObject({ cron: '0 2 * * *', tz: 'Europe/Berlin', paused: false, data: 'make report' });
    expect(list[1]).toMatchObject({ every: 300_000, data: { url: 'http://127.0.0.1/' } });
    const table = await runCli('task-monitor', ['--redis', redis.url, 'schedules']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/admin\s+nightly\s+cron 0 2 \* \* \* Europe\/Berlin/);
    expect(table.stdout).toMatch(/admin\s+poll\s+every 5m/);

    expect((await runCli('task-monitor', ['--redis', redis.url, 'schedule-pause', 'admin', 'poll'])).code).toBe(0);
    expect((await schedules('-q', 'admin'))[1]).toMatchObject({ name: 'poll', paused: true, next: null });
    expect((await runCli('task-monitor', ['--redis', redis.url, 'schedule-resume', 'admin', 'poll'])).code).toBe(0);
    expect((await schedules('-q', 'admin'))[1]!.next).toBeGreaterThan(Date.now());
    const del = await runCli('task-monitor', ['--redis', redis.url, 'schedule-delete', 'admin', 'poll']);
    expect(del.code).toBe(0);
    expect((await schedules('-q', 'admin')).map((s) => s.name)).toEqual(['nightly']);

    const missing = await runCli('task-monitor', ['--redis', redis.url, 'schedule-delete', 'admin', 'poll']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('task-monitor: no schedule "poll" on queue admin\n');
    for (const args of [
      ['--cron', '*/5 * * * *', 'x'],
      ['--schedule', 'a', 'x'],
      ['--schedule', 'a', '--cron', 'bananas', 'x'],
      ['--schedule', 'a', '--cron', '*/5 * * * *', '--tz', 'Nowhere/Town', 'x'],
      ['--schedule', 'a', '--every', '1s', '--cron', '* * * * *', 'x'],
      ['--schedule', 'a', '--every', '1s', 'x', 'y'],
      ['--schedule', 'a', '--every', '1s', '--catch-up', 'sometimes', 'x'],
    ]) {
      const r = await runCli('task-publish', ['--redis', redis.url, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});
