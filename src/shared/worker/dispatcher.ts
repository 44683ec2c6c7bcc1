import type { Clock } from '../clock.js';
import type { QueueKeys } from '../keys.js';
import { finishArgs, finishReply, reserveArgs, type Settlement } from '../settle.js';
import type { TaskCalls } from './connection.js';

/** At most this many settlements per call (Lua's unpack has a limit); the rest go next time. */
const MAX_BATCH = 1000;

/** A call whose reply was lost: its token goes again, marked as a retry, with the slots it held. */
interface Retry {
  token: string;
  want: number;
}

/** What the dispatcher needs from the worker around it. */
export interface DispatcherHost {
  readonly clock: Clock;
  readonly workerId: string;
  readonly leaseMs: number;
  /** Slots not taken by running tasks (0 once the worker stops accepting tasks). */
  openSlots(): number;
  /** Takes what a call leased: starts the tasks, or hands them back. */
  leased(queue: string, records: string[], token: string): void;
  /** Settlements that counted, for the per-second stats. */
  settled(queue: string, at: number, completed: number, failed: number): void;
  /** A settlement refused because its lease had gone to another worker. */
  lost(queue: string, id: string): void;
  /** Marks queues that have a wake-up to pass on to the next idle worker (the marker). */
  passWake(queues: string[]): void;
  /** A task call failed (it is retried). */
  callFailed(queue: string, err: unknown): void;
  /** Told after each kick: whether the worker now has nothing to do (see IdleWait). */
  afterKick(idle: boolean): void;
}

/**
 * Sends the task calls: each one settles what finished and leases tasks for free slots. With
 * more than one slot several calls may be in flight (two, or three from nine slots on),
 * each for at most its share of the slots, so that Node runs one share's tasks while Redis
 * serves the others. Keeps the settlements waiting per queue, the calls to retry after a lost
 * reply, and which queues were found empty since the last wake-up.
 */
export class Dispatcher {
  /** Calls allowed in flight at once, and the slots one call may fill. */
  readonly lanes: number;
  readonly laneSize: number;
  private readonly pending = new Map<string, Settlement[]>();
  private readonly retries = new Map<string, Retry[]>();
  /** Task calls in flight, and the slots they hold for the tasks they may bring. */
  private inflight = 0;
  private inflightWant = 0;
  /** Queues that had fewer tasks than asked for, until a wake-up. */
  private readonly empty = new Set<string>();
  /** Wake-ups seen so far: a call launched before one must not mark a queue empty. */
  private wakes = 0;
  /** Queues whose next leasing call passes on the wake-up this worker took (see rt_reserve). */
  private readonly wakePass = new Set<string>();
  /** The idle wait's reserve passes a wake-up on itself (see IdleWait). */
  private waitHoldsWake = false;
  /** Per queue: no new call before this time, after a call to it failed (its node may be down). */
  private readonly pauseUntil = new Map<string, number>();
  /** When a task call last failed, and last came back (see stalledSince). */
  private lastCallError = 0;
  private lastCallEnd = 0;
  private rr = 0;
  private seq = 0;
  private kickQueued = false;
  private stopped = false;

  constructor(
    private readonly queues: readonly string[],
    private readonly keys: ReadonlyMap<string, QueueKeys>,
    private readonly calls: TaskCalls,
    concurrency: number,
    private readonly host: DispatcherHost,
  ) {
    // Calls in flight: two up to eight slots, three from nine on. More calls in flight keep Redis
    // busy while Node runs tasks, but each call has a cost of its own in Node and in Redis, so
    // past three, smaller calls cost more than the overlap gains (docs/BENCHMARKS.md, issue 14).
    this.lanes = concurrency === 1 ? 1 : concurrency <= 8 ? 2 : 3;
    this.laneSize = Math.ceil(concurrency / this.lanes);
  }

  /**
   * A fresh fencing token: `<worker id>.<sequence>.<time>` (base 36; the time, when the call was
   * made, is when the tasks it leases started, as task-monitor shows it).
   */
  nextToken(): string {
    return `${this.host.workerId}.${(++this.seq).toString(36)}.${this.host.clock.now().toString(36)}`;
  }

