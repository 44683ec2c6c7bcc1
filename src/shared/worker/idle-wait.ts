import type { Redis } from 'ioredis';
import { type Clock, sleep } from '../clock.js';
import type { QueueKeys } from '../keys.js';
import { duplicateClient, isCluster } from '../redis.js';
import { reserveArgs } from '../settle.js';
import { Connection, ReplyLostError, TaskCalls } from './connection.js';
import type { Dispatcher } from './dispatcher.js';

const BLOCK_SECONDS = 5;

/** What the idle wait needs from the worker around it. */
export interface IdleWaitHost {
  readonly clock: Clock;
  readonly workerId: string;
  readonly leaseMs: number;
  /** The worker still takes tasks. */
  accepting(): boolean;
  /** Look for tasks again at this time (a delayed task's due time). */
  dueAt(at: number): void;
  /** A wait on these queues' markers failed (other than by a dropped connection). */
  waitFailed(queues: readonly string[], err: unknown): void;
}

/** The blocking wait of one group of queues, on a connection of its own. */
interface Waiter {
  queues: string[];
  markers: string[];
  connection: Connection | undefined;
  /** CLIENT ID of its connection while connected (for CLIENT UNBLOCK from the main one). */
  clientId: number | undefined;
  loop: Promise<void> | undefined;
}

/**
 * While the worker has free slots and nothing to take, it waits on its queues' marker keys with
 * a blocking pop (no polling): one wait per group of queues (all of them on one server; one per
 * queue on a Redis Cluster, where one node that is down must not hold back the others). A
 * publish sets the marker; the worker that pops it looks for tasks and passes the wake-up on
 * when more remain (see rt_reserve).
 *
 * A worker of one queue on one server queues a reserve right behind its blocking pop, on the
 * same connection: Redis runs it as soon as the wait ends (a wake-up, the 5 s timeout, or
 * CLIENT UNBLOCK), in the same turn of its event loop, so a task published to an idle worker
 * comes back with its wake-up instead of one round trip later. That reserve takes Redis's clock
 * (it runs when the wait ends); its slots count as in flight meanwhile, so whatever else would
 * look for tasks (a due time, close()) ends the wait instead (see unblock). A dropped connection
 * makes it a lost call, retried with its token.
 */
export class IdleWait {
  private readonly waiters: Waiter[];
  private idle = false;
  private idleWakes: Array<() => void> = [];
  /** A wait with a reserve behind it is out (the gen-th). */
  private queued = false;
  private gen = 0;
  private unblocking = false;
  /** The next wait is a plain one (see loop). */
  private plainNext = false;
  /** CLIENT UNBLOCK is allowed (an ACL may forbid it: then every wait is a plain one). */
  private canUnblock = true;
  private stopped = false;

  private readonly client: Redis;

  constructor(
    /** The worker's main connection: the waits' connections copy it, and CLIENT UNBLOCK goes on it. */
    private readonly main: Connection,
    groups: string[][],
    private readonly keys: ReadonlyMap<string, QueueKeys>,
    private readonly dispatcher: Dispatcher,
    private readonly host: IdleWaitHost,
  ) {
    this.client = main.client;
    this.waiters = groups.map((queues) => ({ queues, markers: queues.map((q) => keys.get(q)!.marker), connection: undefined, clientId: undefined, loop: undefined }));
  }

  /** Connects the waits' connections and starts waiting whenever the worker is idle. */
  start(): void {
    for (const w of this.waiters) {
      w.connection = this.connect(w);
      w.loop = this.loop(w);
    }
  }

  /** Told after each kick of the dispatcher (see Dispatcher.afterKick). */
  afterKick(idle: boolean): void {
    // A due time or close() wants a look while a queued wait holds the slots: end the wait.
    if (this.queued && (!this.host.accepting() || this.dispatcher.wantsLook())) this.unblock();
    if (idle) {
      this.idle = true;
      for (const wake of this.idleWakes.splice(0)) wake();
    }
  }

  /**
   * Stops waiting (close() has stopped accepting): a queued wait ends now, and its reserve's
   * tasks come back to be handed back; plain waits are cut off.
   */
  interrupt(): void {
    this.unblock();
    for (const wake of this.idleWakes.splice(0)) wake();
    for (const w of this.waiters) if (!(this.queued && w.queues.length === 1)) w.connection?.client.disconnect();
  }

