import { payload } from '../payload.js';
import { percentile, sleep } from '../stats.js';
import type { System } from '../systems/types.js';
import { type BenchContext, deferred, type Sample, sampler, within, type Workload } from './common.js';

/** Tasks published before the measured ones (scripts loaded, connections warm); not counted. */
const WARMUP = 20;
/** Pause after each pickup so that the worker is idle (blocked on Redis) when the next task comes. */
const GAP_MS = 3;

/**
 * W2 pickup latency: one idle worker (concurrency 1); tasks are published one at a time, each
 * after the previous one was picked up and a short pause. Latency = handler start - the moment
 * the publish call was made (performance.now() in the same process, so one clock).
 */
export function latencyWorkload(): Workload {
  return {
    id: 'W2',
    title: 'pickup latency',
    systems: (all) => ({ run: all, notes: [] }),
    async run(ctx: BenchContext, system: System): Promise<Sample[]> {
      const n = ctx.quick ? 300 : 2000;
      const s = sampler('W2 pickup latency', system);
      await ctx.redis.admin.flushall();
      const qn = ctx.queue('w2');
      const producer = system.producer(qn);
      await producer.ready();
      let waiting: { i: number; resolve: () => void } | undefined;
      const started = new Map<number, number>();
      const worker = await system.worker(
        qn,
        (d) => {
          const t = performance.now();
          started.set(d.i, t);
          if (waiting && waiting.i === d.i) waiting.resolve();
        },
        { concurrency: 1 },
      );
      await sleep(200);
      const latencies: number[] = [];
      for (let i = -WARMUP; i < n; i++) {
        const got = deferred();
        waiting = { i, resolve: got.resolve };
        const t0 = performance.now();
        await producer.add(payload(i));
        await within(got.promise, 10_000, `${system.label}: pickup of task ${i}`);
        if (i >= 0) latencies.push(started.get(i)! - t0);
        await sleep(GAP_MS);
      }
      await worker.close();
      await producer.close();
      ctx.log(`  ${system.label}: p50 ${percentile(latencies, 50).toFixed(3)} ms, p99 ${percentile(latencies, 99).toFixed(3)} ms`);
      return [
        s('pickup p50', percentile(latencies, 50), 'ms', 'lower'),
        s('pickup p90', percentile(latencies, 90), 'ms', 'lower'),
        s('pickup p99', percentile(latencies, 99), 'ms', 'lower'),
        s('pickup max', Math.max(...latencies), 'ms', 'lower'),
      ];
    },
  };
}