  /** Slots free for new leases: not running a task and not held by a call in flight. */
  free(): number {
    return this.host.openSlots() - this.inflightWant;
  }

  /** Slots one call should ask for now. */
  want(): number {
    return Math.min(this.free(), this.laneSize, MAX_BATCH);
  }

  /** Calls in flight, settlements waiting to be sent, or calls to send again after a lost reply. */
  get busy(): boolean {
    if (this.inflight > 0) return true;
    for (const list of this.pending.values()) if (list.length > 0) return true;
    // (A lost reserve's retry hands back what it leased: close() must wait for it too.)
    for (const list of this.retries.values()) if (list.length > 0) return true;
    return false;
  }

  /** Every queue was found empty since the last wake-up. */
  allEmpty(): boolean {
    return this.queues.every((q) => this.empty.has(q));
  }

  /** Queues a task's outcome; handlers that finish in the same turn of the event loop share one call. */
  settle(queue: string, s: Settlement): void {
    const list = this.pending.get(queue);
    if (list) list.push(s);
    else this.pending.set(queue, [s]);
    // (With one slot there is nothing to share: go at once.)
    if (this.lanes === 1) this.kick();
    else if (!this.kickQueued) {
      this.kickQueued = true;
      setImmediate(() => {
        this.kickQueued = false;
        this.kick();
      });
    }
  }

  /**
   * A wake-up came (a marker, a due time, or the idle wait's timeout): look for tasks again. The
   * next leasing call to each of `pass` passes the wake-up on to the next idle worker when more
   * tasks remain than this one takes (see rt_reserve).
   */
  wokeUp(pass: readonly string[]): void {
    for (const q of pass) this.wakePass.add(q);
    this.wakes++;
    this.empty.clear();
    this.kick();
  }

  /** The idle wait's reserve is out (it passes a wake-up on itself) or back. */
  setWaitHoldsWake(holds: boolean): void {
    this.waitHoldsWake = holds;
  }

  /** Whether a look for tasks is wanted that a queued wait would hold up (some queue not known empty). */
  wantsLook(): boolean {
    return this.queues.some((q) => !this.empty.has(q));
  }

  /**
   * Whether Redis has let the calls down since `since`: a call failed after it (refused, out of
   * memory, say), or none has come back for 5 s. close() stops waiting for such a Redis.
   */
  stalledSince(since: number): boolean {
    return this.lastCallError >= since || this.host.clock.now() - Math.max(this.lastCallEnd, since) > 5000;
  }

  /** Sends the calls worth making now, up to the lanes. */
  kick(): void {
    if (this.stopped) return;
    // A call made while Redis is away would wait in the client's queue and go out later with the
    // time it was made: leases that expire before they begin. The 'ready' listener kicks again.
    while (this.inflight < this.lanes && this.calls.ready) {
      const call = this.nextCall();
      if (!call) break;
      this.launch(call.queue, call.settles, call.want, call.retry);
    }
    if (this.waitHoldsWake) this.wakePass.clear();
    else if (this.wakePass.size > 0 && this.free() <= 0) this.passWakeNow();
    this.host.afterKick(this.inflight === 0 && !this.busy && this.free() > 0 && this.allEmpty());
  }

  /**
   * A wake-up this worker took but has no free slot to act on (or is closing) goes back to Redis:
   * the marker is set again, so the next idle worker wakes instead.
   */
  passWakeNow(): void {
    if (this.wakePass.size === 0) return;
    const queues = [...this.wakePass];
    this.wakePass.clear();
    this.host.passWake(queues);
  }

  /**
   * Takes a reserve that someone else sent for this worker (the idle wait's, queued behind its
   * blocking pop): its slots count as in flight until it comes back, like any call's.
   */
  adopt(queue: string, want: number, token: string, call: Promise<string[]>, quiet: (err: unknown) => boolean): Promise<void> {
    this.inflight++;
    this.inflightWant += want;
    return this.onReply(queue, [], want, token, call, quiet);
  }

