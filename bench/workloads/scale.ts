import { payload } from '../payload.js';
import { costPerTask, costSnapshot } from '../redis.js';
import { median, percentile, sleep } from '../stats.js';
import type { System } from '../systems/types.js';
import { type BenchContext, chunks, deferred, type Sample, sampler, within, type Workload } from './common.js';

const SNAPSHOTS = 100;

/**
 * W6 scale: the cost per task of enqueueing and of processing M tasks on top of a backlog of
 * 1,000 waiting tasks and on top of a large backlog (1,000,000; 100,000 with --quick), and the
 * time of the monitor's snapshot query (counts of every state plus the live workers) with the
 * large backlog and one worker holding a task. Cost = Redis CPU + Node CPU per task; the ratio
 * large/small must stay within 1.2.
 */
export function scaleWorkload(opts: { peers: boolean }): Workload {
  return {
    id: 'W6',
    title: 'scale with a large backlog',
    systems(all, ctx) {
      if (opts.peers) return { run: all, notes: [] };
      return {
        run: all.filter((s) => s.id === 'redtask'),
        notes: [`W6 ran redtask only (${ctx.quick ? '--quick without --w6-peers, to stay within 2 minutes' : '--w6-redtask-only'})`],
      };
    },
    async run(ctx: BenchContext, system: System): Promise<Sample[]> {
      const big = ctx.quick ? 100_000 : 1_000_000;
      const m = ctx.quick ? 10_000 : 20_000;
      const s = sampler('W6 scale', system);
      const admin = ctx.redis.admin;
      const out: Sample[] = [];
      const cost: Record<string, { enq: number; proc: number }> = {};
      for (const backlog of [1000, big]) {
        const tag = backlog >= 1_000_000 ? `${backlog / 1_000_000}M` : `${backlog / 1000}k`;
        await admin.flushall();
        const qn = ctx.queue('w6');
        const producer = system.producer(qn);
        await producer.ready();
        const t0 = performance.now();
        for (let from = 0; from < backlog; from += 10_000) {
          const fill = Array.from({ length: Math.min(10_000, backlog - from) }, (_, k) => payload(from + k));
          for (const chunk of chunks(fill, 1000)) await producer.addBulk(chunk);
        }
        ctx.log(`  ${system.label}: backlog of ${backlog} filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        // Enqueue M more.
        const extra = Array.from({ length: m }, (_, k) => payload(backlog + k));
        const e0 = await costSnapshot(admin);
        for (const chunk of chunks(extra, 1000)) await producer.addBulk(chunk);
        const e1 = await costSnapshot(admin);
        const enq = costPerTask(e0, e1, m);
        // Process M (FIFO: the oldest of the backlog).
        let handled = 0;
        const done = deferred();
        const p0 = await costSnapshot(admin);
        const worker = await system.worker(
          qn,
          () => {
            if (++handled === m) done.resolve();
          },
          { concurrency: 10 },
        );
        await within(done.promise, 300_000, `${system.label}: ${m} tasks processed`);
        const p1 = await costSnapshot(admin);
        await worker.close();
        const proc = costPerTask(p0, p1, m);
        // The monitor snapshot, with one worker holding a task.
        const release = deferred();
        const holding = deferred();
        const holder = await system.worker(
          qn,
          async () => {
            holding.resolve();
            await within(release.promise, 60_000, 'release of the held task').catch(() => undefined);
          },
          { concurrency: 1 },
        );
        await within(holding.promise, 30_000, `${system.label}: holder worker picks a task`);
        await sleep(1100); // let it send a heartbeat, so that it is listed as a live worker
        const times: number[] = [];
        for (let k = 0; k < SNAPSHOTS; k++) {
          const a = performance.now();
          await producer.snapshot();
          times.push(performance.now() - a);
        }
        release.resolve();
        await holder.close();
        await producer.close();
        const enqTotal = enq.redisCpuMicros + enq.nodeCpuMicros;
        const procTotal = proc.redisCpuMicros + proc.nodeCpuMicros;
        cost[tag] = { enq: enqTotal, proc: procTotal };
        out.push(s(`enqueue CPU (Redis+Node), ${tag} waiting`, enqTotal, 'µs/task', 'lower'));
        out.push(s(`enqueue wall, ${tag} waiting`, (enq.wallMs * 1000) / m, 'µs/task', 'lower'));
        out.push(s(`process c=10 CPU (Redis+Node), ${tag} waiting`, procTotal, 'µs/task', 'lower'));
        out.push(s(`process c=10 wall, ${tag} waiting`, ((p1.wall - p0.wall) * 1000) / m, 'µs/task', 'lower'));
        out.push(s(`snapshot query p50, ${tag} waiting`, median(times), 'ms', 'lower'));
        out.push(s(`snapshot query p99, ${tag} waiting`, percentile(times, 99), 'ms', 'lower'));
        ctx.log(
          `  ${system.label} ${tag}: enqueue ${enqTotal.toFixed(1)} µs/task CPU, process ${procTotal.toFixed(1)} µs/task CPU, ` +
            `snapshot p50 ${median(times).toFixed(3)} ms p99 ${percentile(times, 99).toFixed(3)} ms`,
        );
      }
      const small = cost['1k']!;
      const large = Object.entries(cost).find(([k]) => k !== '1k')![1];
      out.push(s('enqueue cost ratio large/1k', large.enq / small.enq, '×', 'lower'));
      out.push(s('process cost ratio large/1k', large.proc / small.proc, '×', 'lower'));
      return out;
    },
  };
}
