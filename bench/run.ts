/**
 * The benchmark suite: `npm run bench` (full) or `npm run bench -- --quick`.
 * Starts a private redis-server on a free loopback port, runs every workload against redtask,
 * BullMQ and Bee-Queue (FLUSHALL before each run), and prints a table of medians with their
 * min–max and the ratio redtask/peer. Writes bench/results/latest.json (medians as
 * {workload, system, metric, value, unit}), bench/results/latest-detail.json (every run, the
 * machine, the settings) and, for a full run, docs/bench-chart.svg.
 *
 * Options:
 *   --quick              smaller counts, 2 repeats, W6 redtask-only with 100,000 waiting, no BullMQ in W7
 *   --repeats N          runs of each workload per system (default 3; --quick: 2)
 *   --only W1,W3         run only these workloads
 *   --systems a,b        run only these systems (redtask, bullmq, beequeue)
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
import { aggregate, ratio, rows, table } from './report.js';
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
  const known = new Set(['--quick', '--repeats', '--only', '--systems', '--w6-redtask-only', '--w6-peers', '--w7-bullmq', '--chart']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}`);
  const repeats = Number(value('--repeats') ?? (quick ? 2 : 3));
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 20) throw new Error('--repeats must be 1-20');
  const only = value('--only');
  const systems = (value('--systems')?.split(',') ?? SYSTEM_IDS) as SystemId[];
  for (const s of systems) if (!SYSTEM_IDS.includes(s)) throw new Error(`unknown system ${s}`);
  if (!systems.includes('redtask')) throw new Error('redtask must be among the systems');
  return {
    quick,
    repeats,
    only: only ? new Set(only.toUpperCase().split(',')) : undefined,
    systems,
    w6Peers: quick ? argv.includes('--w6-peers') : !argv.includes('--w6-redtask-only'),
    w7BullmqInQuick: argv.includes('--w7-bullmq'),
    chart: value('--chart') ?? (quick ? undefined : 'docs/bench-chart.svg'),
  };
}

interface Machine {
  nproc: string;
  cpu: string;
  memory: string;
  redis: string;
  node: string;
}

/** The commit the bench ran against, and whether src/ had uncommitted changes. */
function revision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (src/ with uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
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
  const systems: System[] = args.systems.map((id) => makeSystem(id, conn));
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
  const rev = revision();
  console.log(`systems: ${systems.map((s) => `${s.label} ${s.version}`).join(', ')} (redtask at ${rev}); private redis-server on 127.0.0.1:${redis.port}`);

  const samples: Sample[] = [];
  const notes: string[] = [];
  const failures: string[] = [];
  try {
    for (const w of workloads) {
      const { run, notes: wn } = w.systems(systems, ctx);
      notes.push(...wn);
      const started = performance.now();
      for (let rep = 0; rep < args.repeats; rep++) {
        // Rotate the order each repeat, so that no system always runs first.
        const order = run.map((_, i) => run[(i + rep) % run.length]!);
        for (const sys of order) {
          log(`${w.id} ${w.title} — ${sys.label}, run ${rep + 1}/${args.repeats}`);
          try {
            samples.push(...(await w.run(ctx, sys, rep)));
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
    writeChart(allRows, present.filter((p) => p.id !== 'redtask'), args.chart, `medians of ${args.repeats} run(s); ${m.nproc} cores, ${m.redis.split(' ').slice(0, 3).join(' ')}, node ${m.node}`);
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
