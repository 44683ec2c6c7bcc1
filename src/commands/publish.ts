import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import ora from 'ora';
import { Option } from 'commander';
import { errorMessage, ExitCode, QueueFullError, UsageError, WaitTimeoutError } from '../shared/errors.js';
import { validateQueueName } from '../shared/keys.js';
import { BATCH_CHARS, Queue, type AddOptions } from '../shared/queue/index.js';
import { ATTEMPTS, PRIORITY, TIMEOUT } from '../shared/options.js';
import { parseBackoff } from '../shared/record.js';
import type { Waiter } from '../shared/waiter.js';
import { addScheduleOptions, checkScheduleArgs, publishSchedule, type PublishScheduleOptions, wantsSchedule } from './schedules.js';
import { baseProgram, colorFor, connectOnce, durationArg, intArg, type Io, processIo, programQueue, runProgram, timerArg } from './common.js';
import { History, historyPath, Progress, promptHelp } from './prompt.js';
import { safeJson, safeLines, safeText } from './terminal.js';

interface PublishOptions {
  queue: string;
  redis?: string;
  name?: string;
  attempts?: number;
  backoff?: string;
  delay?: number;
  at?: string;
  timeout?: number;
  priority?: number;
  key?: string;
  keyWindow?: number;
  group?: string;
  wait?: boolean;
  waitTimeout?: number;
  dataJson?: boolean;
  json?: boolean;
}

export const PROMPT = 'Please enter the task: ';
const BATCH = 1000;

/** task-publish: enqueue tasks from arguments, an interactive prompt, or piped lines. */
export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  return runProgram('task-publish', io, async () => {
    const program = baseProgram('task-publish', 'Enqueue tasks. Each argument is a task; with none, reads one task per line from stdin (a prompt on a terminal).', io)
      .argument('[task...]', 'tasks to enqueue (a shell command for `task-worker --exec`)')
      .option('-q, --queue <name>', 'queue to publish to', 'default')
      .option('-n, --name <name>', 'task name (selects the handler in a --handlers module)')
      .option('-a, --attempts <n>', 'attempts in all, including the first (default 3)', intArg(ATTEMPTS))
      .option('-b, --backoff <spec>', 'delay between attempts: exponential[:base[:max]] or fixed:<delay> (default exponential:1s:1h)')
      .option('-d, --delay <duration>', 'run no earlier than this from now, e.g. 90s, 5m', durationArg)
      .addOption(new Option('--at <time>', 'run no earlier than this time (ISO 8601, e.g. 2026-12-01T09:00:00Z)').conflicts('delay'))
      .option('-t, --timeout <duration>', 'longest time one attempt may run (e.g. 30s); then it is stopped and retried by its policy', timerArg(TIMEOUT))
      .option('-p, --priority <n>', 'from -100 to 100 (default 0): higher runs first, FIFO within a priority', intArg(PRIORITY))
      .option('-g, --group <name>', 'fair group (e.g. a tenant): groups are served round robin, so a flood in one cannot starve the others')
      .option('-k, --key <key>', 'idempotency key: publishing again with it (within --key-window) creates no second task and prints the first one\'s id')
      .option('--key-window <duration>', 'how long --key counts (default 24h)', durationArg)
      .option('-w, --wait', 'wait until each task has ended and print its result; exit 1 unless all completed')
      .option('--wait-timeout <duration>', 'with --wait: give up after this long (exit 1; the tasks stay queued)', durationArg)
      .option('--data-json', 'each task is a JSON value (the payload), not a string')
      .option('--json', 'print one JSON object per task ({"id","queue"}) instead of bare ids');
    addScheduleOptions(program);
    program.parse(argv, { from: 'user' });
    const opts = program.opts<PublishOptions>();
    const sched = program.opts<PublishScheduleOptions>();
    if (wantsSchedule(sched)) checkScheduleArgs(sched, program.args, opts);
    const addOpts: AddOptions = { name: opts.name, attempts: opts.attempts, delay: opts.delay, timeout: opts.timeout, priority: opts.priority, key: opts.key, keyWindowMs: opts.keyWindow, group: opts.group, notify: opts.wait };
    if (opts.backoff !== undefined) addOpts.backoff = parseBackoff(opts.backoff);
    if (opts.at !== undefined) {
      // A date first (Date.parse alone reads "1" as the year 2001).
      const t = /^\d{4}-\d{2}-\d{2}/.test(opts.at) ? Date.parse(opts.at) : Number.NaN;
      if (Number.isNaN(t)) throw new UsageError(`invalid --at ${JSON.stringify(opts.at)}: expected an ISO 8601 time such as 2026-12-01T09:00:00Z`);
      addOpts.runAt = t;
    }
    if (opts.waitTimeout !== undefined && !opts.wait) throw new UsageError('--wait-timeout applies with --wait only');
    if (opts.wait && program.args.length === 0 && io.stdin.isTTY) throw new UsageError('--wait does not apply at the prompt: give the tasks as arguments, or pipe them in');
    if (opts.key === '') throw new UsageError('invalid --key "": an idempotency key cannot be empty');
    const toData = (text: string, where: string): unknown => {
      if (!opts.dataJson) return text;
      try {
        return JSON.parse(text);
      } catch {
        throw new UsageError(`${where}: not valid JSON (with --data-json each task is a JSON value): ${text.slice(0, 60)}`);
      }
    };
    const schedData = wantsSchedule(sched) ? toData(program.args[0]!, 'argument 1') : undefined;
    validateQueueName(opts.queue);
    const { client } = await connectOnce(opts.redis, io.env, 'redtask:publish');
    const queue = programQueue('task-publish', io, opts.queue, client);
    let waiter: Waiter | undefined;
    const print = (ids: string[]) => {
      for (const id of ids) io.stdout.write(opts.json ? `${safeJson({ id, queue: queue.name })}\n` : `${safeText(id)}\n`);
    };
    try {
      if (wantsSchedule(sched)) {
        const task = { name: opts.name, attempts: opts.attempts, backoff: addOpts.backoff, timeout: opts.timeout, priority: opts.priority };
        return await publishSchedule(io, queue, sched, schedData, task, Boolean(opts.json));
      }
      const args = program.args;
      // Subscribed before the first task goes out, so that no outcome is missed (the prompt
      // prints ids and does not wait).
      const prompt = args.length === 0 && io.stdin.isTTY;
      waiter = opts.wait && !prompt ? await queue.waiter() : undefined;
      const waited: string[] = [];
      const out = opts.wait ? (ids: string[]) => waited.push(...ids) : print;
      if (prompt) return await interactive(io, queue, addOpts, toData, print, Boolean(opts.dataJson));
      try {
        if (args.length > 0) {
          const data = args.map((a, i) => toData(a, `argument ${i + 1}`));
          out(await queue.addBulk(data.map((d) => ({ data: d, opts: addOpts }))));
        } else {
          await piped(io, queue, addOpts, toData, out);
        }
      } catch (err) {
        // Stopped partway (a bad line, a full queue): the ids of what was accepted go to stdout
        // all the same, with --wait too (nothing is waited for then).
        print([...waited, ...(err instanceof QueueFullError ? err.accepted : [])]);
        throw err;
      }
      return waiter ? await waitAll(io, waiter, queue.name, waited, opts) : ExitCode.ok;
    } finally {
      waiter?.close();
      client.disconnect();
    }
  });
}

