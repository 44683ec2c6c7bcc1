import type { ChainableCommander } from 'ioredis';
import { CorruptRecordError } from '../errors.js';
import { LEASE_PIN, leaseMember, splitLeaseMember, statsKey, WAIT_BUCKETS } from '../keys.js';
import {
  decodeAttemptErrors,
  decodeBackoff,
  decodeCount,
  decodeJson,
  decodeSetting,
  decodeTask,
  decodeWorker,
  DEFAULT_BACKOFF,
  type DecodedTask,
  type TaskRecord,
  tokenLeasedAt,
  tokenWorker,
} from '../decode.js';
import { PAGE } from '../options.js';
import type { QueueContext, QueueCounts, QueueSettings, TaskInfo, TaskState, WorkerInfo } from './types.js';

/**
 * The inspector: reads a queue without changing it: counts, one task (getTask, in whatever
 * state it is), pages of tasks in one state, per-second history, the oldest waiting task's age,
 * live workers, settings and results. Every record read is decoded (decode.ts); one that does
 * not decode is shown with its reason, and the rest are listed.
 */

/** A task record in the inspector's terms; a record that does not decode is listed with its reason. */
function taskInfo<T>(queue: string, state: TaskState, d: DecodedTask<T>): TaskInfo<T> {
  // The stored count is of the attempts that ended without success.
  const running = state === 'active' || state === 'completed' ? 1 : 0;
  if (!d.ok) {
    const h = d.head;
    return {
      id: d.id ?? '',
      queue,
      state,
      name: h?.name ?? '',
      data: undefined as T,
      publishedAt: h?.publishedAt ?? 0,
      attempts: h ? h.made + running : 0,
      maxAttempts: h?.maxAttempts ?? 0,
      backoff: DEFAULT_BACKOFF,
      priority: 0,
      errors: [],
      corrupt: d.reason,
    };
  }
  const r: TaskRecord<T> = d.value;
  const o = r.opts;
  const t: TaskInfo<T> = {
    id: r.id,
    queue,
    state,
    name: r.name,
    data: r.data,
    publishedAt: r.publishedAt,
    attempts: r.made + running,
    maxAttempts: r.maxAttempts,
    backoff: decodeBackoff(o),
    priority: o.p ?? 0,
    errors: [],
  };
  if (o.t !== undefined) t.timeout = o.t;
  if (o.g !== undefined) t.group = o.g;
  if (o.sn !== undefined) t.schedule = { name: o.sn, due: o.sd ?? 0 };
  return t;
}

/** Adds a reason to a task's `corrupt`. */
function addCorrupt(t: TaskInfo, reason: string): void {
  t.corrupt = t.corrupt ? `${t.corrupt}; ${reason}` : reason;
}

function num(v: unknown): number {
  return Number(v ?? 0) || 0;
}

/** Counters read from a hash: null is 0; one that is not a whole number counts as 0 and adds its reason to `bad`. */
function counters(values: Array<string | null>, fields: readonly string[], bad: string[]): number[] {
  return values.map((v, i) => {
    if (v === null) return 0;
    const d = decodeCount(v, fields[i]);
    if (d.ok) return d.value;
    bad.push(d.reason);
    return 0;
  });
}

/**
 * The record of a task waiting in the list (a scan: O(waiting), for admin use). It reads from
 * the newest end, where publishing adds: tasks published meanwhile shift the rest further
 * along, never back into pages already read, and workers take from the other end. So the scan
 * goes past the list's length at the start by as many tasks as were published since (the
 * queue's id counter tells), up to four times that length: a task that stays in the list is
 * found unless publishing goes at more than three quarters of the scan's pace.
 */
export async function findWaiting(q: QueueContext, id: string): Promise<string | undefined> {
  const k = q.keys;
  const prefix = `${id}|`;
  const replies = async (m: ChainableCommander) => ((await m.exec()) ?? []).map(([err, v]) => {
    if (err) throw err;
    return v;
  });
  const [len0, seq0] = (await replies(q.client.multi().llen(k.wait).hget(k.meta, 'seq'))) as [number, string | null];
  const cap = 4 * len0 + 1000;
  for (let start = 0; ; start += 1000) {
    const [els, seq] = (await replies(q.client.multi().lrange(k.wait, start, start + 999).hget(k.meta, 'seq'))) as [string[], string | null];
    const hit = els.find((e) => e.startsWith(prefix));
    if (hit) return hit;
    const end = Math.min(cap, len0 + Number(seq ?? 0) - Number(seq0 ?? 0));
    if (els.length < 1000 || start + 1000 >= end) return undefined;
  }
}

