/** Exit codes shared by the three programs. Only src/commands maps errors to them. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  interrupted: 130,
} as const;

/** Base class of every error redtask throws on purpose. */
export class RedtaskError extends Error {
  override name = 'RedtaskError';
}

/** A caller passed something invalid: a queue name, an option, a payload. */
export class UsageError extends RedtaskError {
  override name = 'UsageError';
}

/** Redis could not be reached (or stopped answering) at the given URL. */
export class RedisUnreachableError extends RedtaskError {
  override name = 'RedisUnreachableError';
  constructor(
    readonly url: string,
    override readonly cause?: unknown,
  ) {
    super(`cannot reach Redis at ${url}${cause instanceof Error ? ` (${cause.message})` : ''}`);
  }
}

/** The queue refused new tasks because its maxWaiting limit was reached. */
export class QueueFullError extends RedtaskError {
  override name = 'QueueFullError';
  constructor(
    message: string,
    /** The ids of the tasks of the same addBulk call that were accepted before the refusal. */
    readonly accepted: string[] = [],
  ) {
    super(message);
  }
}

/**
 * An addBulk of several script calls failed part-way: the tasks of the calls before the failing
 * one were accepted (`accepted`), the rest were not. The message is the failure's.
 */
export class PublishInterruptedError extends RedtaskError {
  override name = 'PublishInterruptedError';
  constructor(
    override readonly cause: unknown,
    readonly accepted: string[],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** waitFor gave up: the task had not ended within the timeout. */
export class WaitTimeoutError extends RedtaskError {
  override name = 'WaitTimeoutError';
}

/** A stored record could not be decoded. */
export class CorruptRecordError extends RedtaskError {
  override name = 'CorruptRecordError';
}

/** What a script's caller knows that the error it becomes may need. */
export interface ScriptErrorContext {
  /** The queue the script ran on. */
  queue: string;
  /** The ids that earlier calls of the same request accepted (publish). */
  accepted?: string[];
}

/**
 * The errors the Lua scripts reply with, by code: each code is a value of RT_ERR in
 * src/shared/lua/lib/errors.lua, the first word of the error reply; the rest of the reply is its
 * detail. Each becomes one typed error here.
 */
export const SCRIPT_ERRORS: Record<string, (detail: string, at: ScriptErrorContext) => RedtaskError> = {
  /** publish: the queue's maxWaiting would be exceeded; detail: the number of tasks waiting. */
  RT_QUEUE_FULL: (waiting, at) => {
    const accepted = at.accepted ?? [];
    const part = accepted.length ? ` (the first ${accepted.length} tasks were accepted)` : '';
    return new QueueFullError(`queue ${at.queue} is full: ${waiting} tasks waiting, maxWaiting would be exceeded${part}`, accepted);
  },
  /** An argument the script cannot use; detail: what was wrong. */
  RT_BAD_ARGUMENT: (detail) => new UsageError(detail),
};

const SCRIPT_ERROR = /^(RT_[A-Z_]+)(?: ([\s\S]*))?$/;

/**
 * The typed error of a script's error reply (see SCRIPT_ERRORS); any other error as it is.
 * Callers of a script that can refuse: `runScript(...).catch((err) => { throw scriptError(err, at) })`.
 */
export function scriptError(err: unknown, at: ScriptErrorContext): unknown {
  const m = err instanceof Error ? SCRIPT_ERROR.exec(err.message) : null;
  const make = m ? SCRIPT_ERRORS[m[1]!] : undefined;
  return make ? make(m![2] ?? '', at) : err;
}

/** Maps any error to the exit code a program should end with. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return ExitCode.usage;
  if (err instanceof RedisUnreachableError) return ExitCode.unreachable;
  return ExitCode.failed;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
