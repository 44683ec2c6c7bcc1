import type { ChalkInstance } from 'chalk';
import { type Command, Option } from 'commander';
import { ExitCode, UsageError } from '../shared/errors.js';
import { formatDuration } from '../shared/duration.js';
import { validateQueueName } from '../shared/keys.js';
import { listQueues, Queue } from '../shared/queue/index.js';
import { CATCH_UP_POLICIES, type CatchUpPolicy, OVERLAP_POLICIES, type OverlapPolicy, type ScheduleInfo, type ScheduleOptions } from '../shared/schedule-store.js';
import { collect, colorFor, connectOnce, durationArg, type Io, programQueue, subcommand, withQueue } from './common.js';
import { safeJson, safeText } from './terminal.js';

/** The schedule options of task-publish. */
export interface PublishScheduleOptions {
  schedule?: string;
  cron?: string;
  every?: number;
  tz?: string;
  overlap?: OverlapPolicy;
  catchUp?: CatchUpPolicy;
  catchUpWindow?: number;
}

/** Adds --schedule, --cron, --every, --tz, --overlap, --catch-up and --catch-up-window to task-publish. */
export function addScheduleOptions(program: Command): Command {
  return program
    .option('--schedule <name>', 'create or change the named schedule (with --cron or --every): the one task argument is published at each due time')
    .option('--cron <expr>', 'schedule by a cron expression: 5 fields, or 6 with seconds first (e.g. "*/5 * * * *")')
    .option('--every <duration>', 'schedule at a fixed interval from its creation (e.g. 30s, 5m; at least 1s)', durationArg)
    .option('--tz <zone>', 'IANA time zone of --cron (default UTC), e.g. Europe/Berlin')
    .addOption(new Option('--overlap <policy>', 'when the previous task of the schedule is still pending: allow (default), skip, or queue-one').choices([...OVERLAP_POLICIES]))
    .addOption(new Option('--catch-up <policy>', 'due times missed while no worker ran: none, latest (default) or all').choices([...CATCH_UP_POLICIES]))
    .option('--catch-up-window <duration>', 'how far back missed due times are made up for (default 24h)', durationArg);
}

/** True when task-publish was asked to create or change a schedule. */
export function wantsSchedule(o: PublishScheduleOptions): boolean {
  return [o.schedule, o.cron, o.every, o.tz, o.overlap, o.catchUp, o.catchUpWindow].some((v) => v !== undefined);
}

/**
 * task-publish --schedule: creates or changes the schedule and prints its name and next fire.
 * `taskOpts` are the task options given (name, attempts, backoff, timeout, priority); options
 * that make no sense for a schedule (delay, at, key, group) must have been refused already.
 */
export async function publishSchedule(
  io: Io,
  queue: Queue,
  o: PublishScheduleOptions,
  data: unknown,
  taskOpts: Pick<ScheduleOptions, 'name' | 'attempts' | 'backoff' | 'timeout' | 'priority'>,
  json: boolean,
): Promise<number> {
  const info = await queue.schedule(o.schedule!, data, {
    ...taskOpts,
    cron: o.cron,
    every: o.every,
    tz: o.tz,
    overlap: o.overlap,
    catchUp: o.catchUp,
    catchUpWindowMs: o.catchUpWindow,
  });
  const nextAt = info.next === null ? null : new Date(info.next).toISOString();
  if (json) io.stdout.write(`${safeJson({ schedule: info.name, queue: info.queue, next: info.next, nextAt, paused: info.paused })}\n`);
  else io.stdout.write(`${safeText(info.name)} ${info.paused ? 'paused' : `next ${nextAt ?? 'never'}`}\n`);
  return ExitCode.ok;
}

/** Checks the schedule options of task-publish against the rest; throws UsageError. */
export function checkScheduleArgs(o: PublishScheduleOptions, args: string[], other: { delay?: unknown; at?: unknown; key?: unknown; group?: unknown; wait?: unknown; waitTimeout?: unknown }): void {
  if (o.schedule === undefined) throw new UsageError('--cron, --every, --tz, --overlap and --catch-up need --schedule <name>');
  if ((o.cron === undefined) === (o.every === undefined)) throw new UsageError('--schedule needs either --cron <expr> or --every <duration>');
  if (args.length !== 1) throw new UsageError(`--schedule takes exactly one task argument (the payload published at each due time), got ${args.length}`);
  for (const [flag, v] of [['--delay', other.delay], ['--at', other.at], ['--key', other.key], ['--group', other.group], ['--wait', other.wait], ['--wait-timeout', other.waitTimeout]] as const) {
    if (v !== undefined) throw new UsageError(`${flag} does not apply to a schedule`);
  }
}

