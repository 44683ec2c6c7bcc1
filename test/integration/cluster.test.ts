import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot } from '../../src/commands/monitor.js';
import { Queue, Worker, type TaskOutcome } from '../../src/index.js';
import { startCluster, waitFor, type TestCluster } from '../helpers/redis.js';
import { collectErrors } from '../helpers/util.js';
import { assertBuilt, runCli } from '../e2e/helpers.js';

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await startCluster(3);
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
});

/** The node (index into cluster.nodes) that serves a queue's slot. */
async function nodeOf(queue: string): Promise<number> {
  const c = cluster.nodes[0]!.client();
  const slot = (await c.call('CLUSTER', 'KEYSLOT', `rt:{${queue}}:wait`)) as number;
  const ranges = (await c.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
  const port = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2][1];
  return cluster.nodes.findIndex((n) => n.port === port);
}

describe('Redis Cluster', () => {
  // Queues whose slots are on three different nodes.
  const names = ['a', 'b', 'c'];

  it('one worker serves queues on different nodes: plain, delayed, prioritized, grouped, waited-for and scheduled tasks', { timeout: 30_000 }, async () => {
    expect(new Set(await Promise.all(names.map(nodeOf))).size).toBe(3);
    const qs = names.map((n) => new Queue<number>(n, { connection: cluster.url }));
    const done: string[] = [];
    const w = new Worker<number>(names, (t) => {
      done.push(`${t.queue}:${t.data}`);
      return t.data * 2;
    }, { connection: cluster.url, concurrency: 4 });
    const errors = collectErrors(w);
    await w.start();
    for (const q of qs) await q.addBulk([1, 2, 3].map((data) => ({ data })));
    await qs[0]!.add(10, { delay: 300 });
    await qs[1]!.add(20, { priority: 5 });
    await qs[2]!.add(30, { group: 'tenant' });
    const waiter = await qs[0]!.waiter<number>();
    const id = await qs[0]!.add(40, { notify: true });
    expect(await waiter.wait(id, { timeoutMs: 10_000 })).toEqual({ id, queue: 'a', state: 'completed', result: 80 } satisfies TaskOutcome<number>);
    waiter.close();
    await waitFor(() => done.length === 13, 10_000, 'all 13 tasks');
    expect(done.sort()).toEqual(['a:1', 'a:10', 'a:2', 'a:3', 'a:40', 'b:1', 'b:2', 'b:20', 'b:3', 'c:1', 'c:2', 'c:3', 'c:30']);
    // Schedules fire on a cluster too.
    await qs[2]!.schedule('tick', 5, { every: 1000 });
    await waitFor(() => done.filter((d) => d === 'c:5').length >= 2, 10_000, 'two scheduled fires');
    await qs[2]!.deleteSchedule('tick');
    // The monitor's snapshot reads every queue; the worker is listed as live.
    const s = await snapshot(qs[0]!.client, cluster.url, names);
    expect(s.queues.map((q) => [q.name, q.completed >= 4, q.waiting])).toEqual([['a', true, 0], ['b', true, 0], ['c', true, 0]]);
    expect(s.workers.map((x) => x.id)).toEqual([w.id]);
    // The task path's Function library is on every master.
    for (const n of cluster.nodes) {
      const libs = (await n.client().call('FUNCTION', 'LIST')) as unknown[][];
      expect(JSON.stringify(libs)).toContain('redtask_');
    }
    await w.close();
    expect(errors).toEqual([]);
    for (const q of qs) await q.close();
  });

  it('goes on after the node that serves one of its queues restarts', { timeout: 30_000 }, async () => {
    const q = new Queue<number>('b', { connection: cluster.url });
    const other = new Queue<number>('a', { connection: cluster.url });
    const done: string[] = [];
    const w = new Worker<number>(['a', 'b'], (t) => void done.push(`${t.queue}:${t.data}`), { connection: cluster.url, concurrency: 2 });
    collectErrors(w);
    await w.start();
    await q.add(1);
    await other.add(1); // (the first add also enters the queue's name in rt:queues, on some node)
    await waitFor(() => done.includes('b:1') && done.includes('a:1'), 10_000, 'b:1 and a:1');
    const node = cluster.nodes[await nodeOf('b')]!;
    await node.stop();
    await other.add(2); // the other queues' nodes keep working meanwhile
    await waitFor(() => done.includes('a:2'), 10_000, 'a:2 while b is down');
    await node.start();
    await waitFor(async () => /cluster_state:ok/.test((await node.client().call('CLUSTER', 'INFO')) as string), 15_000, 'cluster ok');
    await q.add(3);
    await waitFor(() => done.includes('b:3'), 15_000, 'b:3 after the restart');
    await w.close();
    await q.close();
    await other.close();
  });

  it("while the node of one of its queues is down, a worker keeps renewing its tasks' leases on the others", { timeout: 30_000 }, async () => {
    const leaseMs = 1000;
    const a = new Queue<string>('a', { connection: cluster.url });
    const b = new Queue<string>('b', { connection: cluster.url });
    await b.add('register'); // (so that b's node is not needed to publish to it later)
    const signals: AbortSignal[] = [];
    const w = new Worker<string>(['a', 'b'], async (t, ctx) => {
      if (t.data !== 'long') return;
      signals.push(ctx.signal);
      await new Promise((r) => setTimeout(r, 3 * leaseMs));
    }, { connection: cluster.url, leaseMs, concurrency: 2 });
    collectErrors(w);
    await w.start();
    const recoveredBefore = (await a.counts()).recovered;
    const id = await a.add('long');
    await waitFor(() => signals.length === 1, 10_000, 'the long task started');
    const node = cluster.nodes[await nodeOf('b')]!;
    await node.stop();
    try {
      await waitFor(async () => (await a.getTask(id))?.state === 'completed', 15_000, 'the long task completed');
      expect(signals[0]!.aborted).toBe(false);
      expect((await a.counts()).recovered).toBe(recoveredBefore);
    } finally {
      await node.start();
      await waitFor(async () => /cluster_state:ok/.test((await node.client().call('CLUSTER', 'INFO')) as string), 15_000, 'cluster ok');
    }
    await w.close();
    await a.close();
    await b.close();
  });

  it('the programs take a redis+cluster:// URL', { timeout: 30_000 }, async () => {
    assertBuilt();
    const pub = await runCli('task-publish', ['--redis', cluster.url, '-q', 'cli-cluster', 'echo on a cluster']);
    expect(pub.code, pub.stderr).toBe(0);
    const mon = await runCli('task-monitor', ['--redis', cluster.url, '--once', '--json', '-q', 'cli-cluster']);
    expect(mon.code, mon.stderr).toBe(0);
    expect(JSON.parse(mon.stdout)).toMatchObject({ queues: [{ name: 'cli-cluster', waiting: 1 }] });
    const bad = await runCli('task-publish', ['--redis', 'redis+cluster://127.0.0.1:1', '-q', 'x', 'x']);
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
