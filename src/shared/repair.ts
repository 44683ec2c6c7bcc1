import type { Redis } from 'ioredis';
import { QUEUES_KEY, type QueueKeys } from './keys.js';
import { runScript } from './scripts.js';

/**
 * The Redis type of every key of a queue, in the order of repair-30.lua's KEYS. A key of another
 * type (written by something else than redtask) makes every script that touches it fail.
 */
export const KEY_TYPES = [
  ['meta', 'hash'],
  ['config', 'hash'],
  ['wait', 'list'],
  ['active', 'hash'],
  ['lease', 'zset'],
  ['marker', 'zset'],
  ['corrupt', 'list'],
  ['delayed', 'zset'],
  ['prio', 'zset'],
  ['idem', 'hash'],
  ['idemexp', 'zset'],
  ['data', 'hash'],
  ['completed', 'zset'],
  ['results', 'hash'],
  ['dead', 'zset'],
  ['cancelled', 'zset'],
  ['rate', 'string'],
  ['groups', 'zset'],
  ['gstate', 'hash'],
  ['gactive', 'hash'],
  ['grate', 'hash'],
  ['errors', 'hash'],
  ['progress', 'hash'],
  ['workers', 'zset'],
  ['winfo', 'hash'],
  ['schedules', 'hash'],
  ['schedtask', 'hash'],
  ['schedstate', 'hash'],
  ['schednext', 'zset'],
] as const satisfies ReadonlyArray<readonly [keyof QueueKeys, string]>;

/** The queue's quarantine hash: what repair set aside ("<key> <field>" or "<key>" -> the value). */
export function quarantineKey(k: QueueKeys): string {
  return `${k.prefix}quarantined`;
}

/** The KEYS of repair-30.lua. */
export function repairKeys(k: QueueKeys): string[] {
  return [...KEY_TYPES.map(([name]) => k[name]), quarantineKey(k)];
}

/**
 * An error that bad data in Redis can cause in a script (a key of the wrong type, a stored value
 * that is not a number, a Lua runtime error on one), as opposed to Redis being away, out of
 * memory, or a refusal by design.
 */
export function isDataError(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  // (Not any Lua error: a script's own bug, or OOM, READONLY or MISCONF raised inside a script,
  // is no reason to scan the queue. These are what a value of the wrong type or form causes.)
  if (/\b(OOM|READONLY|MISCONF|BUSY|LOADING|NOSCRIPT|NOPERM)\b/.test(m)) return false;
  return /WRONGTYPE|not an integer|not a valid float|attempt to (perform arithmetic|compare|index|concatenate)|bad argument #\d+ to|number has no integer representation/i.test(m);
}

/**
 * Sets aside what does not fit the queue's structure (see repair-30.lua): keys of the wrong type
 * are renamed to `<key>:quarantined`; counters and settings that are not numbers are moved to the
 * quarantine hash and reset. Returns one line per thing set aside (none: nothing was wrong).
 */
export async function repairQueue(client: Redis, k: QueueKeys): Promise<string[]> {
  const lines = (await runScript(client, 'repair', repairKeys(k), KEY_TYPES.map(([, type]) => type))) as string[];
  // The registry of queue names is outside the queue's slot (a script of the queue cannot touch
  // it on a Cluster): checked on its own. A rename that lost a race to another repair is fine.
  const type = await client.type(QUEUES_KEY);
  if (type !== 'none' && type !== 'set') {
    await client.rename(QUEUES_KEY, `${QUEUES_KEY}:quarantined`).catch(() => undefined);
    lines.push(`${QUEUES_KEY}: a ${type}, not a set; renamed to ${QUEUES_KEY}:quarantined`);
  }
  return lines;
}

/**
 * Runs `op`; when it fails with an error that bad data can cause, repairs the queue (see
 * repairQueue) and tells what was set aside. Then, with `again`, runs `op` once more: for calls
 * that may safely run twice (reads, and writes that set a state: pause, configure, a schedule).
 * Without it the error is thrown, marked as repaired: a script is not rolled back when it fails
 * part-way, so a publish or a move of tasks that failed may have done part of its work, and
 * running it again could do that part twice.
 */
export async function withRepair<V>(client: Redis, k: QueueKeys, warn: ((message: string) => void) | undefined, again: boolean, op: () => Promise<V>): Promise<V> {
  try {
    return await op();
  } catch (err) {
    if (!isDataError(err)) throw err;
    const lines = await repairQueue(client, k);
    if (lines.length === 0) throw err;
    for (const line of lines) warn?.(`bad data set aside: ${line}`);
    if (again) return op();
    throw new RepairedError(err, lines, (err as { accepted?: unknown }).accepted);
  }
}

/** A call failed on bad data, which was then set aside: the same call should work now. */
export class RepairedError extends Error {
  override name = 'RepairedError';
  constructor(
    override readonly cause: unknown,
    /** What was set aside, one line each. */
    readonly setAside: string[],
    accepted?: unknown,
  ) {
    super(`${cause instanceof Error ? cause.message : String(cause)} (bad data in the queue's keys was set aside: ${setAside.length} item(s); try again)`);
    this.accepted = Array.isArray(accepted) ? accepted.map(String) : [];
  }

  /** For addBulk: the ids of the tasks of the same call accepted before the failure (send the rest again). */
  readonly accepted: string[];
}
