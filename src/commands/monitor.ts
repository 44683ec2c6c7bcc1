import { InvalidArgumentError, Option } from 'commander';
import type { Redis } from 'ioredis';
import { createInterface } from 'node:readline';
import { formatDuration } from '../shared/duration.js';
import { ExitCode, UsageError } from '../shared/errors.js';
import { validateQueueName, WAIT_BUCKETS } from '../shared/keys.js';
import { listQueues, Queue, type QueueSettings, type TaskState, type WorkerInfo } from '../shared/queue/index.js';
import { redactUrl } from '../shared/redis.js';
import { Wakeup } from '../shared/waiter.js';
import { baseProgram, collect, colorFor, connectOnce, durationArg, intArg, type Io, processIo, runProgram, timerArg } from './common.js';
import { addScheduleCommands } from './schedules.js';
import { safeJson, safeText } from './terminal.js';
import { render, renderLine, renderTask, renderTaskLine, snapshotJson, type QueueSnapshot, type ScheduleSnapshot, type Snapshot } from './monitor-view.js';

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
export async function snapshot(client: Redis, url: string, names?: string[]): Promise<Snapshot> {
  const queueNames = names && names.length ? names : await listQueues(client);
  const now = Date.now();
  const queues: QueueSnapshot[] = [];
  const workers = new Map<string, WorkerInfo>();
  const schedules: ScheduleSnapshot[] = [];
  const corrupt: string[] = [];
  await Promise.all(
    queueNames.map(async (name) => {
      const q = new Queue(name, { connection: client });
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
      .option('-i, --interval <duration>', 'refresh interval', timerArg(50), 1000)
      .option('--once', 'print one snapshot and exit')
      .option('--json', 'print JSON: {"time","queues":[{"name","waiting","active","delayed","completed","failed",...}],"workers":[...]}')
      .action(() => {
        action = () => live(program.opts<MonitorOptions>(), io, signals);
      });
    const admin = (name: string, description: string) =>
      program
        .command(name)
        .description(description)
        .argument('<queue>', 'queue name')
        .option('--redis <url>', 'Redis URL (as for the main command)');
    admin('pause', 'stop workers from taking new tasks of a queue (running ones finish)').action((queue: string, o: { redis?: string }) => {
      action = () => withQueue(queue, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q) => {
        await q.pause();
        io.stderr.write(`paused ${q.name}\n`);
        return ExitCode.ok;
      });
    });
    admin('resume', 'let workers take tasks of a paused queue again').action((queue: string, o: { redis?: string }) => {
      action = () => withQueue(queue, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q) => {
        await q.resume();
        io.stderr.write(`resumed ${q.name}\n`);
        return ExitCode.ok;
      });
    });
    program
      .command('cancel')
      .description('cancel a waiting, delayed or running task: it is never retried (a running one is stopped)')
      .argument('<queue-or-id>', 'queue name, or the task id alone (its queue is looked up)')
      .argument('[id]', 'task id')
      .option('--redis <url>', 'Redis URL (as for the main command)')
      .action((first: string, second: string | undefined, o: { redis?: string }) => {
        action = () => withTask(first, second, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q, id) => {
          const from = await q.cancel(id);
          if (!from) {
            io.stderr.write(`task-monitor: ${ref(q, id)} is not waiting, delayed or running (unknown, finished or cancelled already)\n`);
            return ExitCode.failed;
          }
          io.stderr.write(`cancelled ${ref(q, id)} (was ${from})\n`);
          return ExitCode.ok;
        });
      });
    program
      .command('show')
      .description('print one task: payload, state, timings, every failed attempt, result')
      .argument('<queue-or-id>', 'queue name, or the task id alone (its queue is looked up)')
      .argument('[id]', 'task id')
      .option('--json', 'print it as JSON')
      .option('--redis <url>', 'Redis URL (as for the main command)')
      .action((first: string, second: string | undefined, o: { redis?: string; json?: boolean }) => {
        action = () => withTask(first, second, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q, id) => {
          const t = await q.getTask(id);
          if (!t) {
            io.stderr.write(`task-monitor: ${ref(q, id)} is unknown (or no longer retained)\n`);
            return ExitCode.failed;
          }
          io.stdout.write(o.json ? `${safeJson(t)}\n` : `${renderTask(t, colorFor(io.stdout, io.env))}\n`);
          return ExitCode.ok;
        });
      });
    program
      .command('tasks')
      .description('list the tasks of a queue in one state, a page at a time')
      .argument('<queue>', 'queue name')
      .addOption(new Option('-s, --state <state>', 'which state').choices(['waiting', 'active', 'delayed', 'completed', 'dead', 'cancelled']).default('waiting'))
      .option('--offset <n>', 'skip this many', intArg(0), 0)
      .option('--limit <n>', 'at most this many', intArg(1, 1000), 20)
      .option('--json', 'one JSON object per task')
      .option('--redis <url>', 'Redis URL (as for the main command)')
      .action((queue: string, o: { redis?: string; state: TaskState; offset: number; limit: number; json?: boolean }) => {
        action = () => withQueue(queue, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q) => {
          const tasks = await q.listTasks(o.state, { offset: o.offset, limit: o.limit });
          for (const t of tasks) io.stdout.write(`${o.json ? safeJson(t) : renderTaskLine(t)}\n`);
          return ExitCode.ok;
        });
      });
    program
      .command('retry')
      .description('send dead-lettered (or cancelled) tasks back to the queue with fresh attempts')
      .argument('<queue-or-id>', 'queue name, or one task id alone (its queue is looked up)')
      .argument('[ids...]', 'task ids')
      .option('--all-dead', 'every dead-lettered task of the queue')
      .option('--redis <url>', 'Redis URL (as for the main command)')
      .action((first: string, rest: string[], o: { redis?: string; allDead?: boolean }) => {
        const redis = o.redis ?? program.opts<MonitorOptions>().redis;
        if (rest.length === 0 && !o.allDead) {
          // Task ids are numbers: anything else alone is a queue name without ids.
          if (!/^\d+$/.test(first)) {
            action = () => Promise.reject(new UsageError(`retry: give task ids of ${first}, or --all-dead`));
            return;
          }
          action = () => withTask(first, undefined, redis, io, async (q, id) => {
            const n = await q.retry([id]);
            io.stderr.write(`sent ${n} task(s) of ${q.name} back to the queue\n`);
            return n === 1 ? ExitCode.ok : ExitCode.failed;
          });
          return;
        }
        const queue = first;
        const ids = [...new Set(rest)];
        action = () => withQueue(queue, redis, io, async (q) => {
          const n = o.allDead ? await q.retryAllDead() : await q.retry(ids);
          io.stderr.write(`sent ${n} task(s) of ${q.name} back to the queue\n`);
          return !o.allDead && n < ids.length ? ExitCode.failed : ExitCode.ok;
        });
      });
    program
      .command('delete')
      .description('delete a task that is not running, with its result and errors')
      .argument('<queue-or-id>', 'queue name, or the task id alone (its queue is looked up)')
      .argument('[id]', 'task id')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--redis <url>', 'Redis URL (as for the main command)')
      .action((first: string, second: string | undefined, o: { redis?: string; yes?: boolean }) => {
        action = () => withTask(first, second, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q, id) => {
          if (!(await confirm(io, `delete ${ref(q, id)}?`, o.yes))) return ExitCode.failed;
          const from = await q.delete(id);
          if (!from) {
            io.stderr.write(`task-monitor: ${ref(q, id)} is unknown (or no longer retained)\n`);
            return ExitCode.failed;
          }
          io.stderr.write(`deleted ${ref(q, id)} (was ${from})\n`);
          return ExitCode.ok;
        });
      });
    admin('purge', 'delete every task of a queue in one state (not running ones)')
      .addOption(new Option('-s, --state <state>', 'which state').choices(['waiting', 'delayed', 'completed', 'dead', 'cancelled']).makeOptionMandatory())
      .option('-y, --yes', 'do not ask for confirmation')
      .action((queue: string, o: { redis?: string; yes?: boolean; state: 'waiting' | 'delayed' | 'completed' | 'dead' | 'cancelled' }) => {
        action = () => withQueue(queue, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q) => {
          if (!(await confirm(io, `delete every ${o.state} task of ${q.name}?`, o.yes))) return ExitCode.failed;
          const n = await q.purge(o.state);
          io.stderr.write(`purged ${n} ${o.state} task(s) of ${q.name}\n`);
          return ExitCode.ok;
        });
      });
    admin('fsck', 'find and repair inconsistencies in a queue, and report what was fixed')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--json', 'print the report as JSON')
      .action((queue: string, o: { redis?: string; yes?: boolean; json?: boolean }) => {
        action = () => withQueue(queue, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q) => {
          if (!(await confirm(io, `check and repair ${q.name}?`, o.yes))) return ExitCode.failed;
          const r = await q.fsck();
          if (o.json) io.stdout.write(`${safeJson({ queue: q.name, ...r })}\n`);
          else {
            io.stdout.write(
              `${q.name}: ${r.orphanActive} active task(s) without a lease sent back, ${r.staleLease} stale lease(s) removed, ` +
                `${r.orphanRecord} record(s) in no state dead-lettered, ${r.schedules} schedule(s) given their pending fire back, ` +
                `fair-group counts recounted (${r.groupCounts} running)\n`,
            );
          }
          return ExitCode.ok;
        });
      });
    admin('config', "print a queue's settings as JSON, or change them")
      .option('--keep-completed <n>', 'completed tasks kept (0: none)', intArg(0))
      .option('--keep-completed-for <duration>', 'how long completed tasks are kept', durationArg)
      .option('--keep-dead <n>', 'dead-lettered tasks kept', intArg(0))
      .option('--keep-dead-for <duration>', 'how long dead-lettered tasks are kept', durationArg)
      .option('--max-waiting <n>', 'most waiting tasks; publishing beyond fails (0: no limit)', intArg(0))
      .option('--max-active <n>', 'most tasks running at once across all workers (0: no limit)', intArg(0))
      .option('--group-max-active <n>', 'most tasks of one fair group running at once (0: no limit)', intArg(0))
      .option('--group-rate <n/duration>', 'most tasks one fair group starts per window, e.g. 10/1s', rateArg)
      .option('--rate <n/duration>', 'most tasks started per window across all workers, e.g. 100/1s (0/1s: no limit)', rateArg)
      .action((queue: string, o: ConfigOptions) => {
        action = () => withQueue(queue, o.redis ?? program.opts<MonitorOptions>().redis, io, async (q) => {
          const settings: QueueSettings = {
            keepCompleted: o.keepCompleted,
            keepCompletedMs: o.keepCompletedFor,
            keepDead: o.keepDead,
            keepDeadMs: o.keepDeadFor,
            maxWaiting: o.maxWaiting,
            maxActive: o.maxActive,
            groupMaxActive: o.groupMaxActive,
            groupRateMax: o.groupRate?.max,
            groupRateWindowMs: o.groupRate?.windowMs,
            rateMax: o.rate?.max,
            rateWindowMs: o.rate?.windowMs,
          };
          await q.configure(settings);
          io.stdout.write(`${safeJson({ queue: q.name, ...(await q.settings()) })}\n`);
          return ExitCode.ok;
        });
      });
    addScheduleCommands(program, io, (a) => (action = a));
    program.parse(argv, { from: 'user' });
    return action ? await action() : ExitCode.ok;
  });
}

