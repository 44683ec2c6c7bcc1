import { writeFileSync } from 'node:fs';
import { ratio, type Row } from './report.js';

/** The metrics the chart shows (those of the table that have a peer to compare with). */
const CHARTED: Array<[workload: string, metric: RegExp]> = [
  ['W1 throughput', /^enqueue/],
  ['W1 throughput', /^process c=1$/],
  ['W1 throughput', /^process c=10$/],
  ['W1 throughput', /^process c=100$/],
  ['W2 pickup latency', /^pickup p50$/],
  ['W2 pickup latency', /^pickup p99$/],
  ['W3 memory', /^used_memory/],
  ['W4 delayed precision', /^lateness p50$/],
  ['W4 delayed precision', /^lateness p99$/],
  ['W5 cost', /^enqueue: Redis CPU$/],
  ['W5 cost', /^process c=10: Redis CPU$/],
  ['W5 cost', /^process c=10: Node CPU$/],
  ['W7 recovery', /^recovery: all/],
];

const COLORS: Record<string, string> = { bullmq: '#d9534f', beequeue: '#f0ad4e' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * A horizontal bar chart, log scale: how many times better redtask's median is than each peer's
 * (peer/redtask for lower-is-better metrics, redtask/peer for higher-is-better ones). Bars right
 * of the 1× line are redtask wins.
 */
export function writeChart(allRows: Row[], peers: Array<{ id: string; label: string }>, path: string, subtitle: string): void {
  const picked: Array<{ label: string; values: Array<{ peer: string; adv: number }> }> = [];
  for (const [workload, metric] of CHARTED) {
    const r = allRows.find((x) => x.workload === workload && metric.test(x.metric));
    if (!r) continue;
    const values: Array<{ peer: string; adv: number }> = [];
    for (const p of peers) {
      const x = ratio(r, p.id);
      if (x === undefined || !(x > 0)) continue;
      values.push({ peer: p.id, adv: r.better === 'higher' ? x : 1 / x });
    }
    if (values.length) picked.push({ label: `${workload.split(' ')[0]} ${r.metric.replace(/\s*\(.*\)$/, '')}`, values });
  }
  const lo = 0.01;
  const hi = 1000;
  const left = 280;
  const width = 900;
  const plotW = width - left - 40;
  const barH = 12;
  const groupH = barH * peers.length + 10;
  const top = 70;
  const height = top + picked.length * groupH + 50;
  const x = (v: number) => left + ((Math.log10(Math.min(hi, Math.max(lo, v))) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">redtask advantage over each peer (× better, log scale; right of 1× = redtask better)</text>`);
  parts.push(`<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);
  for (const t of [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000]) {
    const gx = x(t).toFixed(1);
    parts.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${height - 40}" stroke="${t === 1 ? '#000' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
    parts.push(`<text x="${gx}" y="${height - 26}" text-anchor="middle" fill="#333">${t}×</text>`);
  }
  picked.forEach((g, gi) => {
    const gy = top + gi * groupH;
    parts.push(`<text x="${left - 8}" y="${gy + (barH * peers.length) / 2 + 4}" text-anchor="end">${esc(g.label)}</text>`);
    peers.forEach((p, pi) => {
      const v = g.values.find((q) => q.peer === p.id);
      if (!v) return;
      const y = gy + pi * barH;
      const x0 = x(1);
      const x1 = x(v.adv);
      parts.push(
        `<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${barH - 2}" fill="${COLORS[p.id] ?? '#5bc0de'}"><title>${esc(`${g.label} vs ${p.label}: ${v.adv.toFixed(2)}×`)}</title></rect>`,
      );
      parts.push(`<text x="${(x1 + (v.adv >= 1 ? 4 : -4)).toFixed(1)}" y="${y + barH - 3}" text-anchor="${v.adv >= 1 ? 'start' : 'end'}" font-size="10" fill="#333">${v.adv >= 10 ? v.adv.toFixed(0) : v.adv.toFixed(2)}×</text>`);
    });
  });
  const ly = height - 10;
  peers.forEach((p, i) => {
    const lx = left + i * 160;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="10" fill="${COLORS[p.id] ?? '#5bc0de'}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly}">vs ${esc(p.label)}</text>`);
  });
  parts.push('</svg>');
  writeFileSync(path, parts.join('\n') + '\n');
}
