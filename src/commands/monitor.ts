import type { Redis } from 'ioredis';
import { formatDuration } from '../shared/duration.js';
import { ExitCode } from '../shared/errors.js';
import { validateQueueName, WAIT_BUCKETS } from '../shared/keys.js';
import { listQueues, Queue, type WorkerInfo } from '../shared/queue/index.js';
import { redactUrl } from '../shared/redis.js';
import { Wakeup } from '../shared/waiter.js';
import { addAdminCommands } from './admin.js';
import { baseProgram, collect, colorFor, connectOnce, type Io, processIo, programQueue, runProgram, timerArg } from './common.js';
import { addScheduleCommands } from './schedules.js';
import { render, renderLine, snapshotJson, type QueueSnapshot, type ScheduleSnapshot, type Snapshot } from './monitor-view.js';

/**
 * task-monitor: the live view of queues and workers (redrawn on a terminal, one line a refresh
 * in a pipe), `--once`, `--json`, and the wiring of its subcommands: the admin ones (admin.ts)
 * and the schedule ones (schedules.ts). What it draws is monitor-view.ts's, a pure function of
 * a snapshot.
 */

interface MonitorOptions {
  redis?: string;
  queue?: string[];
  interval: number;
  once?: boolean;
  json?: boolean;
}

const RATE_WINDOW = 5;
/** The sparkline and the wait percentiles cover the last minute. */
const HISTORY_WINDOW = 60;

/** The upper bound of the histogram bucket that holds the p-th percentile, or null. */
export function percentile(counts: number[], p: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= total * p) return WAIT_BUCKETS[i]!;
  }
  return WAIT_BUCKETS[WAIT_BUCKETS.length - 1]!;
}

/** Reads the state of the given queues (default: every known queue) and their live workers. */
export async function snapshot(client: Redis, url: string, names?: string[], io?: Pick<Io, 'stderr'>): Promise<Snapshot> {
  const queueNames = names && names.length ? names : await listQueues(client);
  const now = Date.now();
  const queues: QueueSnapshot[] = [];
  const workers = new Map<string, WorkerInfo>();
  const schedules: ScheduleSnapshot[] = [];
  const corrupt: string[] = [];
  await Promise.all(
    queueNames.map(async (name) => {
      const q = io ? programQueue('task-monitor', io, name, client) : new Queue(name, { connection: client });
      const [c, hist, ws, oldest, scs] = await Promise.all([
        q.counts(),
        q.history(HISTORY_WINDOW, now),
        q.workers(),
        q.oldestWaitingAge(now),
        q.schedules(),
      ]);
      for (const sc of scs) {
        const when = sc.corrupt !== undefined ? '-' : sc.cron ? `cron "${sc.cron}"${sc.tz ? ` ${sc.tz}` : ''}` : `every ${formatDuration(sc.every ?? 0)}`;
        const entry: ScheduleSnapshot = { queue: name, name: sc.name, when, paused: sc.paused, next: sc.next, fired: sc.fired };
        if (sc.corrupt !== undefined) entry.corrupt = sc.corrupt;
        schedules.push(entry);
      }
      if (c.corrupt !== undefined) corrupt.push(`${name}: counters: ${c.corrupt}`);
      if (c.setAside > 0) corrupt.push(`${name}: ${c.setAside} record(s) without a readable head set aside in ${q.keys.corrupt}`);
      const badSeconds = hist.filter((h) => h.corrupt !== undefined);
      if (badSeconds.length > 0) corrupt.push(`${name}: stats of ${badSeconds.length} second(s) unreadable (counted as 0), e.g. ${badSeconds[0]!.corrupt}`);
      const recent = hist.slice(-RATE_WINDOW);
      const done = recent.reduce((a, h) => a + h.completed, 0);
      const failed = recent.reduce((a, h) => a + h.failed, 0);
      const waits = WAIT_BUCKETS.map((_, i) => hist.reduce((a, h) => a + (h.waits[i] ?? 0), 0));
      queues.push({
        name,
        waiting: c.waiting,
        active: c.active,
        delayed: c.delayed,
        completed: c.completed,
        failed: c.failed,
        published: c.published,
        retried: c.retried,
        recovered: c.recovered,
        completedRetained: c.completedRetained,
        deadRetained: c.deadRetained,
        cancelled: c.cancelled,
        paused: c.paused,
        ratePerSec: done / RATE_WINDOW,
        failedPerSec: failed / RATE_WINDOW,
        completedPerSecond: hist.map((h) => h.completed),
        waitP50Ms: percentile(waits, 0.5),
        waitP99Ms: percentile(waits, 0.99),
        oldestWaitingMs: oldest,
      });
      for (const w of ws) workers.set(w.id, w);
    }),
  );
  queues.sort((a, b) => a.name.localeCompare(b.name));
  schedules.sort((a, b) => `${a.queue}/${a.name}`.localeCompare(`${b.queue}/${b.name}`));
  const out: Snapshot = { time: now, redis: redactUrl(url), queues, workers: [...workers.values()].sort((a, b) => a.id.localeCompare(b.id)), schedules };
  if (corrupt.length > 0) out.corrupt = corrupt.sort();
  return out;
}