interface ConfigOptions {
  redis?: string;
  keepCompleted?: number;
  keepCompletedFor?: number;
  keepDead?: number;
  keepDeadFor?: number;
  maxWaiting?: number;
  maxActive?: number;
  groupMaxActive?: number;
  groupRate?: { max: number; windowMs: number };
  rate?: { max: number; windowMs: number };
}

/** "100/1s": at most 100 per second. */
function rateArg(value: string): { max: number; windowMs: number } {
  const m = /^(\d+)\/(.+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected <count>/<duration>, e.g. 100/1s.');
  const windowMs = durationArg(m[2]!);
  if (windowMs <= 0) throw new InvalidArgumentError('the window must be longer than 0.');
  return { max: Number(m[1]), windowMs };
}

/** `queue#id` for a message: the id is as the user gave it. */
function ref(q: Queue, id: string): string {
  return safeText(`${q.name}#${id}`);
}

/**
 * Asks on a terminal before a destructive step ("y" goes on); --yes skips it. Without a
 * terminal there is no one to ask, and the command goes on.
 */
async function confirm(io: Io, question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes || !io.stdin.isTTY) return true;
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  const answer = await new Promise<string>((r) => rl.question(`${question} [y/N] `, r));
  rl.close();
  if (/^y(es)?$/i.test(answer.trim())) return true;
  io.stderr.write('nothing done\n');
  return false;
}

