import type { Redis } from 'ioredis';
import { decodeJson } from './decode.js';
import { WaitTimeoutError } from './errors.js';
import type { TaskInfo } from './queue/types.js';

/** How a task ended, as a waiting publisher learns it. */
export interface TaskOutcome<R = unknown> {
  id: string;
  queue: string;
  state: 'completed' | 'dead' | 'cancelled';
  /** A completed task's result (parsed JSON). */
  result?: R;
  /** A dead-lettered task's last error. */
  error?: string;
  /** A dead-lettered task's attempts. */
  attempts?: number;
}

/**
 * A sleep that an announcement cuts short, also one that came in before the sleep began: `arm()`
 * before looking the task up, `ring()` on an announcement, `sleep(ms)` after the look-up.
 */
export class Wakeup {
  private rung = false;
  private cut: (() => void) | undefined;

  arm(): void {
    this.rung = false;
  }

  ring(): void {
    this.rung = true;
    this.cut?.();
  }

  async sleep(ms: number): Promise<void> {
    if (this.rung) return;
    await new Promise<void>((r) => {
      const timer = setTimeout(r, ms);
      this.cut = () => {
        clearTimeout(timer);
        r();
      };
    });
    this.cut = undefined;
  }
}

/**
 * What a Waiter needs of its queue, passed in (Queue.waiter() gives it): the Waiter knows
 * nothing else of the queue.
 */
export interface WaiterSource {
  /** The queue's name, for outcomes and messages. */
  queue: string;
  /** The channel the queue's task ends are announced on. */
  channel: string;
  /** Opens the connection to subscribe with (a new one: a subscribed connection does nothing else). */
  subscriber: () => Redis;
  /** Looks a task up, for one whose announcement did not come (or was not kept). */
  getTask: (id: string) => Promise<TaskInfo | null>;
}

/**
 * Announcements kept for ids nobody asked about yet (other publishers' tasks among them): at most
 * this many, and this many characters of them (results can be large); the oldest go first.
 */
const MAX_UNCLAIMED = 100_000;
const MAX_UNCLAIMED_CHARS = 64 * 1024 * 1024;
const ENDS = new Set(['completed', 'dead', 'cancelled']);

/**
 * Waits for tasks published with `notify` to end. It subscribes to the queue's events once, so
 * open it before publishing: an announcement that comes before `wait(id)` is asked is kept, with
 * the result (or last error) it carries. That is how a publisher gets a result that the queue
 * does not keep (keepCompleted 0, or trimmed before it got to it). Without an announcement (a
 * task published without `notify`, or one sent while the subscription was down) it looks the
 * task up instead, every `checkEveryMs`.
 */
export class Waiter<R = unknown> {
  private readonly announced = new Map<string, string>();
  private announcedChars = 0;
  private readonly wakers = new Map<string, () => void>();

  private constructor(
    private readonly source: WaiterSource,
    private readonly sub: Redis,
  ) {
    sub.on('message', (_channel: string, message: string) => this.onMessage(message));
  }

  /** Subscribes to the source's announcements; resolves once subscribed. */
  static async open<R = unknown>(source: WaiterSource): Promise<Waiter<R>> {
    const sub = source.subscriber();
    sub.on('error', () => undefined);
    const waiter = new Waiter<R>(source, sub);
    try {
      await sub.connect();
      await sub.subscribe(source.channel);
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    return waiter;
  }

  private onMessage(message: string): void {
    const space = message.indexOf(' ');
    if (space <= 0) return;
    const id = message.slice(0, space);
    const rest = message.slice(space + 1);
    if (!ENDS.has(rest.split(' ', 1)[0]!)) {
      this.wakers.get(id)?.();
      return;
    }
    this.forget(id);
    this.announced.set(id, rest);
    this.announcedChars += rest.length;
    while (this.announced.size > MAX_UNCLAIMED || this.announcedChars > MAX_UNCLAIMED_CHARS) this.forget(this.announced.keys().next().value!);
    this.wakers.get(id)?.();
  }

  private forget(id: string): void {
    const rest = this.announced.get(id);
    if (rest === undefined) return;
    this.announced.delete(id);
    this.announcedChars -= rest.length;
  }

  /** The outcome an announcement carried, or undefined when there was none (or it lacked the value). */
  private fromAnnouncement(id: string): TaskOutcome<R> | undefined {
    const rest = this.announced.get(id);
    if (rest === undefined) return undefined;
    const space = rest.indexOf(' ');
    const state = (space < 0 ? rest : rest.slice(0, space)) as TaskOutcome['state'];
    const value = space < 0 ? undefined : rest.slice(space + 1);
    const out: TaskOutcome<R> = { id, queue: this.source.queue, state };
    // An announcement that cannot be read is as none: the task is looked up instead.
    if (state === 'completed') {
      // An announcement of an older redtask has no result: look the task up for it.
      if (value === undefined) return undefined;
      const d = decodeJson(value, 'the result');
      if (!d.ok) return undefined;
      out.result = d.value as R;
    } else if (state === 'dead' && value !== undefined) {
      const d = decodeJson(value, 'the last error');
      if (!d.ok || typeof d.value !== 'object' || d.value === null) return undefined;
      const last = d.value as { attempt?: unknown; error?: unknown };
      if (typeof last.error === 'string') out.error = last.error;
      if (typeof last.attempt === 'number') out.attempts = last.attempt;
    }
    this.forget(id);
    return out;
  }

  /**
   * Resolves when the task has ended (completed, dead or cancelled; a retry is not an end), to
   * null when it is unknown and was not announced, and throws WaitTimeoutError after `timeoutMs`.
   */
  async wait(id: string, opts: { timeoutMs?: number; checkEveryMs?: number } = {}): Promise<TaskOutcome<R> | null> {
    const until = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    const wakeup = new Wakeup();
    this.wakers.set(id, () => wakeup.ring());
    try {
      for (;;) {
        wakeup.arm();
        const announced = this.fromAnnouncement(id);
        if (announced) return announced;
        const t = await this.source.getTask(id);
        if (t && ENDS.has(t.state)) return this.fromTask(t);
        // Ended and gone already, with its announcement come in during the look-up?
        if (!t) return this.fromAnnouncement(id) ?? null;
        const left = until - Date.now();
        if (left <= 0) throw new WaitTimeoutError(`task ${this.source.queue}#${id} is still ${t.state} after waiting ${opts.timeoutMs} ms`);
        await wakeup.sleep(Math.min(left, opts.checkEveryMs ?? 2000));
      }
    } finally {
      this.wakers.delete(id);
    }
  }

  private fromTask(t: TaskInfo): TaskOutcome<R> {
    const out: TaskOutcome<R> = { id: t.id, queue: t.queue, state: t.state as TaskOutcome['state'] };
    if (t.state === 'completed') out.result = (t.result ?? null) as R;
    if (t.state === 'dead') {
      const last = t.errors.at(-1);
      out.error = last?.error;
      out.attempts = last?.attempt;
    }
    return out;
  }

  close(): void {
    this.sub.disconnect();
  }
}
