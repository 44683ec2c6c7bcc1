import { type BenchData, payload } from '../payload.js';
import { costPerTask, costSnapshot } from '../redis.js';
import { fullGc, median, percentile, sleep } from '../stats.js';
import type { Producer, System } from '../systems/types.js';
import { type BenchContext, chunks, deferred, type Sample, sampler, within, type Workload } from './common.js';

const SNAPSHOTS = 100;

/** One queue of the workload: its backlog and what each round measured on it. */
interface State {
  tag: string;
  backlog: number;
  queue: string;
  producer: Producer;
  /** The next payload sequence number on this queue. */
  next: number;
  enqueue: Round[];
  process: Round[];
}

/** One measured window: Redis+Node CPU and wall time, both in µs per task. */
interface Round {
  cpu: number;
  wall: number;
}

/**
 * W6 scale: the cost per task of enqueueing and of processing tasks on top of a backlog of 1,000
 * waiting tasks and on top of a large backlog (1,000,000; 100,000 with --quick), and the time of
 * the monitor's snapshot query (counts of every state plus the live workers) with the backlog in
 * place and one worker holding a task. Cost = Redis CPU + Node CPU per task; the ratio
 * large/small must stay within 1.2.
 *
 * Both backlogs are held at once, in two queues of the same Redis, and measured in interleaved
 * rounds (6; 4 with --quick), so that drift of the machine over minutes hits both alike. Each
 * round enqueues `per` tasks (10,000; 5,000 with --quick) into each queue, then processes `per`
 * from each with a fresh worker at concurrency 10 (the window opens once the worker is started);
 * which queue goes first alternates every round. A full Node GC runs before each measured window
 * and the payloads are built before it, so that neither the garbage of filling a backlog nor
 * payload building is charged to a window. A state's figure is the median of its rounds.
 */
