/**
 * redtask: a reliable distributed task scheduler on Redis.
 * The library behind task-publish, task-worker and task-monitor.
 */
export { Queue, listQueues, DEFAULT_MAX_PAYLOAD } from './shared/queue/index.js';
export type { AddOptions, AttemptError, ConnectionOptions, QueueCounts, QueueSettings, TaskInfo, TaskState, WorkerInfo } from './shared/queue/index.js';
export { Waiter } from './shared/waiter.js';
export type { TaskOutcome } from './shared/waiter.js';
export { Worker, UnrecoverableError, TaskAbortedError, isUnrecoverable, isTaskAborted } from './shared/worker/index.js';
export { ManualClock, systemClock } from './shared/clock.js';
export type { Clock, Timer } from './shared/clock.js';
export type { Handler, HandlerContext, Task, WorkerEvents, WorkerOptions } from './shared/worker/index.js';
export { parseBackoff, backoffDelay, DEFAULT_ATTEMPTS, DEFAULT_BACKOFF } from './shared/record.js';
export type { Backoff } from './shared/record.js';
export { Timing } from './shared/schedule-timing.js';
export { validateScheduleName } from './shared/schedule-store.js';
export type { CatchUpPolicy, OverlapPolicy, ScheduleInfo, ScheduleOptions } from './shared/schedule-store.js';
export { parseDuration } from './shared/duration.js';
export { queueKeys, validateQueueName, QUEUES_KEY } from './shared/keys.js';
export { createRedis, redactUrl, resolveRedisUrl, DEFAULT_REDIS_URL } from './shared/redis.js';
export { RepairedError } from './shared/repair.js';
export {
  RedtaskError,
  UsageError,
  RedisUnreachableError,
  QueueFullError,
  PublishInterruptedError,
  CorruptRecordError,
  WaitTimeoutError,
  ExitCode,
} from './shared/errors.js';