/**
 * Runs an admin command on one task: `<queue> <id>`, or `<id>` alone, when exactly one queue has
 * a task by that id (ids count per queue: when several have it, the queue must be given).
 */
async function withTask(first: string, second: string | undefined, redis: string | undefined, io: Io, body: (q: Queue, id: string) => Promise<number>): Promise<number> {
  if (second !== undefined) return withQueue(first, redis, io, (q) => body(q, second));
  const id = first;
  const { client } = await connectOnce(redis, io.env, 'redtask:monitor');
  try {
    const found: Queue[] = [];
    for (const name of await listQueues(client)) {
      const q = new Queue(name, { connection: client });
      if (await q.getTask(id)) found.push(q);
    }
    if (found.length === 0) {
      io.stderr.write(`task-monitor: no queue has a task ${safeText(id)} (or it is no longer retained)\n`);
      return ExitCode.failed;
    }
    if (found.length > 1) {
      throw new UsageError(`task ${id} exists in queues ${found.map((q) => q.name).join(', ')}: give the queue, e.g. task-monitor show ${found[0]!.name} ${id}`);
    }
    return await body(found[0]!, id);
  } finally {
    client.disconnect();
  }
}

async function withQueue(name: string, redis: string | undefined, io: Io, body: (q: Queue) => Promise<number>): Promise<number> {
  validateQueueName(name);
  const { client } = await connectOnce(redis, io.env, 'redtask:monitor');
  try {
    return await body(new Queue(name, { connection: client }));
  } finally {
    client.disconnect();
  }
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
      show(await snapshot(client, url, opts.queue));
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
        show(await snapshot(client, url, opts.queue));
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
