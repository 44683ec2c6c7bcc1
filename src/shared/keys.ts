import { UsageError } from './errors.js';

/**
 * A member kept in every lease ZSET with the score +inf (never due). Being longer than
 * zset-max-listpack-value, it keeps the ZSET in its skiplist encoding, where ZADD and ZREM cost
 * O(log n) instead of moving the whole listpack. Not a task: readers of the lease ZSET skip it.
 * The Lua scripts spell it RT_LEASE_PIN (lib/lease.lua).
 */
export const LEASE_PIN = '~pin: keeps this sorted set in its skiplist encoding (fast inserts); it is not a task';

/**
 * A member of the lease ZSET: "<id>|<token>", the task and the fencing token of its lease (as
 * rt_member in lib/lease.lua). The token of an active task is the head of its entry in
 * `active`, "<token>|<record>".
 */
export function leaseMember(id: string, activeEntry: string): string {
  return `${id}|${activeEntry.slice(0, activeEntry.indexOf('|'))}`;
}

/** The task id and token of a lease member (the token is undefined for a member without one, which is the lease of no task). */
export function splitLeaseMember(member: string): { id: string; token: string | undefined } {
  const bar = member.indexOf('|');
  return bar < 0 ? { id: member, token: undefined } : { id: member.slice(0, bar), token: member.slice(bar + 1) };
}

/** Every key of one queue lives under the hash tag {<queue>}, so a queue is one Cluster slot. */
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function validateQueueName(name: string): string {
  if (!QUEUE_NAME.test(name)) {
    throw new UsageError(
      `invalid queue name ${JSON.stringify(name)}: use 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/**
 * Upper bounds (ms) of the wait-time histogram buckets: field `w<i>` of a stats bucket counts
 * the tasks that waited at most WAIT_BUCKETS[i] ms (and more than the bound before) from
 * publishing to starting. The last bucket is open-ended.
 */
export const WAIT_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000, 3_600_000, Infinity];

export function waitBucket(ms: number): number {
  let i = 0;
  while (ms > WAIT_BUCKETS[i]!) i++;
  return i;
}

/** Per-second bucket of a queue's completed/failed counts (HASH, expires after an hour). */
export function statsKey(queue: string, second: number): string {
  return `rt:{${queue}}:stats:${second}`;
}

/** The pub/sub channel on which the outcome of tasks published with `notify` is announced. */
export function eventsChannel(queue: string): string {
  return `rt:{${queue}}:events`;
}

/** The global set of queue names (outside any queue's slot; written with plain commands). */
export const QUEUES_KEY = 'rt:queues';

export interface QueueKeys {
  meta: string;
  config: string;
  wait: string;
  active: string;
  lease: string;
  marker: string;
  corrupt: string;
  delayed: string;
  prio: string;
  idem: string;
  idemexp: string;
  data: string;
  completed: string;
  results: string;
  dead: string;
  cancelled: string;
  rate: string;
  groups: string;
  gstate: string;
  gactive: string;
  grate: string;
  errors: string;
  progress: string;
  workers: string;
  winfo: string;
  schedules: string;
  schedtask: string;
  schedstate: string;
  schednext: string;
  /** "rt:{<queue>}:", which every key above starts with (the hot-path scripts take only this). */
  prefix: string;
}

/** Names every key of a queue. The README's key table documents each one. */
export function queueKeys(queue: string): QueueKeys {
  const p = `rt:{${validateQueueName(queue)}}:`;
  return {
    prefix: p,
    meta: `${p}meta`,
    config: `${p}config`,
    wait: `${p}wait`,
    active: `${p}active`,
    lease: `${p}lease`,
    marker: `${p}marker`,
    corrupt: `${p}corrupt`,
    delayed: `${p}delayed`,
    prio: `${p}prio`,
    idem: `${p}idem`,
    idemexp: `${p}idemexp`,
    data: `${p}data`,
    completed: `${p}completed`,
    results: `${p}results`,
    dead: `${p}dead`,
    cancelled: `${p}cancelled`,
    rate: `${p}rate`,
    groups: `${p}groups`,
    gstate: `${p}gstate`,
    gactive: `${p}gactive`,
    grate: `${p}grate`,
    errors: `${p}errors`,
    progress: `${p}progress`,
    workers: `${p}workers`,
    winfo: `${p}winfo`,
    schedules: `${p}schedules`,
    schedtask: `${p}schedtask`,
    schedstate: `${p}schedstate`,
    schednext: `${p}schednext`,
  };
}
