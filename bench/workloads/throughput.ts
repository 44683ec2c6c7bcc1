import { measureFloor } from '../floor.js';
import { payload } from '../payload.js';
import { costPerTask, costSnapshot } from '../redis.js';
import { waitUntil } from '../stats.js';
import type { System } from '../systems/types.js';
import { type BenchContext, chunks, deferred, type Sample, sampler, within, type Workload } from './common.js';

export const CONCURRENCIES = [1, 10, 100];

/**
 * W1 throughput and W5 cost. For each concurrency: FLUSHALL, bulk-enqueue N tasks (1,000 per
 * bulk call, awaited one after the other), then start one worker and process all of them.
 * Processing rate = N / (last task completed in Redis - first handler start): the worker's
 * connection set-up is left out for every system alike. "Completed" means the handler ran N
 * times and Redis then shows nothing waiting, active or delayed.
 * W5 comes from the same runs: INFO commandstats (Lua's inner calls included), INFO cpu of the
 * redis-server and process.cpuUsage() of this process, before and after each phase.
 * The floor comes from the same runs too: just before the c=1 phase of each run (outside every
 * measured window), one ioredis client's EVALSHA and PING round trips per second at concurrency 1
 * (floor.ts); c=1's rate is reported over the floor of its own run, so both see the same phase
 * of the machine.
 */
export function throughputWorkload(): Workload {
  return {
    id: 'W1',
    title: 'throughput (and W5 cost per task)',
    systems: (all) => ({ run: all, notes: [] }),
    async run(ctx: BenchContext, system: System): Promise<Sample[]> {
      const n = ctx.quick ? 10_000 : 50_000;
      const out: Sample[] = [];
      const w1 = sampler('W1 throughput', system);
      const w5 = sampler('W5 cost', system);
      const admin = ctx.redis.admin;
      const tasks = Array.from({ length: n }, (_, i) => payload(i));
      const fl = sampler('W1 floor', system);
      let floor = Number.NaN;
      for (const c of CONCURRENCIES) {
        if (c === 1) {
          const f = await measureFloor(ctx.redis.url, ctx.quick ? 5_000 : 20_000, ctx.quick ? 1_000 : 2_000);
          floor = f.evalsha;
          out.push(fl('EVALSHA round trips c=1 (ioredis)', f.evalsha, 'calls/s', 'higher'));
          out.push(fl('PING round trips c=1 (ioredis)', f.ping, 'calls/s', 'higher'));
          ctx.log(`  floor before ${system.label}: EVALSHA ${Math.round(f.evalsha)}/s, PING ${Math.round(f.ping)}/s`);
        }
        await admin.flushall();
        const qn = ctx.queue('w1');
        const producer = system.producer(qn);
        await producer.ready();
        // Enqueue.
        const e0 = await costSnapshot(admin);
        for (const chunk of chunks(tasks, 1000)) await producer.addBulk(chunk);
        const e1 = await costSnapshot(admin);
        const enq = costPerTask(e0, e1, n);
        out.push(w1(`enqueue ${n / 1000}k (bulk 1,000)`, (n / enq.wallMs) * 1000, 'tasks/s', 'higher'));
        out.push(w5('enqueue: Redis commands', enq.commands, 'cmds/task', 'lower'));
        out.push(w5('enqueue: Redis CPU', enq.redisCpuMicros, 'µs/task', 'lower'));
        out.push(w5('enqueue: Node CPU', enq.nodeCpuMicros, 'µs/task', 'lower'));
        // Process.
        let handled = 0;
        let firstStart = 0;
        const all = deferred();
        const p0 = await costSnapshot(admin);
        const worker = await system.worker(
          qn,
          () => {
            if (handled === 0) firstStart = performance.now();
            if (++handled === n) all.resolve();
          },
          { concurrency: c },
        );
        await within(all.promise, 600_000, `${system.label}: ${n} handler calls at concurrency ${c}`);
        await waitUntil(async () => (await producer.pending()) === 0, 30_000, `${system.label}: all tasks settled`, 1);
        const end = performance.now();
        const p1 = await costSnapshot(admin);
        await worker.close();
        await producer.close();
        const proc = costPerTask(p0, p1, n);
        const rate = (n / (end - firstStart)) * 1000;
        out.push(w1(`process c=${c}`, rate, 'tasks/s', 'higher'));
        if (c === 1) out.push(w1(`process c=1 / EVALSHA floor`, (rate / floor) * 100, '%', 'higher'));
        out.push(w5(`process c=${c}: Redis commands`, proc.commands, 'cmds/task', 'lower'));
        out.push(w5(`process c=${c}: Redis CPU`, proc.redisCpuMicros, 'µs/task', 'lower'));
        out.push(w5(`process c=${c}: Node CPU`, proc.nodeCpuMicros, 'µs/task', 'lower'));
        ctx.log(
          `  ${system.label} c=${c}: enqueue ${Math.round((n / enq.wallMs) * 1000)}/s, process ${Math.round(rate)}/s, ` +
            `${proc.commands.toFixed(2)} cmds/task [${topCommands(proc.byCommand)}]`,
        );
        if (c === CONCURRENCIES[0]) ctx.log(`  ${system.label} enqueue: ${enq.commands.toFixed(2)} cmds/task [${topCommands(enq.byCommand)}]`);
      }
      return out;
    },
  };
}

export function topCommands(by: Record<string, number>, n = 8): string {
  return Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v.toFixed(v < 0.1 ? 3 : 2)}`)
    .join(', ');
}