/** task-monitor: prints the live state of every queue, refreshed, or once. */
export async function run(argv: string[], io: Io = processIo(), signals: NodeJS.EventEmitter = process): Promise<number> {
  return runProgram('task-monitor', io, async () => {
    // Each action stores what it should do; the work runs after parsing, outside commander.
    let action: (() => Promise<number>) | undefined;
    const program = baseProgram('task-monitor', 'Show the live state of queues and workers, and administer queues.', io)
      // Options after a subcommand belong to it (show --json is not the live view's --json).
      .enablePositionalOptions()
      .option('-q, --queue <name>', 'show only this queue (repeatable)', collect)
      .option('-i, --interval <duration>', 'refresh interval', timerArg({ what: 'interval', min: 50 }), 1000)
      .option('--once', 'print one snapshot and exit')
      .option('--json', 'print JSON: {"time","queues":[{"name","waiting","active","delayed","completed","failed",...}],"workers":[...]}')
      .action(() => {
        action = () => live(program.opts<MonitorOptions>(), io, signals);
      });
    addAdminCommands(program, io, (a) => (action = a));
    addScheduleCommands(program, io, (a) => (action = a));
    program.parse(argv, { from: 'user' });
    return action ? await action() : ExitCode.ok;
  });
}

/** The live view (or one snapshot with --once). */
async function live(opts: MonitorOptions, io: Io, signals: NodeJS.EventEmitter): Promise<number> {
  for (const q of opts.queue ?? []) validateQueueName(q);
  const { client, url } = await connectOnce(opts.redis, io.env, 'redtask:monitor');
  const c = colorFor(io.stdout, io.env);
  const tty = Boolean(io.stdout.isTTY) && !opts.json;
  const show = (s: Snapshot) => {
    if (opts.json) io.stdout.write(`${snapshotJson(s)}\n`);
    // Redrawn in place: home, each line then clear-to-end-of-line, then clear below. No flicker.
    else if (tty) io.stdout.write(`\x1b[H${render(s, c).split('\n').join('\x1b[K\n')}\x1b[K\n\x1b[J`);
    else io.stdout.write(`${opts.once ? render(s, c) : renderLine(s)}\n`);
  };
  try {
    if (opts.once) {
      show(await snapshot(client, url, opts.queue, io));
      return ExitCode.ok;
    }
    let stop = false;
    // A signal cuts the wait short, also one that came while the snapshot was being read.
    const wakeup = new Wakeup();
    const onSig = () => {
      stop = true;
      wakeup.ring();
    };
    signals.on('SIGINT', onSig);
    signals.on('SIGTERM', onSig);
    try {
      while (!stop) {
        show(await snapshot(client, url, opts.queue, io));
        await wakeup.sleep(opts.interval);
      }
    } finally {
      signals.off('SIGINT', onSig);
      signals.off('SIGTERM', onSig);
    }
    return ExitCode.ok;
  } finally {
    client.disconnect();
  }
}