export class Inspector<T = unknown> {
  constructor(private readonly q: QueueContext) {}

  /** Current counts of each state and the totals; every figure is O(1) to read. */
  async counts(): Promise<QueueCounts> {
    const k = this.q.keys;
    const res = await this.q.client
      .multi()
      .llen(k.wait)
      .zcard(k.prio)
      .zcard(k.groups)
      .hlen(k.active)
      .zcard(k.delayed)
      .zcard(k.completed)
      .zcard(k.dead)
      .hmget(k.meta, 'published', 'completed', 'failed', 'retried', 'recovered', 'cancelled')
      .hget(k.config, 'paused')
      .zcard(k.cancelled)
      .llen(k.corrupt)
      .exec();
    if (!res) throw new Error('counts: transaction aborted');
    for (const [err] of res) if (err) throw err;
    const [wait, prio, groups, active, delayed, completed, dead, metaRaw, paused, cancelled, setAside] = res.map(([, r]) => r);
    const bad: string[] = [];
    const meta = counters(metaRaw as Array<string | null>, ['published', 'completed', 'failed', 'retried', 'recovered', 'cancelled'], bad);
    const out: QueueCounts = {
      waiting: num(wait) + num(prio) + num(groups),
      active: num(active),
      delayed: num(delayed),
      completedRetained: num(completed),
      deadRetained: num(dead),
      published: num(meta[0]),
      completed: num(meta[1]),
      failed: num(meta[2]),
      retried: num(meta[3]),
      recovered: num(meta[4]),
      cancelled: num(meta[5]),
      cancelledRetained: num(cancelled),
      paused: paused === '1',
      setAside: num(setAside),
    };
    if (bad.length > 0) out.corrupt = bad.join('; ');
    return out;
  }

  /** One task in whatever state it is, or null when it is unknown (or no longer retained). */
  async getTask(id: string): Promise<TaskInfo<T> | null> {
    // A waiting task is found by a list scan that is not atomic with the other look-ups. A task
    // that a worker took from the list during the scan is somewhere else by the end of it: one
    // more look-up, without the scan, finds it there.
    const found = await this.lookUp(id, true);
    return found !== undefined ? found : ((await this.lookUp(id, false)) ?? null);
  }

  /** One look-up of a task: the task, null when it is nowhere, undefined when it may have moved. */
  private async lookUp(id: string, scan: boolean): Promise<TaskInfo<T> | null | undefined> {
    const k = this.q.keys;
    const res = await this.q.client
      .multi()
      .hget(k.active, id)
      .hget(k.data, id)
      .zscore(k.delayed, id)
      .zscore(k.completed, id)
      .zscore(k.dead, id)
      .hget(k.results, id)
      .hget(k.errors, id)
      .hget(k.progress, id)
      .zscore(k.prio, id)
      .zscore(k.cancelled, id)
      .zscore(k.groups, id)
      .exec();
    if (!res) return null;
    const [active, data, delayedAt, completedAt, deadAt, result, errors, progress, prioScore, cancelledAt, groupScore] = res.map(([, r]) => r as string | null);
    const info = (record: string, state: TaskState, at?: string | null): TaskInfo<T> => {
      const t = taskInfo<T>(this.q.name, state, decodeTask<T>(record));
      // A record so broken that its id cannot be read is still the task asked for.
      if (t.id === '') t.id = id;
      if (at) t.at = Number(at);
      if (errors) {
        const e = decodeAttemptErrors(errors);
        if (e.ok) t.errors = e.value;
        else addCorrupt(t, e.reason);
      }
      return t;
    };
    const json = (t: TaskInfo<T>, raw: string, what: 'result' | 'progress') => {
      const d = decodeJson(raw, `its ${what}`);
      if (d.ok) t[what] = d.value;
      else addCorrupt(t, d.reason);
    };
    if (active) {
      const bar = active.indexOf('|');
      const t = info(active.slice(bar + 1), 'active');
      const token = active.slice(0, Math.max(0, bar));
      const worker = tokenWorker(token);
      if (worker !== undefined) t.worker = worker;
      const startedAt = tokenLeasedAt(token);
      if (startedAt !== undefined) t.startedAt = startedAt;
      const lease = await this.q.client.zscore(k.lease, leaseMember(id, active));
      t.leaseUntil = lease ? Number(lease) : undefined;
      if (progress) json(t, progress, 'progress');
      return t;
    }
    if (data) {
      const state: TaskState = completedAt ? 'completed' : deadAt ? 'dead' : cancelledAt ? 'cancelled' : prioScore !== null || groupScore !== null ? 'waiting' : 'delayed';
      const t = info(data, state, completedAt ?? deadAt ?? cancelledAt ?? delayedAt);
      if (result !== null && result !== undefined) json(t, result, 'result');
      return t;
    }
    if (!scan) return null;
    // Waiting tasks are list elements: scan (admin use; O(waiting)).
    const hit = await findWaiting(this.q, id);
    if (hit) return info(hit, 'waiting');
    // Not found: unknown, unless it left the list during the scan (then it was active by now).
    const seq = Number((await this.q.client.hget(k.meta, 'seq')) ?? 0);
    return /^\d+$/.test(id) && Number(id) <= seq && Number(id) > 0 ? undefined : null;
  }

