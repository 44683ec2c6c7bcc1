/**
 * The benchmark suite: `npm run bench` (full) or `npm run bench -- --quick`.
 * Starts a private redis-server on a free loopback port, runs every workload against redtask,
 * BullMQ and Bee-Queue (FLUSHALL before each run), and prints a table of medians with their
 * min–max and the ratio redtask/peer. W1 also measures the machine's floor (one ioredis
 * client's EVALSHA round trips per second at concurrency 1) before each run's c=1 phase.
 * With --baseline, a second redtask build runs beside this one and an A/B table follows.
 *
 * The issue-14 figures only, before/after in one run (W1 gives W1, W5 and the floor; W2 pickup):
 *   npm run bench -- --only W1,W2 --systems redtask --baseline ../baseline --repeats 5 Writes bench/results/latest.json (medians as
 * {workload, system, metric, value, unit}), bench/results/latest-detail.json (every run, the
 * machine, the settings) and, for a full run, docs/bench-chart.svg.
 *
 * Options:
 *   --quick              smaller counts, 2 repeats, W6 redtask-only with 100,000 waiting, no BullMQ in W7
 *   --repeats N          runs of each workload per system (default 3; --quick: 2)
 *   --only W1,W3         run only these workloads
 *   --systems a,b        run only these systems (redtask, bullmq, beequeue)
 *   --baseline DIR       A/B: also run the redtask build in DIR (its dist/src/index.js; run
 *                        `npm ci && npm run build` there first) as system redtask-base, each run
 *                        next to redtask's (A B, then B A, ...), and print the A/B table
 *   --w6-redtask-only    W6 without the peers (the default with --quick)
 *   --w6-peers           W6 with the peers with --quick too
 *   --w7-bullmq          run BullMQ's W7 with --quick too
 *   --chart PATH         where to write the chart (default: docs/bench-chart.svg for a full run)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { writeChart } from './chart.js';
import { startBenchRedis } from './redis.js';
import { runOrder } from './order.js';
import { abTable, aggregate, floorLines, ratio, rows, table } from './report.js';
import { baselineEntry, revisionOf } from './systems/redtask.js';
import { makeSystem, SYSTEM_IDS } from './systems/index.js';
import type { System, SystemId } from './systems/types.js';
import type { BenchContext, Sample, Workload } from './workloads/common.js';
import { delayedWorkload } from './workloads/delayed.js';
import { latencyWorkload } from './workloads/latency.js';
import { memoryWorkload } from './workloads/memory.js';
import { recoveryWorkload } from './workloads/recovery.js';
import { scaleWorkload } from './workloads/scale.js';
import { throughputWorkload } from './workloads/throughput.js';

interface Args {
  quick: boolean;
  repeats: number;
  only?: Set<string>;
  systems: SystemId[];
  w6Peers: boolean;
  w7BullmqInQuick: boolean;
  chart?: string;
  /** The checkout of a second redtask build to run as redtask-base. */
  baseline?: string;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
    return v;
  };
  const known = new Set(['--quick', '--repeats', '--only', '--systems', '--w6-redtask-only', '--w6-peers', '--w7-bullmq', '--chart', '--baseline']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}`);
  const repeats = Number(value('--repeats') ?? (quick ? 2 : 3));
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 20) throw new Error('--repeats must be 1-20');
  const only = value('--only');
  const systems = (value('--systems')?.split(',') ?? SYSTEM_IDS) as SystemId[];
  for (const s of systems) if (!SYSTEM_IDS.includes(s)) throw new Error(`unknown system ${s}`);
  if (!systems.includes('redtask')) throw new Error('redtask must be among the systems');
  const baseline = value('--baseline');
  if (baseline) baselineEntry(baseline); // fails now, before a redis-server is started, if it was not built
  // The second build runs right after redtask in the table's columns.
  if (baseline) systems.splice(systems.indexOf('redtask') + 1, 0, 'redtask-base');
  return {
    quick,
    repeats,
    only: only ? new Set(only.toUpperCase().split(',')) : undefined,
    systems,
    w6Peers: quick ? argv.includes('--w6-peers') : !argv.includes('--w6-redtask-only'),
    w7BullmqInQuick: argv.includes('--w7-bullmq'),
    chart: value('--chart') ?? (quick ? undefined : 'docs/bench-chart.svg'),
    baseline,
  };
}

interface Machine {
  nproc: string;
  cpu: string;
  memory: string;
  redis: string;
  node: string;
}

function machine(): Machine {
  let redis = 'unknown';
  try {
    redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  return {
    nproc: String(availableParallelism()),
    cpu: cpus()[0]?.model ?? 'unknown',
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    redis,
    node: process.version,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const m = machine();
  const redis = await startBenchRedis();
  const stop = async () => {
    await redis.stop().catch(() => undefined);
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  const conn = { host: redis.host, port: redis.port, url: redis.url };
  let systems: System[];
  try {
    systems = await Promise.all(args.systems.map((id) => makeSystem(id, conn, args.baseline)));
  } catch (err) {
    await stop();
    throw err;
  }
  let queueSeq = 0;
  const ctx: BenchContext = { redis, quick: args.quick, log, queue: (base) => `${base}-${++queueSeq}` };
  const workloads: Workload[] = [
    throughputWorkload(),
    latencyWorkload(),
    memoryWorkload(),
    delayedWorkload(),
    scaleWorkload({ peers: args.w6Peers }),
    recoveryWorkload({ bullmqInQuick: args.w7BullmqInQuick }),
  ].filter((w) => !args.only || args.only.has(w.id));

  const mode = args.quick
    ? `--quick: smaller counts (W1 10k tasks, W2 300, W3 20k, W4 300, W6 100k waiting), ${args.repeats} repeat(s) — not the published figures`
    : `full: W1 50k tasks, W2 2,000, W3 100k, W4 1,000, W6 1M waiting, ${args.repeats} repeats`;
  console.log(`redtask benchmark — ${mode}`);
  console.log(`machine: ${m.nproc} cores (${m.cpu}), ${m.memory}; ${m.redis}; node ${m.node}`);
  const rev = revisionOf('.');
  console.log(`systems: ${systems.map((s) => `${s.label} ${s.version}`).join(', ')} (redtask at ${rev}); private redis-server on 127.0.0.1:${redis.port}`);
  const base = systems.find((s) => s.id === 'redtask-base');
  if (base) console.log(`A/B: redtask (A) = this checkout at ${rev}; redtask-base (B) = ${base.build}, version ${base.version}; each B run next to an A run, A first in even repeats (1st, 3rd, ...)`);

  const samples: Sample[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  try {
    for (const w of workloads) {
      const { run, notes: wn } = w.systems(systems, ctx);
      notes.push(...wn);
      const started = performance.now();
      for (let rep = 0; rep < args.repeats; rep++) {
        for (const sys of runOrder(run, rep)) {
          log(`${w.id} ${w.title} — ${sys.label}, run ${rep + 1}/${args.repeats}`);
          try {
            samples.push(...(await w.run(ctx, sys, rep)).map((s) => ({ ...s, rep })));
          } catch (err) {
            const msg = `${w.id} ${sys.label} run ${rep + 1}: ${err instanceof Error ? err.message : String(err)}`;
            failures.push(msg);
            log(`  FAILED: ${msg}`);
          }
        }
      }
      log(`${w.id} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    await stop();
  }

  const aggs = aggregate(samples);
  const allRows = rows(aggs);
  const present = systems.filter((s) => aggs.some((a) => a.system === s.id));
  console.log('');
  console.log(table(allRows, present));
  console.log('');
  console.log('Cells: median over the runs (min–max). Ratio columns: redtask median / peer median (see "Better" for the direction).');
  for (const n of notes) console.log(`note: ${n}`);
  for (const r of allRows.filter((x) => x.workload === 'W6 scale' && / ratio /.test(x.metric))) {
    for (const [sys, a] of r.bySystem) console.log(`W6 ${sys}: ${r.metric} = ${a.median.toFixed(2)} → ${a.median <= 1.2 ? 'PASS' : 'FAIL'} (limit 1.2)`);
  }
  for (const r of allRows.filter((x) => x.workload === 'W6 scale' && /snapshot query p50/.test(x.metric))) {
    for (const [sys, a] of r.bySystem) console.log(`W6 ${sys}: ${r.metric} = ${a.median.toFixed(3)} ms → ${a.median < 5 ? 'PASS' : 'FAIL'} (limit 5 ms)`);
  }
  for (const line of floorLines(aggs)) console.log(line);
  const ab = base ? abTable(samples, aggs) : '';
  if (base && ab) {
    console.log('');
    console.log(`A/B: redtask (A, ${rev}) against redtask-base (B, ${base.version}), the figures of issue 14:`);
    console.log('');
    console.log(ab);
    console.log('');
    console.log('Paired: each repeat\'s A run over the B run next to it. Target: read on the ratio of the medians; an A/A run (both builds the same) shows how far from 1 noise alone puts these ratios.');
  }
  for (const f of failures) console.log(`FAILED: ${f}`);
  const elapsed = (performance.now() - t0) / 1000;

  mkdirSync('bench/results', { recursive: true });
  const latest = aggs.map((a) => ({ workload: a.workload, system: a.system, metric: a.metric, value: a.median, unit: a.unit }));
  writeFileSync('bench/results/latest.json', JSON.stringify(latest, null, 2) + '\n');
  const ratios = allRows.flatMap((r) =>
    present
      .filter((p) => p.id !== 'redtask')
      .map((p) => ({ workload: r.workload, metric: r.metric, peer: p.id, better: r.better, ratio: ratio(r, p.id) ?? null })),
  );
  writeFileSync(
    'bench/results/latest-detail.json',
    JSON.stringify(
      {
        date: new Date().toISOString(),
        mode: args.quick ? 'quick' : 'full',
        repeats: args.repeats,
        elapsedSeconds: Math.round(elapsed),
        machine: m,
        revision: rev,
        baseline: base ? { build: base.build, version: base.version } : null,
        systems: systems.map((s) => ({ id: s.id, label: s.label, version: s.version, settings: s.settings })),
        notes,
        failures,
        aggregates: aggs,
        ratios,
        samples,
      },
      null,
      2,
    ) + '\n',
  );
  if (args.chart) {
    mkdirSync(dirname(args.chart), { recursive: true });
    writeChart(allRows, present.filter((p) => p.id !== 'redtask' && p.id !== 'redtask-base'), args.chart, `medians of ${args.repeats} run(s); ${m.nproc} cores, ${m.redis.split(' ').slice(0, 3).join(' ')}, node ${m.node}`);
    console.log(`chart: ${args.chart}`);
  } else {
    console.log('chart: not written (--quick; pass --chart PATH to write one)');
  }
  console.log(`results: bench/results/latest.json, bench/results/latest-detail.json`);
  console.log(`elapsed: ${elapsed.toFixed(1)} s (${args.quick ? 'quick' : 'full'} run)`);
  if (failures.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
