import { Chalk, type ChalkInstance } from 'chalk';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Redis } from 'ioredis';
import { errorMessage, ExitCode, exitCodeFor, RedtaskError, UsageError } from '../shared/errors.js';
import { MAX_TIMER_MS, parseDuration } from '../shared/duration.js';
import { createRedis, ensureConnected, resolveRedisUrl } from '../shared/redis.js';
import { inRange, type Range } from '../shared/options.js';
import { validateQueueName } from '../shared/keys.js';
import { Queue } from '../shared/queue/index.js';
import { VERSION } from '../shared/version.js';
import { safeLines, safeText } from './terminal.js';

/** Where a program reads and writes; tests pass their own streams. */
export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIo = (): Io => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });

/**
 * What a program does when its reader goes away (`task-publish ... | head -1`): instead of an
 * unhandled EPIPE with a stack trace, `closed` is called (publish and work go on without output;
 * the monitor ends). Any other write error on stdout is one line and exit 1.
 */
export function onStdoutClosed(name: string, closed: () => void): void {
  let seen = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      if (!seen) closed();
      seen = true;
      return;
    }
    process.stderr.write(`${name}: error: cannot write to stdout: ${safeText(err.message)}\n`);
    process.exit(ExitCode.failed);
  });
}

/** Colors only on a terminal, and never with NO_COLOR set. */
export function colorFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): ChalkInstance {
  const on = Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  return new Chalk({ level: on ? 1 : 0 });
}

/** A commander program with the shared conventions: --help, --version, usage errors exit 2. */
export function baseProgram(name: string, description: string, io: Io): Command {
  return new Command(name)
    .description(description)
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // A usage error quotes the argument that was wrong, as given.
      outputError: (s, write) => write(safeLines(s)),
    })
    .addOption(new Option('--redis <url>', 'Redis URL: redis[s]://[user:password@]host[:port][/db], redis+sentinel://host[:port][,...]/<master>[/db] or redis+cluster://host[:port][,...] (default: $REDIS_URL or redis://127.0.0.1:6379)'));
}

/**
 * A whole number in a range that options.ts defines (the library checks its options against the
 * same ranges): the program's argument is refused with the same limit, as commander's usage error.
 */
export function intArg(r: Range) {
  return (value: string): number => {
    try {
      if (/^-?\d+$/.test(value)) return inRange(r, Number(value));
    } catch {
      // Out of range: said below.
    }
    throw new InvalidArgumentError(`expected a whole number from ${r.min} to ${r.max ?? Number.MAX_SAFE_INTEGER}.`);
  };
}

/**
 * A duration that a timer waits for (a timeout, an interval, a lease): in the range (ms) up to
 * MAX_TIMER_MS (about 24.8 days) unless it says less, the longest a Node timer can wait.
 */
export function timerArg(r: Range): (value: string) => number {
  const range = { ...r, max: Math.min(r.max ?? MAX_TIMER_MS, MAX_TIMER_MS) };
  return (value: string): number => {
    const ms = durationArg(value);
    try {
      return inRange(range, ms);
    } catch {
      throw new InvalidArgumentError(`expected a duration from ${range.min}ms to ${Math.floor(range.max / 86_400_000)}d.`);
    }
  };
}

export function durationArg(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
}

export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Opens a connection for a short-lived program: a few quick tries, then RedisUnreachableError. */
export async function connectOnce(url: string | undefined, env: NodeJS.ProcessEnv, name: string): Promise<{ client: Redis; url: string }> {
  const resolved = resolveRedisUrl(url, env);
  const client = createRedis(resolved, { mode: 'once', name });
  await ensureConnected(client, resolved);
  return { client, url: resolved };
}

/** A subcommand of a program, with its own --redis (the program's is read too, see addAdminCommands). */
export function subcommand(program: Command, name: string, description: string): Command {
  return program.command(name).description(description).option('--redis <url>', 'Redis URL (as for the main command)');
}

/** A program's Queue: bad data it sets aside (see Queue's onWarning) is told on stderr, one line each. */
export function programQueue(program: string, io: Pick<Io, 'stderr'>, name: string, client: Redis): Queue {
  return new Queue(name, { connection: client, onWarning: (m) => io.stderr.write(`${program}: warning: ${safeText(m)}\n`) });
}

/** Runs a command's body on one queue, over a connection opened for it and closed after. */
export async function withQueue(name: string, redis: string | undefined, io: Io, body: (q: Queue) => Promise<number>): Promise<number> {
  validateQueueName(name);
  const { client } = await connectOnce(redis, io.env, 'redtask:monitor');
  try {
    return await body(programQueue('task-monitor', io, name, client));
  } finally {
    client.disconnect();
  }
}

/**
 * Runs a program body and turns whatever it throws into one line on stderr and an exit code:
 * 0 ok, 1 failed, 2 usage, 3 Redis unreachable. Library code throws; only this decides.
 */
export async function runProgram(name: string, io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage; // commander has printed its one-line message
    }
    const known = err instanceof RedtaskError || err instanceof UsageError;
    // One line: messages quote names, ids and paths as given, and the errors of Redis and the system.
    io.stderr.write(`${name}: ${known ? '' : 'error: '}${safeText(errorMessage(err))}\n`);
    return exitCodeFor(err);
  }
}
