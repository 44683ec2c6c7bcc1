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

/** waitFor gave up: the task had not ended within the timeout. */
export class WaitTimeoutError extends RedtaskError {
  override name = 'WaitTimeoutError';
}

/** A stored record could not be decoded. */
export class CorruptRecordError extends RedtaskError {
  override name = 'CorruptRecordError';
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
