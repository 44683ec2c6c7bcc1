import type { Redis } from 'ioredis';
import { settledWithin } from './duration.js';
import { queueKeys, type QueueKeys } from './keys.js';
import { createRedis, quitWithin } from './redis.js';
import { decodeStoredSchedule } from './decode.js';
import { CorruptRecordError } from './errors.js';
import { parseState, quarantineSchedule, readScheduleSet, type ScheduleState, type StoredSchedule } from './schedule-store.js';
import { planFires, Timing } from './schedule-timing.js';
import { registerScripts, runScript, scriptKeys } from './scripts.js';

export interface SchedulerOptions {
  /** Client name shown by CLIENT LIST. */
  name?: string;
  /** How often the schedules are read again (new and changed ones, lost entries), ms. Default 1,000. */
  syncMs?: number;
  onError?: (err: Error) => void;
  /** Told about each task this scheduler published. */
  onFire?: (queue: string, schedule: string, due: number, id: string) => void;
}

interface Known {
  rev: string;
  def: StoredSchedule;
  timing: Timing;
}

type FireMode = 'f' | 's' | 'r';

/**
 * Fires the schedules of some queues. Every worker runs one; they all race for each due time
 * and the fire script lets exactly one of them publish it. Each pass reads the definitions,
 * their state and the next-fire entries, puts back an entry that is missing (computed from
 * the definition, not from a previous fire), handles what is due, and sets a timer for the
 * earliest next due time. A pass also runs every syncMs, so new and changed schedules are seen.
 * The scheduler has its own connection, which re-sends a call whose reply a disconnect lost:
 * the fire script is safe to run twice for the same due time.
 */
