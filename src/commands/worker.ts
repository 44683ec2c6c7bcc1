import { statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Chalk, type ChalkInstance } from 'chalk';
import { errorMessage, ExitCode, UsageError } from '../shared/errors.js';
import { formatDuration } from '../shared/duration.js';
import { CONCURRENCY, LEASE, TIMEOUT } from '../shared/options.js';
import { resolveRedisUrl } from '../shared/redis.js';
import { VERSION } from '../shared/version.js';
import { type Handler, type Task, UnrecoverableError, Worker } from '../shared/worker/index.js';
import { baseProgram, collect, colorFor, intArg, type Io, processIo, runProgram, timerArg } from './common.js';
import { CommandFailedError, execTask, stopAllCommands } from './exec.js';
import { safeJson, safeText } from './terminal.js';

interface WorkerCliOptions {
  queue?: string[];
  redis?: string;
  concurrency: number;
  exec?: boolean;
  handlers?: string;
  grace: number;
  lease: number;
  cwd?: string;
  maxOutput: number;
  timeout?: number;
  json?: boolean;
  quiet?: boolean;
  summaryEvery: number;
}

type HandlerMap = Record<string, Handler>;

/** Loads a handler module: named exports by task name; a default function handles the rest. */
export async function loadHandlers(path: string): Promise<Handler> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolvePath(path)).href)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`cannot load handlers from ${path}: ${errorMessage(err)}`);
  }
  const table: HandlerMap = {};
  const def = mod.default;
  if (def && typeof def === 'object') Object.assign(table, def);
  for (const [k, v] of Object.entries(mod)) if (typeof v === 'function' && k !== 'default') table[k] = v as Handler;
  const fallback = typeof def === 'function' ? (def as Handler) : undefined;
  if (Object.keys(table).length === 0 && !fallback) throw new UsageError(`${path} exports no handler functions`);
  return (task, ctx) => {
    const h = table[task.name] ?? fallback;
    if (!h) throw new UnrecoverableError(`no handler for task name ${JSON.stringify(task.name)} in ${path}`);
    return h(task, ctx);
  };
}

