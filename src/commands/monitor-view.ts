import type { ChalkInstance } from 'chalk';
import { formatDuration } from '../shared/duration.js';
import type { TaskInfo, WorkerInfo } from '../shared/queue/index.js';
import { safeJson, safeLines, safeText } from './terminal.js';

/** What task-monitor shows: everything is read first, then drawn by pure functions. */
export interface QueueSnapshot {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  /** Totals since the queue was created. */
  completed: number;
  failed: number;
  published: number;
  retried: number;
  recovered: number;
  /** Finished tasks still retained (their results and errors can be read). */
  completedRetained: number;
  deadRetained: number;
  /** Tasks cancelled since the queue was created. */
  cancelled: number;
  /** Workers take no new tasks of a paused queue. */
  paused: boolean;
  /** Completed tasks per second over the last few seconds. */
  ratePerSec: number;
  failedPerSec: number;
  /** Completed tasks in each of the last 60 seconds, oldest first (the sparkline). */
  completedPerSecond: number[];
  /**
   * Wait from publishing to start over the last minute: the histogram bucket bounds, ms.
   * Infinity for the last bucket (over an hour), which snapshotJson writes as "Infinity".
   */
  waitP50Ms: number | null;
  waitP99Ms: number | null;
  /** Age of the oldest waiting task, ms. */
  oldestWaitingMs: number | null;
}

/** A schedule as the live view shows it. */
export interface ScheduleSnapshot {
  queue: string;
  name: string;
  /** The cron expression (with its zone) or "every <duration>". */
  when: string;
  paused: boolean;
  next: number | null;
  fired: number;
  /** Why the schedule cannot be read, when it cannot (it is paused). */
  corrupt?: string;
}