export class Scheduler {
  private readonly client: Redis;
  private readonly keys: Map<string, QueueKeys>;
  private readonly known = new Map<string, Known>();
  /** Schedules set aside as corrupt (queue and name -> rev of the paused stand-in): not read again. */
  private readonly setAside = new Map<string, string>();
  private readonly syncMs: number;
  private interval: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    url: string,
    readonly queues: string[],
    private readonly opts: SchedulerOptions = {},
  ) {
    this.keys = new Map(queues.map((q) => [q, queueKeys(q)]));
    this.syncMs = opts.syncMs ?? 1000;
    this.client = createRedis(url, { name: opts.name ?? 'redtask:scheduler' });
    registerScripts(this.client);
  }

  start(): void {
    if (this.stopped || this.interval) return;
    this.interval = setInterval(() => this.poke(), this.syncMs);
    this.interval.unref?.();
    this.poke();
  }

  /** Stops firing; waits briefly for a pass in flight, then closes the connection. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.interval);
    clearTimeout(this.timer);
    if (this.running) await settledWithin(this.running, 2000);
    if (this.client.status === 'ready') await quitWithin(this.client, 1000);
    else this.client.disconnect();
  }

  /** Runs a pass now, or right after the one in flight. */
  private poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err: unknown) => this.report(err))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  private report(err: unknown): void {
    if (this.stopped) return;
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private async pass(): Promise<void> {
    let earliest = Number.POSITIVE_INFINITY;
    for (const queue of this.queues) {
      if (this.stopped) return;
      const k = this.keys.get(queue)!;
      const { defs, states, next } = await readScheduleSet(this.client, k);
      for (const [name, raw] of Object.entries(defs)) {
        if (this.stopped) return;
        const known = await this.definition(queue, name, raw);
        if (!known || known.def.paused) continue;
        const st = parseState(states[name]);
        if (st.queued > 0) await this.call(queue, name, known, 'r', 0, -1);
        let due = next.get(name);
        if (due === undefined) {
          // A lost entry is put back from the definition and the last due time handled.
          const n = known.timing.nextAfter(Math.max(st.lastDue, known.def.since));
          if (n === null) continue;
          await this.client.zadd(k.schednext, 'NX', n, name);
          due = n;
        }
        const upcoming = due <= Date.now() ? await this.handle(queue, name, known, st) : due;
        if (upcoming !== null && upcoming < earliest) earliest = upcoming;
      }
    }
    this.arm(earliest);
  }

  /**
   * The decoded definition (cached per rev), or undefined when there is none to run. A
   * definition or task template that does not decode is set aside: replaced by a paused
   * stand-in that keeps the reason (see quarantineSchedule), reported once, never run.
   */
  private async definition(queue: string, name: string, raw: string): Promise<Known | undefined> {
    const key = `${queue}\0${name}`;
    const cached = this.known.get(key);
    if (cached && raw.startsWith(`{"rev":"${cached.rev}"`)) return cached;
    const aside = this.setAside.get(key);
    if (aside !== undefined && raw.startsWith(`{"rev":"${aside}"`)) return undefined;
    const k = this.keys.get(queue)!;
    const decoded = decodeStoredSchedule(raw, await this.client.hget(k.schedtask, name));
    if (decoded.ok) {
      const def = decoded.value;
      const known = { rev: def.rev, def, timing: new Timing(def) };
      this.known.set(key, known);
      return known;
    }
    this.known.delete(key);
    if (decoded.quarantined) {
      if (decoded.rev !== undefined) this.setAside.set(key, decoded.rev);
      return undefined;
    }
    // Only the scheduler whose write lands reports it; when the schedule changed meanwhile,
    // the next pass reads it again.
    if (await quarantineSchedule(this.client, k, name, raw, decoded.reason)) {
      this.report(new CorruptRecordError(`schedule ${name} of queue ${queue} is corrupt and was paused: ${decoded.reason}`));
    }
    return undefined;
  }

  /** Handles the due times that have come (by the catch-up policy); resolves to the next due time. */
  private async handle(queue: string, name: string, known: Known, st: ScheduleState): Promise<number | null> {
    const { def, timing } = known;
    const now = Date.now();
    const plan = planFires(timing, Math.max(st.lastDue, def.since), now, def.catchUp, def.window);
    let handled = st.lastDue;
    for (const due of plan.fire) {
      if (due <= handled) continue;
      const r = await this.call(queue, name, known, 'f', due, timing.nextAfter(due) ?? -1);
      if (r === null) return null;
      handled = r;
    }
    if (plan.skip !== undefined && plan.skip > handled) {
      const r = await this.call(queue, name, known, 's', plan.skip, timing.nextAfter(plan.skip) ?? -1);
      if (r === null) return null;
    }
    if (plan.fire.length === 0 && plan.skip === undefined) {
      // Nothing is due although the entry says so (it was early, or put back from an old
      // state): move it on, unless it is gone or someone moved it already.
      const n = timing.nextAfter(now);
      if (n !== null) await this.client.call('ZADD', this.keys.get(queue)!.schednext, 'XX', 'GT', n, name);
      return n;
    }
    return timing.nextAfter(Math.max(now, plan.skip ?? 0, plan.fire.at(-1) ?? 0));
  }

  /** One fire-script call; resolves to the last due time handled, or null when the schedule changed or went away. */
  private async call(queue: string, name: string, known: Known, mode: FireMode, due: number, next: number): Promise<number | null> {
    const k = this.keys.get(queue)!;
    const [status, id, lastDue, firedFor] = (await runScript(this.client, 'fire', scriptKeys.fire(k), [Date.now(), name, known.rev, mode, due, next])) as [string, string, number, number?];
    if (status === 'stale' || status === 'gone' || status === 'paused') {
      this.known.delete(`${queue}\0${name}`);
      // Read the new definition at once: a changed schedule may be due now.
      if (status === 'stale') this.again = true;
      return null;
    }
    if (status === 'fired' && id) this.opts.onFire?.(queue, name, Number(firedFor ?? due), id);
    return Number(lastDue);
  }

  private arm(at: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || !Number.isFinite(at)) return;
    const delay = at - Date.now();
    // The regular pass comes anyway within syncMs.
    if (delay >= this.syncMs) return;
    this.timer = setTimeout(() => this.poke(), Math.max(0, delay) + 1);
    this.timer.unref?.();
  }
}