  /** No more calls (close() has flushed what it could). */
  stop(): void {
    this.stopped = true;
  }

  /** The next call worth making, queue after queue (round robin), or undefined. */
  private nextCall(): { queue: string; settles: Settlement[]; want: number; retry?: Retry } | undefined {
    const now = this.host.clock.now();
    const n = this.queues.length;
    for (let i = 0; i < n; i++) {
      const queue = this.queues[(this.rr + i) % n]!;
      if (now < (this.pauseUntil.get(queue) ?? 0)) continue;
      const all = this.pending.get(queue);
      const retry = this.retries.get(queue)?.shift();
      const want = retry ? retry.want : this.want();
      if (!all?.length && !retry && (want <= 0 || this.empty.has(queue))) continue;
      const settles = all ? all.splice(0, MAX_BATCH) : [];
      this.rr = (this.rr + i + 1) % n;
      return { queue, settles, want, retry };
    }
    return undefined;
  }

  private launch(queue: string, settles: Settlement[], want: number, retry: Retry | undefined): void {
    const token = retry?.token ?? this.nextToken();
    this.inflight++;
    // (A retry's slots are still held from the call it repeats.)
    if (!retry) this.inflightWant += want;
    void this.onReply(queue, settles, want, token, this.send(queue, settles, want, token, retry !== undefined));
  }

  /** Takes the reply of a task call: hands over what it leased, or keeps the call for a retry. */
  private onReply(queue: string, settles: Settlement[], want: number, token: string, call: Promise<string[]>, quiet?: (err: unknown) => boolean): Promise<void> {
    const wakes = this.wakes;
    return call.then(
      (records) => {
        this.inflight--;
        this.inflightWant -= want;
        this.lastCallEnd = this.host.clock.now();
        // Fewer than asked: the queue is empty for now, unless a wake-up came in meanwhile.
        if (records.length < want && wakes === this.wakes) this.empty.add(queue);
        else if (want > 0) this.empty.delete(queue);
        if (records.length > 0) this.host.leased(queue, records, token);
        this.kick();
      },
      (err: unknown) => {
        this.inflight--;
        this.lastCallEnd = this.host.clock.now();
        // The slots stay held for the retry; the settlements are sent again.
        const list = this.retries.get(queue);
        if (list) list.push({ token, want });
        else this.retries.set(queue, [{ token, want }]);
        this.pending.set(queue, [...settles, ...(this.pending.get(queue) ?? [])]);
        if (!quiet?.(err)) this.host.callFailed(queue, err);
        // This queue waits a little; the others go on (on a cluster its node alone may be down).
        this.lastCallError = this.host.clock.now();
        this.pauseUntil.set(queue, this.lastCallError + 250);
        this.host.clock.setTimeout(() => this.kick(), 260);
      },
    );
  }

  /** One task call: reserve when there is nothing to settle, else finish (which also reserves). */
  private send(queue: string, settles: Settlement[], want: number, token: string, retry: boolean): Promise<string[]> {
    const k = this.keys.get(queue)!;
    const now = this.host.clock.now();
    // The first call that leases after a wake-up passes it on (see rt_reserve); a reserve call
    // always does.
    const wake = (want > 0 && this.wakePass.delete(queue)) || retry;
    if (settles.length === 0) return this.calls.reserve(k, reserveArgs(now, this.host.leaseMs, want, token, retry));
    const call = finishArgs(now, this.host.leaseMs, want, token, { retry, wake }, settles);
    return this.calls.finish(k, call.args).then((raw) => {
      const reply = finishReply(raw);
      let completed = 0;
      let failed = 0;
      call.order.forEach((s, i) => {
        const kind = s.kind[0];
        if (reply.applied(i)) {
          if (kind === 'c') completed++;
          else if (kind === 'd') failed++;
        } else if (!retry && kind !== 'q') {
          // On a retry, a refusal may just mean that the lost call applied it already.
          this.host.lost(queue, s.id);
        }
      });
      if (completed + failed > 0) this.host.settled(queue, now, completed, failed);
      return reply.records;
    });
  }
}
