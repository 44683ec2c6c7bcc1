import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue, Worker } from '../../src/index.js';
import { startSentinelSet, waitFor, type TestSentinel } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';
import { assertBuilt, runCli } from '../e2e/helpers.js';

let set: TestSentinel;
beforeAll(async () => {
  set = await startSentinelSet();
}, 30_000);
afterAll(async () => {
  await set?.destroy();
});

describe('Redis Sentinel', () => {
  it('finds the master through Sentinel, and keeps publishing and working across a failover', { timeout: 60_000 }, async () => {
    expect(await set.masterPort()).toBe(set.master.port);
    const q = new Queue<number>('failover', { connection: set.url });
    const done = new Set<number>();
    const w = new Worker<number>('failover', (t) => void done.add(t.data), { connection: set.url, concurrency: 4 });
    collectErrors(w);
    await w.start();
    for (let i = 0; i < 50; i++) await q.add(i);
    await waitFor(() => done.size === 50, 10_000, 'the first 50');
    // What the master acknowledged has reached the replica before it goes.
    await q.client.call('WAIT', 1, 5000);

    await set.master.stop();
    // Publishing goes on: calls wait while Sentinel promotes the replica, then go to it.
    for (let i = 50; i < 100; i++) await q.add(i);
    expect(await set.masterPort()).toBe(set.replica.port);
    await waitFor(() => done.size === 100, 20_000, 'all 100 after the failover');
    expect(await q.counts()).toMatchObject({ published: 100, completed: 100, waiting: 0, active: 0 });
    await w.close();
    await q.close();
  });

  it('the programs take a redis+sentinel:// URL; an unknown master name is one line and exit 3', { timeout: 30_000 }, async () => {
    assertBuilt();
    const pub = await runCli('task-publish', ['--redis', set.url, '-q', 'cli-sentinel', 'echo via sentinel']);
    expect(pub.code, pub.stderr).toBe(0);
    const mon = await runCli('task-monitor', ['--redis', set.url, '--once', '--json', '-q', 'cli-sentinel']);
    expect(mon.code, mon.stderr).toBe(0);
    expect(JSON.parse(mon.stdout)).toMatchObject({ redis: set.url, queues: [{ name: 'cli-sentinel', waiting: 1 }] });
    const unknown = set.url.replace(/\/rtmaster$/, '/no-such-master');
    const bad = await runCli('task-publish', ['--redis', unknown, '-q', 'cli-sentinel', 'x']);
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain(unknown);
  });
});