export function scaleWorkload(opts: { peers: boolean }): Workload {
  return {
    id: 'W6',
    title: 'scale with a large backlog',
    systems(all, ctx) {
      if (opts.peers) return { run: all, notes: [] };
      return {
        run: all.filter((s) => s.id === 'redtask' || s.id === 'redtask-base'),
        notes: [`W6 ran redtask only (${ctx.quick ? '--quick without --w6-peers, to stay within 2 minutes' : '--w6-redtask-only'})`],
      };
    },
    async run(ctx: BenchContext, system: System): Promise<Sample[]> {
      const big = ctx.quick ? 100_000 : 1_000_000;
      const rounds = ctx.quick ? 4 : 6;
      const per = ctx.quick ? 5_000 : 10_000;
      const s = sampler('W6 scale', system);
      const admin = ctx.redis.admin;
      await admin.flushall();

      /** `n` new payloads for this queue, in batches of 1,000 (built before any window). */
      const batches = (st: State, n: number): BenchData[][] => [...chunks(Array.from({ length: n }, () => payload(st.next++)), 1000)];

      const enqueue = async (st: State): Promise<Round> => {
        const todo = batches(st, per);
        fullGc();
        const a = await costSnapshot(admin);
        for (const batch of todo) await st.producer.addBulk(batch);
        const b = await costSnapshot(admin);
        const d = costPerTask(a, b, per);
        return { cpu: d.redisCpuMicros + d.nodeCpuMicros, wall: (d.wallMs * 1000) / per };
      };

      // Processing takes the oldest tasks (FIFO). The window opens once the worker is started; it
      // may have run a few tasks by then, so the tasks counted are those the handler started
      // between the two snapshots. The worker stops being counted at `per`, but runs a few more
      // while it closes: as many new tasks are added back (outside the window), so that after a
      // round of enqueue + process each queue holds its backlog again.
      const processOnce = async (st: State): Promise<Round> => {
        let handled = 0;
        const done = deferred();
        fullGc();
        const worker = await system.worker(
          st.queue,
          () => {
            if (++handled === per) done.resolve();
          },
          { concurrency: 10 },
        );
        let round: Round;
        try {
          const a = await costSnapshot(admin);
          const h0 = handled;
          await within(done.promise, 300_000, `${system.label}: ${per} tasks processed (${st.tag} waiting)`);
          const b = await costSnapshot(admin);
          const n = handled - h0;
          const d = costPerTask(a, b, n);
          round = { cpu: d.redisCpuMicros + d.nodeCpuMicros, wall: (d.wallMs * 1000) / n };
        } finally {
          await worker.close();
        }
        for (const batch of batches(st, handled - per)) await st.producer.addBulk(batch);
        return round;
      };

      // The monitor snapshot, with one worker holding a task.
      const snapshotTimes = async (st: State): Promise<number[]> => {
        const release = deferred();
        const holding = deferred();
        const holder = await system.worker(
          st.queue,
          async () => {
            holding.resolve();
            await within(release.promise, 60_000, 'release of the held task').catch(() => undefined);
          },
          { concurrency: 1 },
        );
        const times: number[] = [];
        try {
          await within(holding.promise, 30_000, `${system.label}: holder worker picks a task`);
          await sleep(1100); // let it send a heartbeat, so that it is listed as a live worker
          for (let k = 0; k < SNAPSHOTS; k++) {
            const a = performance.now();
            await st.producer.snapshot();
            times.push(performance.now() - a);
          }
        } finally {
          release.resolve();
          await holder.close();
        }
        return times;
      };

      const states: State[] = [];
      try {
        for (const backlog of [1000, big]) {
          const tag = backlog >= 1_000_000 ? `${backlog / 1_000_000}M` : `${backlog / 1000}k`;
          const queue = ctx.queue(`w6-${tag}`);
          const st: State = { tag, backlog, queue, producer: system.producer(queue), next: 0, enqueue: [], process: [] };
          states.push(st);
          await st.producer.ready();
          const t0 = performance.now();
          for (let from = 0; from < backlog; from += 10_000) {
            for (const batch of batches(st, Math.min(10_000, backlog - from))) await st.producer.addBulk(batch);
          }
          ctx.log(`  ${system.label}: backlog of ${backlog} filled in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        }

        // Each round leaves both queues at their backlog: `per` enqueued, `per` (plus the top-up) processed.
        for (let r = 0; r < rounds; r++) {
          const order = r % 2 === 0 ? states : [...states].reverse();
          for (const st of order) st.enqueue.push(await enqueue(st));
          for (const st of order) st.process.push(await processOnce(st));
          const fmt = (pick: (st: State) => Round) => order.map((st) => `${st.tag} ${pick(st).cpu.toFixed(2)}`).join(', ');
          ctx.log(
            `  ${system.label} round ${r + 1}/${rounds} (${order[0]!.tag} first), Redis+Node CPU µs/task: ` +
              `enqueue ${fmt((st) => st.enqueue[r]!)}; process c=10 ${fmt((st) => st.process[r]!)}`,
          );
        }

        const out: Sample[] = [];
        const cost = new Map<string, { enq: number; proc: number }>();
        for (const st of states) {
          const times = await snapshotTimes(st);
          const enq = median(st.enqueue.map((x) => x.cpu));
          const proc = median(st.process.map((x) => x.cpu));
          cost.set(st.tag, { enq, proc });
          out.push(s(`enqueue CPU (Redis+Node), ${st.tag} waiting`, enq, 'µs/task', 'lower'));
          out.push(s(`enqueue wall, ${st.tag} waiting`, median(st.enqueue.map((x) => x.wall)), 'µs/task', 'lower'));
          out.push(s(`process c=10 CPU (Redis+Node), ${st.tag} waiting`, proc, 'µs/task', 'lower'));
          out.push(s(`process c=10 wall, ${st.tag} waiting`, median(st.process.map((x) => x.wall)), 'µs/task', 'lower'));
          out.push(s(`snapshot query p50, ${st.tag} waiting`, median(times), 'ms', 'lower'));
          out.push(s(`snapshot query p99, ${st.tag} waiting`, percentile(times, 99), 'ms', 'lower'));
          ctx.log(
            `  ${system.label} ${st.tag}: enqueue ${enq.toFixed(2)} µs/task CPU, process ${proc.toFixed(2)} µs/task CPU (medians of ${rounds} rounds), ` +
              `snapshot p50 ${median(times).toFixed(3)} ms p99 ${percentile(times, 99).toFixed(3)} ms`,
          );
        }
        const small = cost.get(states[0]!.tag)!;
        const large = cost.get(states[1]!.tag)!;
        out.push(s('enqueue cost ratio large/1k', large.enq / small.enq, '×', 'lower'));
        out.push(s('process cost ratio large/1k', large.proc / small.proc, '×', 'lower'));
        return out;
      } finally {
        for (const st of states) await st.producer.close().catch(() => undefined);
      }
    },
  };
}