/**
 * --wait: waits for each task to end (a spinner on a terminal), prints each result on stdout,
 * and exits 0 when all completed, 1 otherwise.
 */
async function waitAll(io: Io, waiter: Waiter, queueName: string, ids: string[], opts: PublishOptions): Promise<number> {
  const c = colorFor(io.stderr, io.env);
  // A spinner on a terminal only; in a pipe it would be noise on stderr.
  // (A pseudo-terminal without a size, columns 0, makes ora redraw without end: no spinner there.)
  const tty = Boolean(io.stderr.isTTY) && ((io.stderr as NodeJS.WriteStream).columns ?? 0) > 0;
  const spinner = ora({ stream: io.stderr as NodeJS.WriteStream, isEnabled: tty, isSilent: !tty, discardStdin: false, color: io.env.NO_COLOR === undefined ? 'cyan' : undefined });
  const until = opts.waitTimeout !== undefined ? Date.now() + opts.waitTimeout : undefined;
  let code: number = ExitCode.ok;
  try {
    for (const [i, id] of ids.entries()) {
      const ref = safeText(`${queueName}#${id}`);
      spinner.start(`waiting for ${ref}`);
      const timeoutMs = until === undefined ? undefined : Math.max(0, until - Date.now());
      let t: Awaited<ReturnType<Waiter['wait']>>;
      try {
        t = await waiter.wait(id, { timeoutMs });
      } catch (err) {
        // One line for the whole run: this task, and the ones after it that were not waited for.
        const rest = ids.slice(i + 1);
        if (!(err instanceof WaitTimeoutError) || rest.length === 0) throw err;
        const named = rest.slice(0, 10).map((r) => `${queueName}#${r}`).join(', ');
        throw new WaitTimeoutError(`${err.message}; not waited for: ${named}${rest.length > 10 ? ` and ${rest.length - 10} more` : ''}`);
      }
      spinner.stop();
      if (!t) {
        io.stderr.write(`${c.red(`${ref} is unknown (or no longer retained)`)}\n`);
        code = ExitCode.failed;
      } else if (t.state === 'completed') {
        if (opts.json) io.stdout.write(`${safeJson({ id, queue: queueName, state: t.state, result: t.result ?? null })}\n`);
        else {
          // The result is the program's data (a command's output): a pipe or a file gets it as
          // it is, like cat; a terminal gets it escaped, as everything else it is shown.
          const result = typeof t.result === 'string' ? t.result : safeJson(t.result ?? null);
          const text = io.stdout.isTTY ? safeLines(result) : result;
          io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        }
      } else {
        const last = t.error;
        if (opts.json) io.stdout.write(`${safeJson({ id, queue: queueName, state: t.state, error: last ?? null })}\n`);
        const how = t.state === 'dead' ? `failed after ${safeText(String(t.attempts ?? '?'))} attempt(s)` : t.state;
        io.stderr.write(`${c.red(`${ref} ${how}${last ? `: ${safeLines(last)}` : ''}`)}\n`);
        code = ExitCode.failed;
      }
    }
  } finally {
    spinner.stop();
  }
  return code;
}

