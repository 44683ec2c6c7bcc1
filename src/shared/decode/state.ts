import { decodeJson, type Decoded, fail, isInt, isObject, MAX_TIME_MS, show } from './common.js';
import { MAX_TIMER_MS } from '../duration.js';

/** A queue's settings, its counters and its workers' descriptions, decoded (see ../decode.ts). */

// ---------------------------------------------------------------------------------------------
// Queue config, workers, counters

/** The settings a queue's config HASH may hold (each a whole number >= 0), besides `paused`. */
export const SETTINGS = [
  'keepCompleted',
  'keepCompletedMs',
  'keepDead',
  'keepDeadMs',
  'maxWaiting',
  'maxActive',
  'rateMax',
  'rateWindowMs',
  'groupMaxActive',
  'groupRateMax',
  'groupRateWindowMs',
] as const;

/** A counter or setting as Redis keeps it: the digits of a whole number >= 0 (a safe integer). */
export function decodeCount(raw: string, what = 'the count'): Decoded<number> {
  const n = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(n)) return fail(`${what} ${show(raw)} is not a whole number >= 0`);
  return { ok: true, value: n };
}

/** One field of a queue's config HASH. */
export function decodeSetting(field: string, raw: string): Decoded<number> {
  if (!(SETTINGS as readonly string[]).includes(field)) return fail(`${show(field)} is not a setting`);
  return decodeCount(raw, field);
}

/** A worker's description, as it writes it into the queue's winfo HASH with each heartbeat. */
export interface StoredWorker {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  running: number;
  startedAt: number;
  version: string;
  /** Its lease (ms): it renews its tasks' leases, and reports, several times per lease. */
  leaseMs?: number;
}

/** A worker's description (JSON), checked field by field. */
export function decodeWorker(raw: string): Decoded<StoredWorker> {
  const parsed = decodeJson(raw, 'its description');
  if (!parsed.ok) return parsed;
  const w = parsed.value;
  if (!isObject(w)) return fail(`its description ${show(w)} is not an object`);
  const str = (v: unknown, max: number) => typeof v === 'string' && v.length <= max;
  if (!str(w.id, 256) || !str(w.host, 256) || !str(w.version, 64)) return fail('its id, host or version is not a string');
  if (!Array.isArray(w.queues) || !w.queues.every((q) => str(q, 128))) return fail(`its queues ${show(w.queues)} are not a list of names`);
  if (!isInt(w.pid, 0, 2 ** 32) || !isInt(w.concurrency, 0, 1_000_000) || !isInt(w.running, 0, 1_000_000)) {
    return fail(`its pid ${show(w.pid)}, concurrency ${show(w.concurrency)} or running ${show(w.running)} is not a whole number in range`);
  }
  if (!isInt(w.startedAt, 0, MAX_TIME_MS)) return fail(`its start time ${show(w.startedAt)} is not a time in ms`);
  if (w.leaseMs !== undefined && !isInt(w.leaseMs, 1, MAX_TIMER_MS)) return fail(`its lease ${show(w.leaseMs)} is not a whole number of ms`);
  const out: StoredWorker = {
    id: w.id as string,
    host: w.host as string,
    pid: w.pid,
    queues: [...(w.queues as string[])],
    concurrency: w.concurrency,
    running: w.running,
    startedAt: w.startedAt,
    version: w.version as string,
  };
  if (w.leaseMs !== undefined) out.leaseMs = w.leaseMs;
  return { ok: true, value: out };
}

