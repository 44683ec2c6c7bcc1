import type { Redis } from 'ioredis';
import { ExitCode } from '../shared/errors.js';
import { validateQueueName } from '../shared/keys.js';
import { listQueues, Queue, type WorkerInfo } from '../shared/queue.js';
import { redactUrl } from '../shared/redis.js';
import { baseProgram, collect, colorFor, connectOnce, durationArg, type Io, processIo, runProgram } from './common.js';
import { render, renderLine, type QueueSnapshot, type Snapshot } from './monitor-view.js';

interface MonitorOptions {
  redis?: string;
  queue?: string[];
  interval: number;
  once?: boolean;
  json?: boolean;
}

const RATE_WINDOW = 5;

/** Reads the state of the given queues (default: every known queue) and their live workers. */
export async function snapshot(client: Redis, url: string, names?: string[]): Promise<Snapshot> {
  const queueNames = names && names.length ? names : await listQueues(client);
  const now = Date.now();
  const queues: QueueSnapshot[] = [];
  const workers = new Map<string, WorkerInfo>();
  await Promise.all(
    queueNames.map(async (name) => {
      const q = new Queue(name, { connection: client });
      const [c, hist, ws] = await Promise.all([q.counts(), q.history(RATE_WINDOW, now), q.workers()]);
      const done = hist.reduce((a, h) => a + h.completed, 0);
      const failed = hist.reduce((a, h) => a + h.failed, 0);
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
        ratePerSec: done / RATE_WINDOW,
        failedPerSec: failed / RATE_WINDOW,
      });
      for (const w of ws) workers.set(w.id, w);
    }),
  );
  queues.sort((a, b) => a.name.localeCompare(b.name));
  return { time: now, redis: redactUrl(url), queues, workers: [...workers.values()].sort((a, b) => a.id.localeCompare(b.id)) };
}

/** task-monitor: prints the live state of every queue, refreshed, or once. */
export async function run(argv: string[], io: Io = processIo(), signals: NodeJS.EventEmitter = process): Promise<number> {
  return runProgram('task-monitor', io, async () => {
    const program = baseProgram('task-monitor', 'Show the live state of queues and workers.', io)
      .option('-q, --queue <name>', 'show only this queue (repeatable)', collect)
      .option('-i, --interval <duration>', 'refresh interval', durationArg, 1000)
      .option('--once', 'print one snapshot and exit')
      .option('--json', 'print JSON: {"time","queues":[{"name","waiting","active","delayed","completed","failed",...}],"workers":[...]}');
    program.parse(argv, { from: 'user' });
    const opts = program.opts<MonitorOptions>();
    for (const q of opts.queue ?? []) validateQueueName(q);
    const { client, url } = await connectOnce(opts.redis, io.env, 'redtask:monitor');
    const c = colorFor(io.stdout, io.env);
    const tty = Boolean(io.stdout.isTTY) && !opts.json;
    const show = (s: Snapshot) => {
      if (opts.json) io.stdout.write(`${JSON.stringify(s)}\n`);
      else if (tty) io.stdout.write(`\x1b[H\x1b[2J${render(s, c)}\n`);
      else io.stdout.write(`${opts.once ? render(s, c) : renderLine(s)}\n`);
    };
    try {
      if (opts.once) {
        show(await snapshot(client, url, opts.queue));
        return ExitCode.ok;
      }
      let stop = false;
      let wake: (() => void) | undefined;
      const onSig = () => {
        stop = true;
        wake?.();
      };
      signals.on('SIGINT', onSig);
      signals.on('SIGTERM', onSig);
      try {
        while (!stop) {
          show(await snapshot(client, url, opts.queue));
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, opts.interval);
          });
        }
      } finally {
        signals.off('SIGINT', onSig);
        signals.off('SIGTERM', onSig);
      }
      return ExitCode.ok;
    } finally {
      client.disconnect();
    }
  });
}