/**
 * One task per line from a pipe, sent in batches; a bad line stops the run with its line number.
 * On a terminal stderr (with a size) a `queued N tasks` line is redrawn in place as batches go out.
 */
async function piped(io: Io, queue: Queue, addOpts: AddOptions, toData: (t: string, w: string) => unknown, print: (ids: string[]) => void): Promise<number> {
  const progress = new Progress(io.stderr);
  // Ids printed to the same terminal would run into the progress line: clear it first.
  const shared = Boolean(io.stdout.isTTY);
  let batch: unknown[] = [];
  let batchChars = 0;
  let lineNo = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const items = batch.map((data) => ({ data, opts: addOpts }));
    batch = [];
    batchChars = 0;
    const ids = await queue.addBulk(items);
    if (shared) progress.clear();
    print(ids);
    progress.add(ids.length);
  };
  try {
    for await (const line of lines(io.stdin)) {
      lineNo++;
      if (line.trim() === '') continue;
      let data: unknown;
      try {
        data = toData(line, `line ${lineNo}`);
        // Checked here, not when its batch goes: the lines before it must go out.
        queue.payloadJson(data);
      } catch (err) {
        // The lines before the bad one are sent (their ids printed); the message says where it stopped.
        await flush();
        const before = lineNo > 2 ? `lines 1-${lineNo - 1} were queued, ` : lineNo === 2 ? 'line 1 was queued, ' : '';
        const what = errorMessage(err);
        throw new UsageError(`${what.startsWith(`line ${lineNo}`) ? what : `line ${lineNo}: ${what}`}; ${before}nothing from line ${lineNo} on`);
      }
      batch.push(data);
      // (As many characters as one publish call takes: what is read is not all kept in memory.)
      batchChars += line.length;
      if (batch.length >= BATCH || batchChars >= BATCH_CHARS) await flush();
    }
    await flush();
  } finally {
    progress.done();
  }
  return ExitCode.ok;
}

/**
 * The lines of a stream: split at "\n", a "\r" before it dropped (CRLF files). A "\r" anywhere
 * else is part of the line (readline would end a line there).
 */
async function* lines(input: NodeJS.ReadableStream): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    rest += typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    let from = 0;
    let at: number;
    while ((at = rest.indexOf('\n', from)) >= 0) {
      yield rest.slice(from, at > from && rest.charCodeAt(at - 1) === 13 ? at - 1 : at);
      from = at + 1;
    }
    rest = rest.slice(from);
  }
  rest += decoder.end();
  if (rest !== '') yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
}

/**
 * The interactive prompt: each line is a task, until `exit` or Ctrl-D (exit 0) or Ctrl-C (exit 130).
 * `help` prints a short help. Lines are kept in a history file between sessions (up/down recall them).
 */
async function interactive(io: Io, queue: Queue, addOpts: AddOptions, toData: (t: string, w: string) => unknown, print: (ids: string[]) => void, dataJson: boolean): Promise<number> {
  const c = colorFor(io.stderr, io.env);
  const history = new History(historyPath(io.env), (m) => io.stderr.write(`${c.yellow(`task-publish: ${safeText(m)}`)}\n`)).load();
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true, prompt: PROMPT, history: history.entries, historySize: 1000 });
  let interrupted = false;
  let exited = false;
  rl.on('SIGINT', () => {
    interrupted = true;
    rl.close();
  });
  // Lines are queued one after another; Ctrl-C, Ctrl-D or `exit` still lets every entered line finish.
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;
  rl.on('line', (line) => {
    if (exited) return; // typed (or pasted) after `exit`
    const text = line.trim();
    if (text === 'exit') {
      exited = true;
      rl.close();
      return;
    }
    chain = chain.then(async () => {
      if (text === 'help') io.stderr.write(promptHelp(queue.name, history.file, dataJson));
      else if (text !== '' && failure === undefined) {
        history.add(text);
        try {
          const [id] = await queue.addBulk([{ data: toData(text, 'task'), opts: addOpts }]);
          print([id!]);
          io.stderr.write(`${c.green(`queued ${safeText(`${queue.name}#${id}`)}`)}\n`);
        } catch (err) {
          if (err instanceof UsageError) io.stderr.write(`${c.red(safeText(err.message))}\n`);
          else {
            failure = err;
            rl.close();
          }
        }
      }
      if (!closed) rl.prompt();
    });
  });
  let closed = false;
  const done = new Promise<void>((r) => rl.once('close', () => r()));
  rl.prompt();
  await done;
  closed = true;
  await chain;
  history.trim();
  if (failure !== undefined) throw failure;
  if (!exited) io.stderr.write('\n'); // after `exit` the cursor is already on a fresh line
  return interrupted ? ExitCode.interrupted : ExitCode.ok;
}
