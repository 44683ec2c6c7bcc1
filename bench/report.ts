import type { Sample } from './workloads/common.js';
import { median } from './stats.js';

/** The median (and range) of one metric of one system over all its runs. */
export interface Aggregate {
  workload: string;
  system: string;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function aggregate(samples: Sample[]): Aggregate[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.workload}\0${s.metric}\0${s.system}`;
    const g = groups.get(key);
    if (g) g.push(s);
    else groups.set(key, [s]);
  }
  return [...groups.values()].map((g) => {
    const v = g.map((s) => s.value);
    const f = g[0]!;
    return { workload: f.workload, system: f.system, metric: f.metric, unit: f.unit, better: f.better, median: median(v), min: Math.min(...v), max: Math.max(...v), runs: v.length };
  });
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 100_000) return Math.round(v).toLocaleString('en-US');
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function cell(a: Aggregate | undefined): string {
  if (!a) return '—';
  return a.runs > 1 ? `${fmt(a.median)} (${fmt(a.min)}–${fmt(a.max)})` : fmt(a.median);
}

export interface Row {
  workload: string;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  bySystem: Map<string, Aggregate>;
}

export function rows(aggs: Aggregate[]): Row[] {
  const out = new Map<string, Row>();
  for (const a of aggs) {
    const key = `${a.workload}\0${a.metric}`;
    let r = out.get(key);
    if (!r) {
      r = { workload: a.workload, metric: a.metric, unit: a.unit, better: a.better, bySystem: new Map() };
      out.set(key, r);
    }
    r.bySystem.set(a.system, a);
  }
  // Workload order (W1, W2, ...), keeping each workload's metrics in the order they were measured.
  return [...out.values()].sort((a, b) => a.workload.localeCompare(b.workload, 'en', { numeric: true }));
}

/** redtask's median divided by the peer's median (the table's ratio column). */
export function ratio(r: Row, peer: string): number | undefined {
  const a = r.bySystem.get('redtask');
  const b = r.bySystem.get(peer);
  if (!a || !b || b.median === 0) return undefined;
  return a.median / b.median;
}

/** A Markdown table: medians with min–max over the runs, and redtask/peer ratios. */
export function table(allRows: Row[], systems: Array<{ id: string; label: string }>): string {
  const peers = systems.filter((s) => s.id !== 'redtask');
  const head = ['Workload', 'Metric', 'Unit', 'Better', ...systems.map((s) => s.label), ...peers.map((p) => `redtask/${p.label}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 4 ? '---' : '---:')).join('|')}|`];
  for (const r of allRows) {
    const ratios = peers.map((p) => {
      const x = ratio(r, p.id);
      return x === undefined ? '—' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
    });
    lines.push(`| ${[r.workload, r.metric, r.unit, r.better, ...systems.map((s) => cell(r.bySystem.get(s.id))), ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The figures issue 14 asks for, before (redtask-base) and after (redtask), and their targets. */
const KEY_FIGURES: Array<{ workload: string; metric: string; target: 'machine' | 'floor' | 'none' | number }> = [
  { workload: 'W1 throughput', metric: 'process c=100', target: 0.85 },
  { workload: 'W1 throughput', metric: 'process c=10', target: 0.85 },
  { workload: 'W1 throughput', metric: 'process c=1', target: 0.85 },
  { workload: 'W1 throughput', metric: 'process c=1 / EVALSHA floor', target: 'floor' },
  { workload: 'W1 floor', metric: 'EVALSHA round trips c=1 (ioredis)', target: 'machine' },
  { workload: 'W1 floor', metric: 'PING round trips c=1 (ioredis)', target: 'machine' },
  { workload: 'W5 cost', metric: 'process c=100: Node CPU', target: 1.25 },
  { workload: 'W5 cost', metric: 'process c=10: Node CPU', target: 1.15 },
  { workload: 'W5 cost', metric: 'process c=1: Node CPU', target: 1.15 },
  { workload: 'W5 cost', metric: 'process c=100: Redis CPU', target: 1.15 },
  { workload: 'W5 cost', metric: 'process c=10: Redis CPU', target: 1.15 },
  { workload: 'W5 cost', metric: 'process c=1: Redis CPU', target: 1.15 },
  { workload: 'W2 pickup latency', metric: 'pickup p99', target: 1.15 },
  // No target; exact counts, untouched by the machine's noise: "fewer commands per call" shows here.
  { workload: 'W5 cost', metric: 'process c=100: Redis commands', target: 'none' },
  { workload: 'W5 cost', metric: 'process c=10: Redis commands', target: 'none' },
  { workload: 'W5 cost', metric: 'process c=1: Redis commands', target: 'none' },
];

/** The share of the EVALSHA floor that redtask's c=1 must reach (issue 14). */
export const FLOOR_TARGET_PERCENT = 75;

function ratioText(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(3)}×` : '—';
}

/**
 * A/B of two redtask builds run in the same bench (redtask = A, redtask-base = B): the key
 * figures with both medians, the ratio of the medians, and the ratio of each repeat's A run to
 * the B run next to it (median and min–max over the repeats; the spread of these paired ratios
 * is what the machine's noise does to one comparison). Target column: issue 14's limits, read on
 * the ratio of the medians (A/B at least 0.85 for rates, at most 1.15 for costs and latencies,
 * at most 1.25 for Node CPU at c=100; c=1 at 75% of the floor or more). Empty when the run
 * measured none of these figures for redtask-base.
 */
export function abTable(samples: Sample[], aggs: Aggregate[]): string {
  if (!aggs.some((a) => a.system === 'redtask-base' && KEY_FIGURES.some((k) => k.workload === a.workload && k.metric === a.metric))) return '';
  const head = ['Figure', 'Unit', 'redtask (A)', 'redtask-base (B)', 'A/B of medians', 'A/B paired per repeat: median (min–max)', 'Target', 'Met'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const k of KEY_FIGURES) {
    const find = (sys: string) => aggs.find((a) => a.workload === k.workload && a.metric === k.metric && a.system === sys);
    const a = find('redtask');
    const b = find('redtask-base');
    if (!a && !b) continue;
    const byRep = (sys: string) => new Map(samples.filter((s) => s.workload === k.workload && s.metric === k.metric && s.system === sys && s.rep !== undefined).map((s) => [s.rep!, s.value]));
    const ar = byRep('redtask');
    const br = byRep('redtask-base');
    const paired = [...ar].filter(([rep]) => br.has(rep) && br.get(rep) !== 0).map(([rep, v]) => v / br.get(rep)!);
    const mr = a && b && b.median !== 0 ? a.median / b.median : Number.NaN;
    let target = '—';
    let met = '';
    if (k.target === 'none') target = '—';
    else if (k.target === 'machine') target = 'the machine (A/B shows noise)';
    else if (k.target === 'floor') {
      target = `A ≥ ${FLOOR_TARGET_PERCENT}%`;
      if (a) met = a.median >= FLOOR_TARGET_PERCENT ? 'yes' : 'no';
    } else {
      const higher = (a ?? b)!.better === 'higher';
      target = higher ? `A/B ≥ ${k.target.toFixed(2)}` : `A/B ≤ ${k.target.toFixed(2)}`;
      if (Number.isFinite(mr)) met = (higher ? mr >= k.target : mr <= k.target) ? 'yes' : 'no';
    }
    const pairedText = paired.length ? `${ratioText(median(paired))} (${ratioText(Math.min(...paired))}–${ratioText(Math.max(...paired))}), ${paired.length} pair${paired.length === 1 ? '' : 's'}` : '—';
    lines.push(`| ${[`${k.workload.split(' ')[0]} ${k.metric}`, (a ?? b)!.unit, cell(a), cell(b), ratioText(mr), pairedText, target, met].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One line per redtask build: c=1 as a share of the EVALSHA floor of the same run, against the target. */
export function floorLines(aggs: Aggregate[]): string[] {
  const floor = (sys: string, metric: string) => aggs.find((a) => a.workload === 'W1 floor' && a.metric === metric && a.system === sys);
  return aggs
    .filter((a) => a.workload === 'W1 throughput' && a.metric === 'process c=1 / EVALSHA floor' && (a.system === 'redtask' || a.system === 'redtask-base'))
    .map((a) => {
      const ev = floor(a.system, 'EVALSHA round trips c=1 (ioredis)');
      const ping = floor(a.system, 'PING round trips c=1 (ioredis)');
      return (
        `floor: ${a.system} c=1 = ${cell(a)} % of the EVALSHA floor of its own run (floor ${cell(ev)} calls/s, PING ${cell(ping)} calls/s) ` +
        `→ ${a.median >= FLOOR_TARGET_PERCENT ? 'MET' : 'NOT MET'} (target ≥ ${FLOOR_TARGET_PERCENT}%)`
      );
    });
}
