import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { payload } from '../payload.js';
import type { System } from '../systems/types.js';
import { type BenchContext, deferred, type Sample, sampler, within, type Workload } from './common.js';

const TASKS = 100;
const HOLD_MS = 120_000;
const CHILD = fileURLToPath(new URL('../child-worker.js', import.meta.url));

/**
 * W7 recovery: a worker process (concurrency 100) holds 100 running tasks whose handlers sleep;
 * a second worker (concurrency 100, in this process) is already running and idle. The first is
 * SIGKILLed; recovery = time from the kill until every one of the 100 tasks has started again on
 * the second worker. Both systems use their default lease / lock and stall-check settings.
 */
export function recoveryWorkload(opts: { bullmqInQuick: boolean }): Workload {
  return {
    id: 'W7',
    title: 'recovery after SIGKILL',
    systems(all, ctx) {
      const notes = ['W7 compares redtask with BullMQ only (Bee-Queue leaves stalled-job checks to the application)'];
      let run = all.filter((s) => s.id === 'redtask' || s.id === 'redtask-base' || s.id === 'bullmq');
      if (ctx.quick && !opts.bullmqInQuick) {
        run = run.filter((s) => s.id !== 'bullmq');
        notes.push("--quick: BullMQ's W7 skipped (its default stalledInterval of 30 s makes one run take 30-60 s)");
      }
      return { run, notes };
    },
    async run(ctx: BenchContext, system: System): Promise<Sample[]> {
      const s = sampler('W7 recovery', system);
      await ctx.redis.admin.flushall();
      const qn = ctx.queue('w7');
      const producer = system.producer(qn);
      await producer.ready();
      await producer.addBulk(Array.from({ length: TASKS }, (_, i) => payload(i)));
      const child = fork(CHILD, [system.id, ctx.redis.host, String(ctx.redis.port), qn, String(TASKS), String(HOLD_MS), system.build ?? ''], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        const held = new Set<number>();
        const allHeld = deferred();
        child.on('message', (m: { started?: number }) => {
          if (typeof m.started === 'number') held.add(m.started);
          if (held.size === TASKS) allHeld.resolve();
        });
        await within(allHeld.promise, 30_000, `${system.label}: the child worker holds ${TASKS} tasks`);
        // The rescuer: idle until the tasks come back.
        const restarted = new Map<number, number>();
        const allBack = deferred();
        let killedAt = 0;
        const rescuer = await system.worker(
          qn,
          (d) => {
            if (!restarted.has(d.i)) restarted.set(d.i, performance.now() - killedAt);
            if (restarted.size === TASKS) allBack.resolve();
          },
          { concurrency: TASKS },
        );
        killedAt = performance.now();
        child.kill('SIGKILL');
        await exited;
        await within(allBack.promise, 150_000, `${system.label}: all ${TASKS} tasks restarted`);
        await rescuer.close();
        const times = [...restarted.values()];
        ctx.log(`  ${system.label}: first restart after ${(Math.min(...times) / 1000).toFixed(2)} s, all after ${(Math.max(...times) / 1000).toFixed(2)} s`);
        return [
          s('recovery: all 100 restarted', Math.max(...times) / 1000, 's', 'lower'),
          s('recovery: first restarted', Math.min(...times) / 1000, 's', 'lower'),
        ];
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await producer.close();
      }
    },
  };
}