  /** Closes the connections and waits for the loops to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.idleWakes.splice(0)) wake();
    for (const w of this.waiters) w.connection?.client.disconnect();
    await Promise.all(this.waiters.map((w) => w.loop));
  }

  private connect(w: Waiter): Connection {
    // resendUnanswered is off on the worker's client and so on this copy: a queued reserve
    // whose reply is lost must be retried with its retry flag, not sent again as new. No offline
    // queue: a wait made while the connection is down would go out, stale, after it is back.
    const client = duplicateClient(this.client, { connectionName: `redtask:worker:${this.host.workerId}:block`, enableOfflineQueue: false });
    client.on('error', () => undefined);
    const conn = new Connection(client);
    if (w.queues.length === 1 && !isCluster(this.client)) {
      client.on('ready', () => {
        conn.guard(client.client('ID')).then(
          (id) => void (w.clientId = Number(id)),
          (err: unknown) => {
            // Not allowed (an ACL without CLIENT ID): every wait is a plain one from now on.
            if (/NOPERM|unknown/i.test(err instanceof Error ? err.message : String(err))) this.canUnblock = false;
          },
        );
      });
      client.on('close', () => (w.clientId = undefined));
    }
    client.connect().catch(() => undefined);
    return conn;
  }

  private running(): boolean {
    return !this.stopped && this.host.accepting();
  }

  private async loop(w: Waiter): Promise<void> {
    const conn = w.connection!;
    while (this.running()) {
      if (!this.idle) {
        await new Promise<void>((r) => this.idleWakes.push(r));
        continue;
      }
      // (After a wait that popped "d", one plain wait: the reserve behind it would run at once and,
      // on a rate-limited queue, set "d" again, round after round.)
      // (A wait that begins while the connection is still being made waits for it, briefly, so
      // that the first wait after start-up is a queued one too.)
      if (w.queues.length === 1 && !isCluster(this.client) && w.clientId === undefined && this.canUnblock) await this.connected(w);
      const queued = w.clientId !== undefined && this.canUnblock && !this.plainNext && conn.ready;
      this.plainNext = false;
      if (queued && (await this.waitWithReserve(w, conn))) continue;
      // (A plain wait waits for the connection: without an offline queue a command fails at once.)
      if (!conn.ready) await this.connected(w);
      let woke: string | undefined;
      try {
        const popped = await conn.guard(conn.client.bzpopmin(...w.markers, BLOCK_SECONDS));
        // Member "d" carries the due time of a newly delayed task: set a timer, keep blocking.
        if (popped && popped[1] === 'd') {
          this.host.dueAt(Number(popped[2]));
          continue;
        }
        // This worker took the marker: its next call that leases passes the wake-up on.
        if (popped) woke = w.queues[w.markers.indexOf(popped[0])] ?? w.queues[0]!;
      } catch (err) {
        if (!this.running()) break;
        this.waitFailed(w, err);
        await sleep(200, this.host.clock);
      }
      this.idle = false;
      this.dispatcher.wokeUp(woke === undefined ? [] : [woke]);
    }
  }

  /**
   * Waits up to a second for the wait connection to be ready and, where a queued wait is
   * possible, for its CLIENT ID (it polls: a reply that a dropped connection swallowed never comes).
   */
  private async connected(w: Waiter): Promise<void> {
    const until = this.host.clock.now() + 1000;
    const queuedPossible = () => w.queues.length === 1 && !isCluster(this.client) && this.canUnblock;
    while (this.running() && this.host.clock.now() < until) {
      if (w.connection!.ready && (w.clientId !== undefined || !queuedPossible())) return;
      await sleep(10, this.host.clock);
    }
  }

  /**
   * A wait that failed other than by a dropped connection (a marker key of the wrong type, say)
   * is told to the worker, which repairs the queue if bad data can be the cause; the next wait is
   * a plain one, after a pause, so that a wait that keeps failing does not spin.
   */
  private waitFailed(w: Waiter, err: unknown): void {
    // (Not while the connection is down: the outage is told by the worker's 'waiting' events.)
    if (err instanceof ReplyLostError || !w.connection!.ready) return;
    this.plainNext = true;
    this.host.waitFailed(w.queues, err);
  }

  /** One wait with a reserve queued behind it (see the class comment). */
  private async waitWithReserve(w: Waiter, conn: Connection): Promise<boolean> {
    const queue = w.queues[0]!;
    const k = this.keys.get(queue)!;
    const want = this.dispatcher.want();
    if (want <= 0) return false;
    this.idle = false;
    this.queued = true;
    this.gen++;
    this.dispatcher.setWaitHoldsWake(true);
    const token = this.dispatcher.nextToken();
    const popped = conn.guard(conn.client.bzpopmin(k.marker, BLOCK_SECONDS));
    // '' for now: the reserve takes Redis's clock (see reserve-1.lua).
    const reserve = new TaskCalls(conn).reserve(k, reserveArgs('', this.host.leaseMs, want, token, false));
    // Member "d" carries a due time (a delayed task, the end of a rate-limit window): a timer for
    // it, and a plain wait next.
    let failed = false;
    popped.then(
      (p) => {
        if (p && p[1] === 'd') {
          this.plainNext = true;
          this.host.dueAt(Number(p[2]));
        }
      },
      (err: unknown) => {
        failed = !(err instanceof ReplyLostError);
        this.waitFailed(w, err);
      },
    );
    try {
      // A wait cut off by a dropped connection is not worth an error event (the retry follows).
      await this.dispatcher.adopt(queue, want, token, reserve, (err) => err instanceof ReplyLostError);
    } finally {
      this.queued = false;
      this.dispatcher.setWaitHoldsWake(false);
    }
    // (A wait that failed, a marker of the wrong type say, is not made again at once.)
    if (failed) await sleep(200, this.host.clock);
    return true;
  }

  /** Ends a queued wait now, so that its reserve looks for tasks at once. */
  private unblock(tries = 0): void {
    const id = this.waiters.length === 1 ? this.waiters[0]!.clientId : undefined;
    if (!this.queued || this.unblocking || id === undefined) return;
    this.unblocking = true;
    const gen = this.gen;
    this.main.guard(this.client.client('UNBLOCK', id)).then(
      (n) => {
        this.unblocking = false;
        // Not blocked yet (the wait had not reached Redis): try again in a moment, for this wait
        // only and not for long (its 5 s timeout ends it anyway).
        if (Number(n) === 0 && this.queued && this.gen === gen && tries < 50) this.host.clock.setTimeout(() => this.unblock(tries + 1), 2);
      },
      (err: unknown) => {
        this.unblocking = false;
        // Not allowed (an ACL without CLIENT UNBLOCK): idle workers wait the plain way from now on.
        if (/NOPERM|unknown/i.test(err instanceof Error ? err.message : String(err))) this.canUnblock = false;
      },
    );
  }
}
