import { type Command, InvalidArgumentError, Option } from 'commander';
import { createInterface } from 'node:readline';
import { ExitCode, UsageError } from '../shared/errors.js';
import { PAGE, SETTING } from '../shared/options.js';
import { listQueues, Queue, type QueueSettings, type TaskState } from '../shared/queue/index.js';
import { colorFor, connectOnce, durationArg, intArg, type Io, programQueue, subcommand, withQueue } from './common.js';
import { renderTask, renderTaskLine } from './monitor-view.js';
import { safeJson, safeText } from './terminal.js';

/**
 * task-monitor's admin subcommands: show, tasks (reading a queue), and pause, resume, cancel,
 * retry, delete, purge, fsck and config (changing it). Each parses its arguments, asks before a
 * destructive step on a terminal, calls the library (Queue) and prints the outcome; the
 * library throws, runProgram turns that into the exit code.
 */

/** The states a purge takes (not active: a running task is cancelled first). */
const PURGEABLE = ['waiting', 'delayed', 'completed', 'dead', 'cancelled'] as const;

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

/**
 * Adds the admin subcommands to task-monitor. Each stores what it should do with `setAction`;
 * the work runs after parsing, outside commander.
 */
export function addAdminCommands(program: Command, io: Io, setAction: (a: () => Promise<number>) => void): void {
  // A subcommand's --redis, else the program's (given before the subcommand's name).
  const redis = (o: { redis?: string }) => o.redis ?? program.opts<{ redis?: string }>().redis;
  const onQueue = (name: string, description: string) => subcommand(program, name, description).argument('<queue>', 'queue name');
  /** `<queue> <id>`, or `<id>` alone (see withTask). */
  const onTask = (name: string, description: string) =>
    subcommand(program, name, description)
      .argument('<queue-or-id>', 'queue name, or the task id alone (its queue is looked up)')
      .argument('[id]', 'task id');

  for (const [verb, description] of [
    ['pause', 'stop workers from taking new tasks of a queue (running ones finish)'],
    ['resume', 'let workers take tasks of a paused queue again'],
  ] as const) {
    onQueue(verb, description).action((queue: string, o: { redis?: string }) => {
      setAction(() =>
        withQueue(queue, redis(o), io, async (q) => {
          await q[verb]();
          io.stderr.write(`${verb}d ${q.name}\n`);
          return ExitCode.ok;
        }),
      );
    });
  }
  onTask('cancel', 'cancel a waiting, delayed or running task: it is never retried (a running one is stopped)').action(
    (first: string, second: string | undefined, o: { redis?: string }) => {
      setAction(() =>
        withTask(first, second, redis(o), io, async (q, id) => {
          const from = await q.cancel(id);
          if (!from) {
            io.stderr.write(`task-monitor: ${ref(q, id)} is not waiting, delayed or running (unknown, finished or cancelled already)\n`);
            return ExitCode.failed;
          }
          io.stderr.write(`cancelled ${ref(q, id)} (was ${from})\n`);
          return ExitCode.ok;
        }),
      );
    },
  );
  onTask('show', 'print one task: payload, state, timings, every failed attempt, result')
    .option('--json', 'print it as JSON')
    .action((first: string, second: string | undefined, o: { redis?: string; json?: boolean }) => {
      setAction(() =>
        withTask(first, second, redis(o), io, async (q, id) => {
          const t = await q.getTask(id);
          if (!t) {
            io.stderr.write(`task-monitor: ${ref(q, id)} is unknown (or no longer retained)\n`);
            return ExitCode.failed;
          }
          io.stdout.write(o.json ? `${safeJson(t)}\n` : `${renderTask(t, colorFor(io.stdout, io.env))}\n`);
          return ExitCode.ok;
        }),
      );
    });
  onQueue('tasks', 'list the tasks of a queue in one state, a page at a time')
    .addOption(new Option('-s, --state <state>', 'which state').choices(['waiting', 'active', 'delayed', 'completed', 'dead', 'cancelled']).default('waiting'))
    .option('--offset <n>', 'skip this many', intArg({ what: 'offset', min: 0 }), 0)
    .option('--limit <n>', 'at most this many', intArg(PAGE), 20)
    .option('--json', 'one JSON object per task')
    .action((queue: string, o: { redis?: string; state: TaskState; offset: number; limit: number; json?: boolean }) => {
      setAction(() =>
        withQueue(queue, redis(o), io, async (q) => {
          const tasks = await q.listTasks(o.state, { offset: o.offset, limit: o.limit });
          for (const t of tasks) io.stdout.write(`${o.json ? safeJson(t) : renderTaskLine(t)}\n`);
          return ExitCode.ok;
        }),
      );
    });
  subcommand(program, 'retry', 'send dead-lettered (or cancelled) tasks back to the queue with fresh attempts')
    .argument('<queue-or-id>', 'queue name, or one task id alone (its queue is looked up)')
    .argument('[ids...]', 'task ids')
    .option('--all-dead', 'every dead-lettered task of the queue')
    .action((first: string, rest: string[], o: { redis?: string; allDead?: boolean }) => {
      const url = redis(o);
      if (rest.length === 0 && !o.allDead) {
        // Task ids are numbers: anything else alone is a queue name without ids.
        if (!/^\d+$/.test(first)) {
          setAction(() => Promise.reject(new UsageError(`retry: give task ids of ${first}, or --all-dead`)));
          return;
        }
        setAction(() =>
          withTask(first, undefined, url, io, async (q, id) => {
            const n = await q.retry([id]);
            io.stderr.write(`sent ${n} task(s) of ${q.name} back to the queue\n`);
            return n === 1 ? ExitCode.ok : ExitCode.failed;
          }),
        );
        return;
      }
      const ids = [...new Set(rest)];
      setAction(() =>
        withQueue(first, url, io, async (q) => {
          const n = o.allDead ? await q.retryAllDead() : await q.retry(ids);
          io.stderr.write(`sent ${n} task(s) of ${q.name} back to the queue\n`);
          return !o.allDead && n < ids.length ? ExitCode.failed : ExitCode.ok;
        }),
      );
    });
  onTask('delete', 'delete a task that is not running, with its result and errors')
    .option('-y, --yes', 'do not ask for confirmation')
    .action((first: string, second: string | undefined, o: { redis?: string; yes?: boolean }) => {
      setAction(() =>
        withTask(first, second, redis(o), io, async (q, id) => {
          if (!(await confirm(io, `delete ${ref(q, id)}?`, o.yes))) return ExitCode.failed;
          const from = await q.delete(id);
          if (!from) {
            io.stderr.write(`task-monitor: ${ref(q, id)} is unknown (or no longer retained)\n`);
            return ExitCode.failed;
          }
          io.stderr.write(`deleted ${ref(q, id)} (was ${from})\n`);
          return ExitCode.ok;
        }),
      );
    });
  onQueue('purge', 'delete every task of a queue in one state (not running ones)')
    .addOption(new Option('-s, --state <state>', 'which state').choices(PURGEABLE).makeOptionMandatory())
    .option('-y, --yes', 'do not ask for confirmation')
    .action((queue: string, o: { redis?: string; yes?: boolean; state: (typeof PURGEABLE)[number] }) => {
      setAction(() =>
        withQueue(queue, redis(o), io, async (q) => {
          if (!(await confirm(io, `delete every ${o.state} task of ${q.name}?`, o.yes))) return ExitCode.failed;
          const n = await q.purge(o.state);
          io.stderr.write(`purged ${n} ${o.state} task(s) of ${q.name}\n`);
          return ExitCode.ok;
        }),
      );
    });
  onQueue('fsck', 'find and repair inconsistencies in a queue, and report what was fixed')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print the report as JSON')
    .action((queue: string, o: { redis?: string; yes?: boolean; json?: boolean }) => {
      setAction(() =>
        withQueue(queue, redis(o), io, async (q) => {
          if (!(await confirm(io, `check and repair ${q.name}?`, o.yes))) return ExitCode.failed;
          const r = await q.fsck();
          if (o.json) io.stdout.write(`${safeJson({ queue: q.name, ...r })}\n`);
          else {
            io.stdout.write(
              `${q.name}: ${r.setAside.length > 0 ? `${r.setAside.length} thing(s) that did not fit the queue's structure set aside, ` : ''}` +
                `${r.orphanActive} active task(s) without a lease sent back, ${r.staleLease} stale lease(s) removed, ` +
                `${r.orphanRecord} record(s) in no state dead-lettered, ${r.schedules} schedule(s) given their pending fire back, ` +
                `fair-group counts recounted (${r.groupCounts} running)\n`,
            );
            for (const line of r.setAside) io.stdout.write(`  set aside: ${safeText(line)}\n`);
          }
          return ExitCode.ok;
        }),
      );
    });
  const count = intArg(SETTING);
  onQueue('config', "print a queue's settings as JSON, or change them")
    .option('--keep-completed <n>', 'completed tasks kept (0: none)', count)
    .option('--keep-completed-for <duration>', 'how long completed tasks are kept', durationArg)
    .option('--keep-dead <n>', 'dead-lettered tasks kept', count)
    .option('--keep-dead-for <duration>', 'how long dead-lettered tasks are kept', durationArg)
    .option('--max-waiting <n>', 'most waiting tasks; publishing beyond fails (0: no limit)', count)
    .option('--max-active <n>', 'most tasks running at once across all workers (0: no limit)', count)
    .option('--group-max-active <n>', 'most tasks of one fair group running at once (0: no limit)', count)
    .option('--group-rate <n/duration>', 'most tasks one fair group starts per window, e.g. 10/1s', rateArg)
    .option('--rate <n/duration>', 'most tasks started per window across all workers, e.g. 100/1s (0/1s: no limit)', rateArg)
    .action((queue: string, o: ConfigOptions) => {
      setAction(() =>
        withQueue(queue, redis(o), io, async (q) => {
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
        }),
      );
    });
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
      const q = programQueue('task-monitor', io, name, client);
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