/** When a schedule fires, for people: "cron 0 9 * * 1-5 Europe/Berlin" or "every 30s". */
export function describeTiming(s: Pick<ScheduleInfo, 'cron' | 'every' | 'tz'>): string {
  if (s.cron !== undefined) return `cron ${s.cron}${s.tz ? ` ${s.tz}` : ''}`;
  return `every ${formatEvery(s.every ?? 0)}`;
}

/** An interval in its largest whole unit: 30s, 5m, 2h, 1d (else ms). */
export function formatEvery(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function at(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * The table of `task-monitor schedules`. Every cell is escaped (safeText) before it is measured;
 * a payload that is not a string is shown as safeJson.
 */
export function renderSchedules(list: ScheduleInfo[], now: number, c: ChalkInstance): string {
  if (list.length === 0) return 'no schedules';
  const rows = list.map((s) => {
    if (s.corrupt !== undefined) {
      return [s.queue, s.name, '-', 'paused (corrupt)', at(s.lastDue), String(s.fired), String(s.skipped), '-', '-', `corrupt: ${s.corrupt}`].map(safeText);
    }
    const payload = typeof s.data === 'string' ? safeText(s.data) : safeJson(s.data);
    const task = `${s.taskName ? `${safeText(s.taskName)}: ` : ''}${payload}`;
    const next = s.paused ? 'paused' : s.next === null ? 'never' : `${at(s.next)} (${s.next <= now ? 'due' : `in ${formatDuration(s.next - now)}`})`;
    return [
      ...[s.queue, s.name, describeTiming(s), next, at(s.lastDue), String(s.fired), String(s.skipped), s.overlap + (s.deferred !== null ? ' (1 deferred)' : ''), s.catchUp].map(safeText),
      task.length > 40 ? `${task.slice(0, 39)}…` : task,
    ];
  });
  const head = ['QUEUE', 'SCHEDULE', 'WHEN', 'NEXT FIRE', 'LAST DUE', 'FIRED', 'SKIPPED', 'OVERLAP', 'CATCH-UP', 'TASK'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 5 || i === 6 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [c.bold(line(head)), ...rows.map((r, i) => (list[i]!.paused ? c.dim(line(r)) : line(r)))].join('\n');
}

interface ListOptions {
  redis?: string;
  queue?: string[];
  json?: boolean;
}

/**
 * Adds `schedules`, `schedule-pause`, `schedule-resume` and `schedule-delete` to task-monitor.
 * The program's own -q/--queue, --json and --redis are read too: commander gives options it
 * knows to the program even after a subcommand's name.
 */
export function addScheduleCommands(program: Command, io: Io, setAction: (a: () => Promise<number>) => void): void {
  const parent = () => program.opts<ListOptions>();
  subcommand(program, 'schedules', "list the schedules (all queues', or those of --queue) with their next fire")
    .option('-q, --queue <name>', 'only this queue (repeatable)', collect)
    .option('--json', 'print JSON: {"time","schedules":[{"name","queue","cron"|"every","tz","next","lastDue","fired","skipped","paused",...}]}')
    .action((o: ListOptions) => {
      setAction(async () => {
        const names = o.queue ?? parent().queue;
        for (const q of names ?? []) validateQueueName(q);
        const { client } = await connectOnce(o.redis ?? parent().redis, io.env, 'redtask:monitor');
        try {
          const queues = names && names.length > 0 ? names : await listQueues(client);
          const list: ScheduleInfo[] = [];
          for (const name of queues) list.push(...(await programQueue('task-monitor', io, name, client).schedules()));
          const now = Date.now();
          if (o.json ?? parent().json) io.stdout.write(`${safeJson({ time: now, schedules: list })}\n`);
          else io.stdout.write(`${renderSchedules(list, now, colorFor(io.stdout, io.env))}\n`);
          return ExitCode.ok;
        } finally {
          client.disconnect();
        }
      });
    });
  const admin = (verb: 'pause' | 'resume' | 'delete', description: string) =>
    subcommand(program, `schedule-${verb}`, description)
      .argument('<queue>', 'queue name')
      .argument('<name>', 'schedule name')
      .action((queue: string, name: string, o: { redis?: string }) => {
        setAction(() =>
          withQueue(queue, o.redis ?? parent().redis, io, async (q) => {
            if (verb === 'pause') await q.pauseSchedule(name);
            else if (verb === 'resume') await q.resumeSchedule(name);
            else if (!(await q.deleteSchedule(name))) throw new UsageError(`no schedule ${JSON.stringify(name)} on queue ${queue}`);
            io.stderr.write(`${verb === 'delete' ? 'deleted' : `${verb}d`} schedule ${safeText(`${name} of ${queue}`)}\n`);
            return ExitCode.ok;
          }),
        );
      });
  admin('pause', 'stop a schedule firing (due times while paused are not made up for)');
  admin('resume', 'let a paused schedule fire again, from its next due time');
  admin('delete', 'delete a schedule (the tasks it published stay)');
}
