/**
 * The boundary in: everything redtask reads back from Redis is decoded here, because anything
 * can be written there (another program, a hand-run command, a bug, an older or newer redtask).
 * Each decoder checks types and ranges and returns either the value or the reason it is not
 * one; none of them throws on bad data. What fails is quarantined by the caller (a task is
 * dead-lettered, a schedule paused, a listing shows the entry as corrupt), never thrown through
 * a worker. The limits are the same ones the library checks on the way in, so whatever
 * redtask writes, it reads back.
 *
 * Its parts: decode/common.ts (the result type, the limits, JSON), decode/task.ts (records,
 * options, attempt errors, lease tokens), decode/schedule.ts (definitions, templates, fire
 * states), decode/state.ts (settings, counters, worker descriptions).
 */
export { type Decoded, decodeJson, jsonDepthOk, MAX_ATTEMPTS, MIN_PRIORITY, MAX_PRIORITY, MAX_BACKOFF_MS, MIN_EVERY_MS, MAX_EVERY_MS, MAX_JSON_DEPTH, MAX_TIME_MS, TASK_NAME, GROUP_NAME, SCHEDULE_NAME } from './decode/common.js';
export * from './decode/task.js';
export * from './decode/schedule.js';
export * from './decode/state.js';