/** `queue#id name`, safe for the terminal. */
function label(task: Task): string {
  return safeText(`${task.queue}#${task.id}${task.name ? ` ${task.name}` : ''}`);
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

/** task-worker: runs tasks until SIGINT/SIGTERM; the first signal drains, the second exits at once. */
export async function run(argv: string[], io: Io = processIo(), signals: NodeJS.EventEmitter = process): Promise<number> {
  return runProgram('task-worker', io, async () => {
    const program = baseProgram('task-worker', 'Run tasks from one or more queues until stopped (Ctrl-C drains, a second Ctrl-C exits at once).', io)
      .option('-q, --queue <name>', 'queue to take tasks from (repeatable; default: default)', collect)
      .option('-c, --concurrency <n>', 'tasks run at once', intArg(CONCURRENCY), 1)
      .option('--exec', 'run each task as a shell command: /bin/sh -c <payload>')
      .option('--handlers <module>', 'JavaScript module exporting handler functions by task name')
      .option('--grace <duration>', 'on shutdown, how long running tasks may finish before they are handed back', timerArg({ what: 'grace', min: 0 }), 30_000)
      .option('--lease <duration>', 'lease per task; a dead worker\'s tasks run again after it', timerArg(LEASE), 5000)
      .option('-t, --timeout <duration>', 'timeout of one attempt for tasks published without one (default: none)', timerArg(TIMEOUT))
      .option('--cwd <dir>', 'working directory for --exec commands')
      .option('--max-output <bytes>', 'bytes of a command\'s stdout kept as its result (--exec)', intArg({ what: 'max-output', min: 0 }), 1024 * 1024)
      .option('--json', 'log one JSON object per event on stderr (for log shippers)')
      .option('--quiet', 'no line per task: only warnings, errors and the summary')
      .option('--summary-every <duration>', 'how often to log a summary line (done, failed, rate)', timerArg({ what: 'summary-every', min: 100 }), 60_000);
    program.parse(argv, { from: 'user' });
    const opts = program.opts<WorkerCliOptions>();
    if (opts.exec && opts.handlers) throw new UsageError('use either --exec or --handlers, not both');
    // A directory that is not there would fail every task's spawn, and dead-letter the queue.
    if (opts.cwd !== undefined && !statSync(opts.cwd, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--cwd ${opts.cwd}: not a directory`);
    if (opts.cwd !== undefined && !opts.exec) throw new UsageError('--cwd applies to --exec commands only');
    // --json lines carry no colour codes in their text.
    const c = opts.json ? new Chalk({ level: 0 }) : colorFor(io.stderr, io.env);
    const logEvent = makeLogger(io, c, { json: opts.json, quiet: opts.quiet });
    const log = (text: string, event = 'worker', level: LogEvent['level'] = 'warn', fields?: Record<string, unknown>) =>
      logEvent({ event, level, text, fields });

    let handler: Handler;
    if (opts.exec) handler = (task, ctx) => execTask(task, ctx, { cwd: opts.cwd, maxOutput: opts.maxOutput });
    else if (opts.handlers) handler = await loadHandlers(opts.handlers);
    else {
      handler = (task) => {
        io.stdout.write(`Task processed: ${typeof task.data === 'string' ? safeText(task.data) : safeJson(task.data)}\n`);
        return null;
      };
    }

    const worker = new Worker(opts.queue ?? ['default'], handler, {
      connection: resolveRedisUrl(opts.redis, io.env),
      concurrency: opts.concurrency,
      leaseMs: opts.lease,
      defaultTimeoutMs: opts.timeout,
    });
    const stopSummary = attachLog(worker, logEvent, c, opts.summaryEvery);
    const mode = opts.exec ? 'exec' : opts.handlers ? `handlers ${opts.handlers}` : 'print';
    log(
      `task-worker ${VERSION}: worker ${c.bold(safeText(worker.id))} on ${safeText(worker.queues.join(', '))}, concurrency ${worker.concurrency}, ${safeText(mode)} mode, ${safeText(worker.safeUrl)}`,
      'worker.start',
      'warn',
      { version: VERSION, worker: worker.id, queues: worker.queues, concurrency: worker.concurrency, mode, url: worker.safeUrl },
    );

    let signalled = 0;
    let exitCode: number = ExitCode.ok;
    let resolveStop!: () => void;
    const stopped = new Promise<void>((r) => (resolveStop = r));
    const onSignal = (sig: string) => {
      signalled++;
      if (signalled === 1) {
        log(
          c.yellow(`${sig}: stopping; waiting up to ${formatDuration(opts.grace)} for ${worker.active} running task(s) (signal again to exit at once)`),
          'worker.stopping',
          'warn',
          { signal: sig, running: worker.active, graceMs: opts.grace },
        );
        void worker.close(opts.grace).then(async () => {
          // Commands that ignore the SIGTERM of the hand-back must not outlive the worker.
          await stopAllCommands();
          stopSummary();
          log('stopped', 'worker.stopped');
          resolveStop();
        });
      } else {
        log(c.red(`${sig} again: exiting now; leases bring unfinished tasks back within ${formatDuration(worker.leaseMs)}`), 'worker.exit', 'error', {
          signal: sig,
        });
        exitCode = ExitCode.interrupted;
        void stopAllCommands(true);
        resolveStop();
      }
    };
    const onInt = () => onSignal('SIGINT');
    const onTerm = () => onSignal('SIGTERM');
    signals.on('SIGINT', onInt);
    signals.on('SIGTERM', onTerm);
    try {
      await Promise.race([worker.start(), stopped]);
      await stopped;
    } finally {
      signals.off('SIGINT', onInt);
      signals.off('SIGTERM', onTerm);
    }
    return exitCode;
  });
}

/** One thing the worker tells its operator: a text line, or a JSON object with --json. */
interface LogEvent {
  event: string;
  level: 'info' | 'warn' | 'error';
  text: string;
  fields?: Record<string, unknown>;
}

/**
 * Log lines on stderr: colored text, or one JSON object per event (--json, for log shippers).
 * --quiet keeps warnings, errors and the summary, and drops the per-task lines. The text's data
 * is escaped where the line is built (safeText); the fields of a JSON line go out whole, as
 * safeJson writes them.
 */
export function makeLogger(io: Io, c: ChalkInstance, opts: { json?: boolean; quiet?: boolean }): (e: LogEvent) => void {
  return (e) => {
    if (opts.quiet && e.level === 'info' && e.event.startsWith('task.')) return;
    if (opts.json) {
      io.stderr.write(`${safeJson({ time: new Date().toISOString(), level: e.level, event: e.event, msg: e.text, ...e.fields })}\n`);
    } else {
      io.stderr.write(`${c.dim(time())} ${e.text}\n`);
    }
  };
}

function taskFields(t: Task): Record<string, unknown> {
  return { queue: t.queue, id: t.id, name: t.name || undefined, attempt: t.attempt, maxAttempts: t.maxAttempts };
}

function attachLog(worker: Worker, log: (e: LogEvent) => void, c: ChalkInstance, summaryEveryMs: number): () => void {
  let waitingSaid = 0;
  let done = 0;
  let failed = 0;
  let since = Date.now();
  worker.on('waiting', (attempt, delay, err) => {
    // Say it on the first failure and then every ~10 attempts, not on every retry.
    if (attempt === 1 || attempt - waitingSaid >= 10) {
      waitingSaid = attempt;
      log({
        event: 'redis.waiting',
        level: 'warn',
        text: c.yellow(`waiting for Redis at ${safeText(worker.safeUrl)}${err ? ` (${safeText(err.message)})` : ''}; retrying in ${formatDuration(delay)}`),
        fields: { url: worker.safeUrl, attempt, retryInMs: delay, error: err?.message },
      });
    }
  });
  worker.on('ready', () => {
    if (waitingSaid > 0) log({ event: 'redis.connected', level: 'info', text: c.green(`connected to ${safeText(worker.safeUrl)}`), fields: { url: worker.safeUrl } });
    waitingSaid = 0;
  });
  worker.on('warning', (m) => log({ event: 'warning', level: 'warn', text: c.yellow(`warning: ${safeText(m)}`) }));
  worker.on('error', (e) => log({ event: 'error', level: 'error', text: c.red(`error: ${safeText(e.message)}`), fields: { error: e.message } }));
  worker.on('started', (t) =>
    log({ event: 'task.started', level: 'info', text: `${c.cyan('▶')} ${label(t)} started (attempt ${t.attempt}/${t.maxAttempts})`, fields: taskFields(t) }),
  );
  worker.on('completed', (t, _r, ms) => {
    done++;
    log({ event: 'task.completed', level: 'info', text: `${c.green('✔')} ${label(t)} done in ${formatDuration(ms)}`, fields: { ...taskFields(t), ms } });
  });
  worker.on('failed', (t, e, retryAt, ms) => {
    if (retryAt === null) failed++;
    log({
      event: retryAt === null ? 'task.dead' : 'task.failed',
      level: retryAt === null ? 'error' : 'warn',
      text:
        `${c.red('✖')} ${label(t)} failed in ${formatDuration(ms)}: ${safeText(e instanceof CommandFailedError ? e.summary : e.message.split('\n')[0]!)}` +
        (retryAt === null ? c.red(' (dead-lettered)') : ` (retry in ${formatDuration(retryAt - Date.now())})`),
      fields: { ...taskFields(t), ms, error: e.message, retryAt },
    });
  });
  worker.on('lost', (t) =>
    log({ event: 'task.lost', level: 'warn', text: c.yellow(`⚠ ${safeText(`${t.queue}#${t.id}`)}: lease lost, result discarded (another worker runs it)`), fields: { queue: t.queue, id: t.id } }),
  );
  worker.on('cancelled', (t) => log({ event: 'task.cancelled', level: 'warn', text: c.yellow(`⊘ ${label(t)} cancelled: stopping it`), fields: taskFields(t) }));
  worker.on('released', (t) => log({ event: 'task.released', level: 'warn', text: c.yellow(`↩ ${label(t)} handed back to the queue`), fields: taskFields(t) }));
  worker.on('scheduled', (queue, schedule, due, id) =>
    log({
      event: 'schedule.fired',
      level: 'info',
      text: `${c.cyan('⏱')} schedule ${safeText(schedule)} published ${safeText(`${queue}#${id}`)} for ${new Date(due).toISOString()}`,
      fields: { queue, schedule, due, id },
    }),
  );
  // A summary line every minute (every --summary-every), in --quiet mode too.
  const timer = setInterval(() => {
    const secs = (Date.now() - since) / 1000;
    log({
      event: 'summary',
      level: failed > 0 ? 'warn' : 'info',
      text: `summary: ${done} done, ${failed} failed in the last ${formatDuration(Date.now() - since)} (${(done / secs).toFixed(1)}/s), ${worker.active} running`,
      fields: { done, failed, seconds: Math.round(secs), ratePerSec: Number((done / secs).toFixed(2)), running: worker.active },
    });
    done = 0;
    failed = 0;
    since = Date.now();
  }, summaryEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