  /**
   * Completed and failed (dead-lettered) tasks per second, one entry per second for the
   * `seconds` full seconds before now, oldest first. A second counts as full 250 ms after it
   * ends: the workers send its counts just after it ends (Worker.flushStats).
   */
  async history(seconds: number, now = Date.now()): Promise<Array<{ second: number; completed: number; failed: number; waits: number[]; corrupt?: string }>> {
    const last = Math.floor((now - 250) / 1000) - 1;
    const pipe = this.q.client.pipeline();
    const fields = ['completed', 'failed', ...WAIT_BUCKETS.map((_, i) => `w${i}`)];
    for (let s = last - seconds + 1; s <= last; s++) pipe.hmget(statsKey(this.q.name, s), ...fields);
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, v], i) => {
      const second = last - seconds + 1 + i;
      // (A second's key of the wrong type counts as an empty second, with why.)
      if (err) return { second, completed: 0, failed: 0, waits: WAIT_BUCKETS.map(() => 0), corrupt: `${statsKey(this.q.name, second)}: ${err.message}` };
      const bad: string[] = [];
      const [c, f, ...w] = counters(v as Array<string | null>, fields, bad);
      // A field that is not a count counts as 0; the second says why.
      return bad.length > 0 ? { second, completed: c!, failed: f!, waits: w, corrupt: bad.join('; ') } : { second, completed: c!, failed: f!, waits: w };
    });
  }

  /**
   * Age (ms) of the oldest waiting task, or null when none waits. It looks at the oldest plain
   * task, the next prioritized one, the oldest task of the lowest priority (where starved tasks
   * wait) and the next grouped one (each group gets a turn per round, so a group's first task is
   * never more than a round behind), not at every waiting task: O(1) at any queue length.
   */
  async oldestWaitingAge(now = Date.now()): Promise<number | null> {
    const k = this.q.keys;
    const [tail, prioFirst, prioLast, groups] = await Promise.all([
      this.q.client.lindex(k.wait, -1),
      this.q.client.zrange(k.prio, 0, 0),
      this.q.client.zrange(k.prio, -1, -1),
      this.q.client.zrange(k.groups, 0, 0),
    ]);
    const ids = [...new Set([...prioFirst, ...prioLast, ...groups])];
    const records = [tail, ...(await Promise.all(ids.map((id) => this.q.client.hget(k.data, id))))];
    let oldest = Infinity;
    for (const e of records) {
      const ts = e ? Number(e.split('|', 4)[3]) : NaN;
      if (ts < oldest) oldest = ts;
    }
    return oldest === Infinity ? null : Math.max(0, now - oldest);
  }

  /**
   * A page of tasks in one state, newest first for finished ones and next-to-run first for
   * waiting ones (plain waiting tasks, then prioritized and grouped ones, admin use).
   */
  async listTasks(state: TaskState, opts: { offset?: number; limit?: number } = {}): Promise<Array<TaskInfo<T>>> {
    const k = this.q.keys;
    const offset = opts.offset ?? 0;
    const limit = Math.min(opts.limit ?? 20, PAGE.max!);
    const end = offset + limit - 1;
    const fromIds = async (ids: string[]) => {
      const out: Array<TaskInfo<T>> = [];
      for (const id of ids) {
        // Each id comes from a set, not the list: no list scan (a task gone meanwhile is skipped).
        const t = await this.lookUp(id, false);
        if (t && t.state === state) out.push(t);
      }
      return out;
    };
    switch (state) {
      case 'waiting': {
        // The list holds the oldest at its right end: read it from there.
        const len = await this.q.client.llen(k.wait);
        const out: Array<TaskInfo<T>> = [];
        if (offset < len) {
          const els = await this.q.client.lrange(k.wait, Math.max(0, len - 1 - end), len - 1 - offset);
          for (const e of els.reverse()) out.push(taskInfo<T>(this.q.name, 'waiting', decodeTask<T>(e)));
        }
        if (out.length < limit) {
          const rest = limit - out.length;
          const skip = Math.max(0, offset - len);
          const ids = await this.q.client.zrange(k.prio, skip, skip + rest - 1);
          if (ids.length < rest) {
            const from = Math.max(0, skip - (await this.q.client.zcard(k.prio)));
            ids.push(...(await this.q.client.zrange(k.groups, from, from + rest - ids.length - 1)));
          }
          out.push(...(await fromIds(ids)));
        }
        return out;
      }
      case 'active':
        return fromIds(
          (await this.q.client.zrange(k.lease, 0, -1))
            .filter((m) => m !== LEASE_PIN)
            .slice(offset, end + 1)
            .map((m) => splitLeaseMember(m).id),
        );
      case 'delayed':
        return fromIds(await this.q.client.zrange(k.delayed, offset, end));
      case 'completed':
        return fromIds(await this.q.client.zrevrange(k.completed, offset, end));
      case 'dead':
        return fromIds(await this.q.client.zrevrange(k.dead, offset, end));
      case 'cancelled':
        return fromIds(await this.q.client.zrevrange(k.cancelled, offset, end));
    }
  }

  /** The result of a completed task (parsed JSON), or undefined; throws CorruptRecordError when it cannot be read. */
  async getResult(id: string): Promise<unknown> {
    const r = await this.q.client.hget(this.q.keys.results, id);
    if (r === null) return undefined;
    const d = decodeJson(r, `the result of task ${this.q.name}#${id}`);
    if (!d.ok) throw new CorruptRecordError(d.reason);
    return d.value;
  }

  /**
   * The queue's settings as stored. A field that is not a setting, or not a whole number >= 0,
   * is left out and listed in `corrupt` with why (the scripts take such a value for unset).
   */
  async settings(): Promise<QueueSettings & { corrupt?: Record<string, string> }> {
    const raw = await this.q.client.hgetall(this.q.keys.config);
    delete raw.paused;
    const out: QueueSettings & { corrupt?: Record<string, string> } = {};
    for (const [field, v] of Object.entries(raw)) {
      const d = decodeSetting(field, v);
      if (d.ok) out[field as keyof QueueSettings] = d.value;
      else (out.corrupt ??= {})[field] = d.reason;
    }
    return out;
  }

  /**
   * Live workers of this queue: those that sent a heartbeat within two of their leases, and
   * at least 10 s (a little clock skew between hosts does not hide a worker; the lease is 5 s
   * for workers that do not say). A worker that died stays listed in Redis until another
   * worker's maintenance forgets it; it is not live. An entry whose description cannot be read
   * is listed with `corrupt` (and empty fields) while its heartbeat is recent.
   */
  async workers(now = Date.now()): Promise<WorkerInfo[]> {
    const [seen, info] = await Promise.all([
      this.q.client.zrange(this.q.keys.workers, 0, -1, 'WITHSCORES'),
      this.q.client.hgetall(this.q.keys.winfo),
    ]);
    const out: WorkerInfo[] = [];
    for (let i = 0; i < seen.length; i += 2) {
      const id = seen[i]!;
      const raw = info[id];
      if (!raw) continue;
      const lastSeen = Number(seen[i + 1]);
      const d = decodeWorker(raw);
      const w: WorkerInfo = d.ok
        ? { ...d.value, lastSeen }
        : { id, host: '', pid: 0, queues: [], concurrency: 0, running: 0, startedAt: 0, version: '', lastSeen, corrupt: d.reason };
      if (!(now - w.lastSeen <= Math.max(2 * (w.leaseMs ?? 5000), 10_000))) continue;
      out.push(w);
    }
    return out;
  }
}
