import { payload, type BenchData } from '../payload.js';
import { calibrateClock, epochMs, percentile } from '../stats.js';
import type { System } from '../systems/types.js';
import { type BenchContext, chunks, deferred, type Sample, sampler, seeded, within, type Workload } from './common.js';

const MIN_DELAY = 200;
const MAX_DELAY = 2000;
const CONCURRENCY = 10;

/**
 * W4 delayed precision: a running worker (concurrency 10, so that tasks due together do not
 * queue behind each other); N tasks with delays drawn uniformly from 200-2,000 ms (the same
 * seeded draws for every system) are added with the bulk call. Lateness = handler start minus
 * the due time (sub-millisecond clock aligned with Date.now()).
 */
export function delayedWorkload(): Workload {
  return {
    id: 'W4',
    title: 'delayed-task precision',
    systems: (all) => ({ run: all, notes: [] }),
    async run(ctx: BenchContext, system: System, rep: number): Promise<Sample[]> {
      const n = ctx.quick ? 300 : 1000;
      const s = sampler('W4 delayed precision', system);
      await ctx.redis.admin.flushall();
      const qn = ctx.queue('w4');
      const producer = system.producer(qn, { delayed: true });
      await producer.ready();
      const lateness: number[] = [];
      const all = deferred();
      const worker = await system.worker(
        qn,
        (d) => {
          lateness.push(epochMs() - d.due!);
          if (lateness.length === n) all.resolve();
        },
        { concurrency: CONCURRENCY, delayed: true },
      );
      calibrateClock();
      const rnd = seeded(1000 + rep);
      const base = Date.now();
      const tasks: BenchData[] = Array.from({ length: n }, (_, i) => payload(i, base + Math.round(MIN_DELAY + rnd() * (MAX_DELAY - MIN_DELAY))));
      for (const chunk of chunks(tasks, 1000)) await producer.addDelayedBulk(chunk);
      await within(all.promise, MAX_DELAY + 30_000, `${system.label}: ${n} delayed tasks`);
      await worker.close();
      await producer.close();
      ctx.log(`  ${system.label}: lateness p50 ${percentile(lateness, 50).toFixed(2)} ms, p99 ${percentile(lateness, 99).toFixed(2)} ms`);
      return [
        s('lateness p50', percentile(lateness, 50), 'ms', 'lower'),
        s('lateness p99', percentile(lateness, 99), 'ms', 'lower'),
        s('lateness max', Math.max(...lateness), 'ms', 'lower'),
      ];
    },
  };
}
