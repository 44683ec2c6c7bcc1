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
