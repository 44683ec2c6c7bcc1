import { payload } from '../payload.js';
import { usedMemory } from '../redis.js';
import type { System } from '../systems/types.js';
import { type BenchContext, chunks, type Sample, sampler, type Workload } from './common.js';

/**
 * W3 memory: Redis used_memory before and after N waiting tasks (bulk adds of 1,000, no worker),
 * divided by N. One task is added first so that scripts and per-queue keys exist in the baseline.
 */
export function memoryWorkload(): Workload {
  return {
    id: 'W3',
    title: 'memory per waiting task',
    systems: (all) => ({ run: all, notes: [] }),
    async run(ctx: BenchContext, system: System): Promise<Sample[]> {
      const n = ctx.quick ? 20_000 : 100_000;
      const s = sampler('W3 memory', system);
      const admin = ctx.redis.admin;
      await admin.flushall();
      const qn = ctx.queue('w3');
      const producer = system.producer(qn);
      await producer.ready();
      await producer.addBulk([payload(-1)]);
      const before = await usedMemory(admin);
      const tasks = Array.from({ length: n }, (_, i) => payload(i));
      for (const chunk of chunks(tasks, 1000)) await producer.addBulk(chunk);
      const after = await usedMemory(admin);
      await producer.close();
      const per = (after - before) / n;
      ctx.log(`  ${system.label}: ${per.toFixed(1)} bytes/task (${((after - before) / 1048576).toFixed(1)} MiB for ${n})`);
      return [s(`used_memory per waiting task (${n / 1000}k)`, per, 'bytes', 'lower')];
    },
  };
}