export interface Snapshot {
  time: number;
  redis: string;
  queues: QueueSnapshot[];
  workers: WorkerInfo[];
  schedules: ScheduleSnapshot[];
  /** What could not be read (counters, stats, records set aside), one line each; the rest is shown. */
  corrupt?: string[];
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

const BARS = ' ▁▂▃▄▅▆▇█';

/** One character per value, scaled to the largest. */
export function sparkline(values: number[]): string {
  const max = Math.max(0, ...values);
  return values.map((v) => (max === 0 ? BARS[0]! : BARS[Math.min(8, Math.ceil((v / max) * 8))]!)).join('');
}

/**
 * The snapshot as one line of JSON (`--json`). JSON has no Infinity: a wait in the open-ended
 * last bucket (over an hour) is written as the string "Infinity" (Number() and float() read it),
 * not as null, which means that no task started.
 */
export function snapshotJson(s: Snapshot): string {
  return safeJson(s, (key, value: unknown) => (value === Infinity && (key === 'waitP50Ms' || key === 'waitP99Ms') ? 'Infinity' : value));
}

/** "≤5ms" style bound of a histogram bucket. */
function bound(ms: number): string {
  return ms === Infinity ? '>1h' : `≤${formatDuration(ms)}`;
}

function rate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/**
 * The snapshot as a table, for a terminal or a log. Names and fields read from Redis are escaped
 * (safeText) before they are measured, padded and coloured.
 */
export function render(s: Snapshot, c: ChalkInstance): string {
  const lines: string[] = [];
  const name = (q: QueueSnapshot) => safeText(q.name);
  lines.push(c.bold(`redtask monitor  ${safeText(s.redis)}  ${new Date(s.time).toISOString().replace('T', ' ').slice(0, 19)} UTC`));
  lines.push('');
  const head = ['QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'COMPLETED', 'FAILED', 'DONE/S', 'FAIL/S', 'WORKERS', 'WAIT p50/p99', 'OLDEST'];
  const widths = [Math.max(5, ...s.queues.map((q) => name(q).length + (q.paused ? 9 : 0))), 8, 7, 8, 10, 7, 8, 7, 8, 13, 8];
  lines.push(c.dim(head.map((h, i) => pad(h, widths[i]!, i > 0)).join('  ')));
  if (s.queues.length === 0) lines.push(c.dim('(no queues yet: publish a task with task-publish)'));
  for (const q of s.queues) {
    const workers = s.workers.filter((w) => w.queues.includes(q.name)).length;
    const cells = [
      q.paused ? `${name(q)} (paused)` : name(q),
      String(q.waiting),
      String(q.active),
      String(q.delayed),
      String(q.completed),
      String(q.failed),
      rate(q.ratePerSec),
      rate(q.failedPerSec),
      String(workers),
      q.waitP50Ms === null ? '-' : `${bound(q.waitP50Ms)}/${bound(q.waitP99Ms!)}`,
      q.oldestWaitingMs === null ? '-' : formatDuration(q.oldestWaitingMs),
    ];
    lines.push(
      cells
        .map((v, i) => {
          const t = pad(v, widths[i]!, i > 0);
          if (i === 0 && q.paused) return c.yellow(t);
          if (i === 5 && q.failed > 0) return c.red(t);
          if (i === 2 && q.active > 0) return c.cyan(t);
          return t;
        })
        .join('  '),
    );
  }
  if (s.queues.length > 0) {
    lines.push('');
    lines.push(c.bold('completed per second, last minute'));
    const nameWidth = Math.max(5, ...s.queues.map((q) => name(q).length));
    for (const q of s.queues) {
      const peak = Math.max(0, ...q.completedPerSecond);
      lines.push(`${pad(name(q), nameWidth)}  ${c.green(sparkline(q.completedPerSecond))}  peak ${peak}/s`);
    }
  }
  if (s.schedules.length > 0) {
    lines.push('');
    lines.push(c.bold(`schedules (${s.schedules.length})`));
    for (const sc of s.schedules) {
      const next = sc.corrupt !== undefined ? c.red(`paused, corrupt: ${safeText(sc.corrupt)}`) : sc.paused ? c.yellow('paused') : sc.next === null ? 'no further fire' : `next ${new Date(sc.next).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
      lines.push(`${safeText(`${sc.queue}/${sc.name}  ${sc.when}`)}  ${next}  fired ${safeText(String(sc.fired))}`);
    }
  }
  lines.push('');
  lines.push(c.bold(`workers (${s.workers.length})`));
  if (s.workers.length === 0) lines.push(c.dim('(no live workers)'));
  else {
    // (Fields of a worker's own JSON record: any type may be there.)
    const rows = s.workers.map((w) =>
      (w.corrupt !== undefined
        ? [w.id, `corrupt: ${w.corrupt}`, '-', '-', '-', '-', `${formatDuration(Math.max(0, s.time - w.lastSeen))} ago`]
        : [w.id, w.host, String(w.pid), w.queues.join(','), `${w.running}/${w.concurrency}`, formatDuration(s.time - w.startedAt), `${formatDuration(Math.max(0, s.time - w.lastSeen))} ago`]
      ).map((v) => safeText(String(v))),
    );
    const head = ['WORKER', 'HOST', 'PID', 'QUEUES', 'RUNNING', 'UP', 'HEARTBEAT'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    lines.push(c.dim(head.map((h, i) => pad(h, widths[i]!, i === 2 || i === 4)).join('  ')));
    for (const r of rows) lines.push(r.map((v, i) => pad(v, widths[i]!, i === 2 || i === 4)).join('  '));
  }
  if (s.corrupt?.length) {
    lines.push('');
    lines.push(c.bold(`corrupt records (${s.corrupt.length})`));
    for (const line of s.corrupt) lines.push(c.red(safeText(line)));
  }
  return lines.join('\n');
}

/** One line per queue, for a pipe or log file. */
export function renderLine(s: Snapshot): string {
  const t = new Date(s.time).toISOString();
  if (s.queues.length === 0) return `${t} no queues, ${s.workers.length} workers`;
  return s.queues
    .map(
      (q) =>
        `${t} queue=${safeText(q.name)}${q.paused ? ' paused' : ''} waiting=${q.waiting} active=${q.active} delayed=${q.delayed} completed=${q.completed} ` +
        `failed=${q.failed} rate=${rate(q.ratePerSec)}/s workers=${s.workers.filter((w) => w.queues.includes(q.name)).length}`,
    )
    .join('\n');
}

function when(ms: number | undefined): string {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '-';
}

/**
 * One task in full: payload, state, timings, every failed attempt, result. Its fields are escaped
 * (safeText; an error keeps its lines), the payload, progress and result shown as safeJson.
 */
export function renderTask(t: TaskInfo, c: ChalkInstance): string {
  const lines = [
    c.bold(safeText(`${t.queue}#${t.id}${t.name ? ` ${t.name}` : ''}`)) + `  ${t.state}`,
    `published  ${when(t.publishedAt)}`,
    `attempts   ${safeText(`${t.attempts} of ${t.maxAttempts}`)}${t.state === 'active' ? ' (one running)' : ''}`,
  ];
  if (t.corrupt !== undefined) lines.push(c.red(`corrupt    ${safeText(t.corrupt)}`));
  if (t.priority) lines.push(`priority   ${safeText(String(t.priority))}`);
  if (t.group) lines.push(`group      ${safeText(t.group)}`);
  if (t.timeout) lines.push(`timeout    ${formatDuration(t.timeout)}`);
  if (t.schedule) lines.push(`schedule   ${safeText(t.schedule.name)}, due ${when(t.schedule.due)}`);
  if (t.worker) lines.push(`worker     ${safeText(t.worker)}`);
  if (t.startedAt) lines.push(`started    ${when(t.startedAt)}`);
  if (t.state === 'active' && t.leaseUntil) lines.push(`lease      until ${when(t.leaseUntil)}`);
  if (t.at) lines.push(`${t.state === 'delayed' ? 'due        ' : 'ended      '}${when(t.at)}`);
  if (t.progress !== undefined) lines.push(`progress   ${safeJson(t.progress)}`);
  if (t.data !== undefined) lines.push(`payload    ${safeJson(t.data)}`);
  if (t.result !== undefined) lines.push(`result     ${safeJson(t.result)}`);
  for (const e of t.errors) {
    lines.push(c.red(`attempt ${safeText(String(e.attempt))} failed at ${when(e.at)}${e.worker ? ` on ${safeText(e.worker)}` : ''}: ${safeLines(String(e.error))}`));
  }
  return lines.join('\n');
}

/** One line per task, for `tasks`: name escaped, payload as safeJson. */
export function renderTaskLine(t: TaskInfo): string {
  const data = safeJson(t.data);
  // A corrupt entry shows its whole reason instead of the payload.
  const shown = t.corrupt !== undefined ? `corrupt: ${safeText(t.corrupt)}` : data.length > 60 ? `${data.slice(0, 57)}...` : data;
  return `${safeText(t.id).padStart(8)}  ${t.state.padEnd(9)}  ${when(t.at ?? t.publishedAt)}  ${t.name ? `${safeText(t.name)}  ` : ''}${shown}`;
}
