import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { errorMessage } from './errors.js';
import { formatDuration, MAX_TIMER_MS, settledWithin } from './duration.js';
import { queueKeys, type QueueKeys, statsKey, validateQueueName, WAIT_BUCKETS, waitBucket } from './keys.js';
import { backoffDelay, decodeBackoff, decodeRecord, recordId, type TaskRecord } from './record.js';
import { checkDatabase, createRedis, duplicateClient, isCluster, quitWithin, redactUrl, resolveRedisUrl } from './redis.js';
import { Scheduler } from './scheduler.js';
import { functionName, functionsUsable, isUnranFunctionCall, pipeScript, registerScripts, runScript, scriptKeys } from './scripts.js';
import { LinkClosedError, linkTarget, TaskLink, type LinkArg } from './link.js';
import { finishArgs, finishReply, reserveArgs, type Settlement } from './settle.js';
import { VERSION } from './version.js';

/** A task as a handler sees it. */
export interface Task<T = unknown> {
  id: string;
  queue: string;
  name: string;
  data: T;
  /** 1 for the first attempt. */
  attempt: number;
  maxAttempts: number;
  publishedAt: number;
  /** -100..100; higher ran first. */
  priority: number;
  /** The fair group it was published in ("" for none). */
  group: string;
  /** Set when a schedule published the task: its name and the due time (ms) this run is for. */
  schedule?: { name: string; due: number };
}

export interface HandlerContext {
  /** Fires when the task is cancelled, its lease is lost, or the worker shuts down past its grace. */
  signal: AbortSignal;
  /** Records progress (any JSON value), shown by `task-monitor` for running tasks. */
  progress(value: unknown): Promise<void>;
}

export type Handler<T = unknown, R = unknown> = (task: Task<T>, ctx: HandlerContext) => R | Promise<R>;

/** Throw this from a handler to fail the task without further attempts. */
export class UnrecoverableError extends Error {
  override name = 'UnrecoverableError';
}

/** The reason an AbortSignal fires. */
export class TaskAbortedError extends Error {
  override name = 'TaskAbortedError';
  constructor(readonly reason: 'lease-lost' | 'shutdown' | 'timeout' | 'cancelled', message: string) {
    super(message);
  }
}

export interface WorkerOptions {
  /** A redis:// or rediss:// URL (default: REDIS_URL or redis://127.0.0.1:6379). */
  connection?: string;
  /** Tasks run at once (default 1). */
  concurrency?: number;
  /** How long a reservation lasts without a heartbeat, ms (default 5,000). A killed worker's tasks run again after it. */
  leaseMs?: number;
  /** A fixed worker id (default: random). */
  workerId?: string;
  /** Timeout of one attempt for tasks published without one, ms (default: none). */
  defaultTimeoutMs?: number;
  /**
   * After a timeout fired the AbortSignal, how long the handler may take to stop before the
   * attempt is failed anyway and its slot freed (default 10 s; an --exec command is killed
   * with SIGKILL 5 s after SIGTERM).
   */
  timeoutGraceMs?: number;
  /** Fire the schedules of these queues (default true; any number of workers may: each due time fires once). */
  schedules?: boolean;
  /**
   * How long, in µs, the worker may wait for a reply of Redis by polling its socket when it has
   * nothing else to do (no task running, no other call in flight), instead of letting the
   * process sleep until the reply wakes it (default 500, at most 2,000; 0: never). On virtual
   * machines that wake-up often costs more than the whole call (docs/BENCHMARKS.md: at
   * concurrency 1 on the bench's VM, about 1.6 times the tasks per second). The event loop is
   * held for at most 2 ms per turn (all the workers of the process together), and a Redis that
   * answers later than this backs the polling off.
   */
  spin?: number;
}

export interface WorkerEvents<T> {
  started: [task: Task<T>];
  completed: [task: Task<T>, result: unknown, ms: number];
  failed: [task: Task<T>, error: Error, retryAt: number | null, ms: number];
  /** The task's lease was lost (recovered by another worker); its outcome here was discarded. */
  lost: [task: Task<T>];
  /** A running task was cancelled: its signal fired and its outcome will be discarded. */
  cancelled: [task: Task<T>];
  /** A task handed back to the queue at shutdown. */
  released: [task: Task<T>];
  /** Redis did not answer; the worker keeps retrying. */
  waiting: [attempt: number, delayMs: number, error: Error | undefined];
  ready: [];
  /** This worker's scheduler published a schedule's task for a due time (another worker publishes the others). */
  scheduled: [queue: string, schedule: string, due: number, id: string];
  warning: [message: string];
  error: [error: Error];
}

interface Running<T> {
  task: Task<T>;
  token: string;
  /** Created on first use of ctx.signal: most handlers never look at it. */
  ctrl: AbortController | undefined;
  /** Why the task was aborted, once it was (also before any signal existed). */
  abortReason: TaskAbortedError | undefined;
  startedAt: number;
  leaseUntil: number;
  progress: boolean;
  released: boolean;
  /** Settled already (an outcome after this is ignored). */
  finished: boolean;
  timer: NodeJS.Timeout | undefined;
  /** The record, for the flags of a hand-back at shutdown (group and waiting publisher). */
  rec: TaskRecord<T>;
}

type ProgressReporter = (progressKey: string, id: string, run: Running<unknown>, value: unknown) => Promise<void>;

/**
 * A handler's ctx. Its members are getters on the prototype, so that starting a task creates no
 * closures; `progress` is returned bound, so `const { progress } = ctx` works too.
 */
class TaskContext implements HandlerContext {
  constructor(
    private readonly run: Running<unknown>,
    private readonly reporter: ProgressReporter,
    private readonly progressKey: string,
    private readonly id: string,
  ) {}

  get signal(): AbortSignal {
    const run = this.run;
    if (!run.ctrl) {
      run.ctrl = new AbortController();
      if (run.abortReason) run.ctrl.abort(run.abortReason);
    }
    return run.ctrl.signal;
  }

  get progress(): (value: unknown) => Promise<void> {
    return (value: unknown) => this.reporter(this.progressKey, this.id, this.run, value);
  }
}

function isPromiseLike<V>(v: V | PromiseLike<V>): v is PromiseLike<V> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

/** What the task path counted in one second for one queue (see Worker.flushStats). */
interface SecondStats {
  completed: number;
  failed: number;
  /** Tasks started, by how long they waited (WAIT_BUCKETS). */
  waits: number[] | undefined;
}

const MAX_ERROR = 4096;
const BLOCK_SECONDS = 5;
const MAX_BATCH = 1000;
/** How long after a second ends the worker sends that second's counts (see scheduleStats). */
const STATS_LAG_MS = 50;

/** Fires a run's AbortSignal once (or arms it, when the handler has not asked for it yet). */
function abortRun<T>(run: Running<T>, reason: TaskAbortedError): void {
  if (run.abortReason) return;
  run.abortReason = reason;
  run.ctrl?.abort(reason);
}

/** A settlement's kind with the flags that spare the script work it need not do. */
function flags<T>(kind: string, run: Running<T> | undefined, rec: TaskRecord<T>): string {
  return kind + (run?.progress ? 'p' : '') + (rec.made > 0 ? 'e' : '') + (rec.opts.w ? 'n' : '') + (rec.opts.g ? 'g' : '');
}

/** A task-path Function called over a TaskLink (its keys: the queue's prefix, see finish-1.lua). */
function fcallOn(link: TaskLink, name: 'finish' | 'reserve', k: QueueKeys, args: LinkArg[]): Promise<unknown> {
  return link.call(['FCALL', functionName(name), 1, k.prefix, ...args]);
}

/** The longest a chain of spins keeps the event loop from its timers and other I/O (see TaskLink.poll). */
const SPIN_HOLD_MS = 2;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs tasks from one or more queues. Reserves tasks under a lease with a fencing token,
 * renews the lease while the handler runs, settles results in batches (each settlement also
 * reserves the next tasks in the same round trip), recovers tasks of dead workers, and blocks
 * on Redis when idle instead of polling.
 */
export class Worker<T = unknown, R = unknown> extends EventEmitter<WorkerEvents<T>> {
  readonly id: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly leaseMs: number;
  readonly url: string;
  private readonly keys: Map<string, QueueKeys>;
  private readonly client: Redis;
  /** The connection of the task calls, where it can stand in for the client's (see TaskLink). */
  private link: TaskLink | undefined;
  /**
   * Where an idle worker of one queue waits, with a reserve queued behind the wait (see
   * waitWithReserve); undefined where the link cannot be used or the worker has several queues.
   */
  private waitLink: TaskLink | undefined;
  /** A wait with a reserve behind it is out on waitLink (the waitGen-th). */
  private queuedWait = false;
  private waitGen = 0;
  /** The next idle wait is a plain one (see blockLoop). */
  private plainWaitNext = false;
  private unblocking = false;
  /** The connections of the blocking waits (one, or one per queue on a Redis Cluster). */
  private readonly blockers = new Set<Redis>();
  private readonly running = new Map<string, Running<T>>();
  private readonly pending = new Map<string, Settlement[]>();
  private readonly retries = new Map<string, Array<{ token: string; want: number }>>();
  /** Per queue and second, what the task path counted since the last flush (see flushStats). */
  private readonly stats = new Map<string, Map<number, SecondStats>>();
  private statsTimer: NodeJS.Timeout | undefined;
  private accepting = false;
  private stopped = false;
  /** Task calls in flight, and the slots they hold for the tasks they may bring. */
  private inflight = 0;
  /** See WorkerOptions.spin: µs, 0 = off. Calls not to spin for, and lates in a row. */
  private readonly spinUs: number;
  private spinSkip = 0;
  private spinLate = 0;
  private inflightWant = 0;
  /** Calls allowed in flight at once, and the slots one call may fill. */
  private readonly lanes: number;
  private readonly laneSize: number;
  /** Queues that had fewer tasks than asked for, until a wake-up. */
  private readonly empty = new Set<string>();
  /** Wake-ups seen so far: a call launched before one must not mark a queue empty. */
  private wakes = 0;
  /** Queues whose next call passes on the wake-up this worker took (see rt_reserve). */
  private readonly wakePass = new Set<string>();
  /** Per queue: no new call before this time, after a call to it failed (its node may be down). */
  private readonly pauseUntil = new Map<string, number>();
  /** When a task call last failed (close() stops waiting for a Redis that keeps refusing). */
  private lastCallError = 0;
  /** When a task call last came back (answered or failed): close() stops waiting for a Redis that has gone silent. */
  private lastCallEnd = 0;
  private kickQueued = false;
  /** ctx.progress of every task: records the value (best effort: a Redis outage must not fail the task). */
  private readonly progressReporter: ProgressReporter = async (progressKey, id, run, value) => {
    run.progress = true;
    // On the connection of the task calls, when there is one: Redis then runs it before the
    // finish that follows it, which clears it (on two connections it could come after, and stay).
    const json = JSON.stringify(value ?? null);
    const write = this.link?.status === 'ready' ? this.link.call(['HSET', progressKey, id, json]) : this.untilClosed(this.client.hset(progressKey, id, json));
    await write.catch((err: unknown) => this.report(err));
  };
  /** The rejecters of the calls in flight, run when the connection closes (see untilClosed). */
  private readonly onClose = new Set<() => void>();
  private idle = false;
  private idleWakes: Array<() => void> = [];
  private rr = 0;
  private seq = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueAt = 0;
  /**
   * The queues that share a heartbeat and a blocking wait: all of them on one server; one each on
   * a Redis Cluster, where each queue lives on its own node and one node that is down must not
   * hold back the others.
   */
  private readonly groups: string[][];
  /** Groups whose heartbeat is in flight, and those that asked for another meanwhile. */
  private readonly ticking = new Set<string[]>();
  private readonly tickAgain = new Set<string[]>();
  private readonly startedAt = Date.now();
  private readonly defaultTimeoutMs: number | undefined;
  private readonly timeoutGraceMs: number;
  private slotWaiters: Array<() => void> = [];
  private blockLoopDone: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly scheduler: Scheduler | undefined;

  constructor(
    queues: string | string[],
    private readonly handler: Handler<T, R>,
    opts: WorkerOptions = {},
  ) {
    super();
    this.queues = (Array.isArray(queues) ? queues : [queues]).map(validateQueueName);
    if (this.queues.length === 0) throw new Error('a worker needs at least one queue');
    this.keys = new Map(this.queues.map((q) => [q, queueKeys(q)]));
    this.concurrency = opts.concurrency ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new Error(`invalid concurrency ${opts.concurrency}`);
    this.defaultTimeoutMs = opts.defaultTimeoutMs;
    this.timeoutGraceMs = opts.timeoutGraceMs ?? 10_000;
    this.spinUs = opts.spin ?? 500;
    if (!(Number.isInteger(this.spinUs) && this.spinUs >= 0 && this.spinUs <= SPIN_HOLD_MS * 1000)) throw new Error(`invalid spin ${opts.spin}: from 0 to ${SPIN_HOLD_MS * 1000} µs`);
    // Timers wait at most MAX_TIMER_MS; a longer one would fire at once.
    if (this.defaultTimeoutMs !== undefined && !(Number.isInteger(this.defaultTimeoutMs) && this.defaultTimeoutMs > 0 && this.defaultTimeoutMs <= MAX_TIMER_MS)) {
      throw new Error(`invalid defaultTimeoutMs ${this.defaultTimeoutMs}: from 1 to ${MAX_TIMER_MS} ms`);
    }
    if (!(this.timeoutGraceMs >= 0 && this.timeoutGraceMs <= MAX_TIMER_MS)) throw new Error(`invalid timeoutGraceMs ${this.timeoutGraceMs}: from 0 to ${MAX_TIMER_MS} ms`);
    // Calls in flight: one per two slots, at least two and at most five. At c=10, interleaved
    // A/Bs gave 76k tasks/s with two lanes, 94k with three, 110k with four and 111k with five,
    // for 6.8, 7.0, 7.1 and 7.4 µs of Redis CPU per task (docs/BENCHMARKS.md).
    this.lanes = this.concurrency > 1 ? Math.min(5, Math.max(2, Math.ceil(this.concurrency / 2))) : 1;
    this.laneSize = Math.ceil(this.concurrency / this.lanes);
    this.leaseMs = opts.leaseMs ?? 5000;
    if (!(this.leaseMs >= 100)) throw new Error(`invalid lease ${opts.leaseMs}: at least 100 ms`);
    this.id = opts.workerId ?? `${hostname().replace(/[^A-Za-z0-9-]/g, '').slice(0, 20) || 'w'}-${process.pid}-${randomBytes(3).toString('hex')}`;
    if (!/^[A-Za-z0-9-]+$/.test(this.id)) throw new Error(`invalid worker id ${this.id}: letters, digits and '-' only`);
    this.url = resolveRedisUrl(opts.connection);
    this.client = createRedis(this.url, {
      name: `redtask:worker:${this.id}`,
      onWaiting: (attempt, delay, err) => this.emit('waiting', attempt, delay, err),
      resendUnanswered: false,
    });
    registerScripts(this.client);
    const target = linkTarget(this.client, `redtask:worker:${this.id}:tasks`);
    if (target) {
      this.link = new TaskLink(target);
      this.link.on('ready', () => this.kick());
      // While the client is away too, its 'waiting' events tell of the outage.
      this.link.on('error', (err: Error) => {
        if (this.client.status === 'ready') this.report(new Error(`task connection: ${err.message}`));
      });
      // Redis refused its handshake although the client got in: the task calls go through the client.
      this.link.on('refused', (err: Error) => {
        this.link = undefined;
        this.waitLink?.end();
        this.waitLink = undefined;
        this.report(new Error(`task connection refused, using the main connection: ${err.message}`));
        this.kick();
      });
      if (this.queues.length === 1) {
        this.waitLink = new TaskLink({ ...target, name: `redtask:worker:${this.id}:block` });
        // The task connection reports trouble; this one just falls back to the ioredis wait.
        this.waitLink.on('error', () => undefined);
        this.waitLink.on('refused', () => {
          this.waitLink = undefined;
        });
      }
    }
    this.groups = isCluster(this.client) ? this.queues.map((q) => [q]) : [this.queues];
    this.client.on('ready', () => this.kick());
    // One listener for all the calls in flight (see untilClosed).
    this.client.on('close', () => {
      const waiting = [...this.onClose];
      this.onClose.clear();
      for (const reject of waiting) reject();
    });
    if (opts.schedules !== false) {
      this.scheduler = new Scheduler(this.url, this.queues, {
        name: `redtask:worker:${this.id}:scheduler`,
        onError: (err) => this.report(err),
        onFire: (queue, schedule, due, id) => this.emit('scheduled', queue, schedule, due, id),
      });
    }
  }

  /** The URL with its password hidden. */
  get safeUrl(): string {
    return redactUrl(this.url);
  }

  /** Number of tasks running now. */
  get active(): number {
    return this.running.size;
  }

  /** Connects (waiting for Redis as long as it takes) and starts taking tasks. */
  async start(): Promise<void> {
    await this.client.connect().catch(() => undefined);
    while (this.client.status !== 'ready') {
      if (this.closing) return;
      await sleep(100);
    }
    if (this.closing) return;
    try {
      await checkDatabase(this.client, this.url);
    } catch (err) {
      await this.close(0).catch(() => undefined);
      throw err;
    }
    // The first task calls wait (briefly) for the link, so that a task's progress report and its
    // finish take the same connection from the start (see the progress reporter).
    this.link?.connect();
    this.waitLink?.connect();
    if (this.link) await this.link.waitReady(2000);
    if (this.closing) return;
    this.accepting = true;
    this.checkEviction().catch(() => undefined);
    // One blocking pop per group waits on its queues' markers (see groups).
    this.blockLoopDone = Promise.all(this.groups.map((g) => this.blockLoop(g))).then(() => undefined);
    await this.tick();
    this.scheduleTick();
    this.scheduleStats();
    this.scheduler?.start();
    this.emit('ready');
    this.kick();
  }

  private async checkEviction(): Promise<void> {
    const res = (await this.client.config('GET', 'maxmemory-policy')) as string[];
    const policy = res[1];
    if (policy && policy !== 'noeviction') {
      this.emit('warning', `Redis maxmemory-policy is ${policy}: under memory pressure Redis may evict tasks; set it to noeviction`);
    }
  }

  /**
   * The worker's client does not re-send a call whose reply a disconnect lost (it could not know
   * whether Redis ran it), and ioredis then never settles that call. This settles it with an
   * error when the connection closes, so the caller can retry it in a way that is safe.
   */
  private untilClosed<V>(p: Promise<V>): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const onClose = () => reject(new Error('connection to Redis lost before the reply arrived'));
      this.onClose.add(onClose);
      p.then(
        (v) => {
          this.onClose.delete(onClose);
          resolve(v);
        },
        (err: unknown) => {
          this.onClose.delete(onClose);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** 'error' events go to listeners only: an unlistened one must not crash the process. */
  private report(err: unknown): void {
    if (!this.stopped && this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  private nextToken(): string {
    return `${this.id}.${(++this.seq).toString(36)}`;
  }

  /**
   * Sends task calls to Redis: each one settles what finished and leases tasks for free slots.
   * With more than one slot, several calls may be in flight (one per two slots, from two up to
   * five), each for at most its share of the slots, so that Node runs one share's tasks while
   * Redis serves the others.
   */
  private kick(): void {
    if (this.stopped) return;
    // A call made while Redis is away would wait in the client's queue and go out later with the
    // time it was made: leases that expire before they begin. The 'ready' listener kicks again.
    // (Task calls take the link when it is ready, the client otherwise: see taskCall.)
    let launched = false;
    while (this.inflight < this.lanes && this.client.status === 'ready') {
      const call = this.nextCall();
      if (!call) break;
      this.launch(call.queue, call.settles, call.want, call.retry);
      launched = true;
    }
    // A due time or close() wants a look while a queued wait holds the slots: end the wait.
    if (this.queuedWait && (!this.accepting || this.queues.some((q) => !this.empty.has(q)))) this.unblockWait();
    // The queued reserve passes a wake-up on itself (it leases as after one).
    if (this.queuedWait) this.wakePass.clear();
    else if (this.wakePass.size > 0 && this.free() <= 0) this.passWakeNow();
    if (this.inflight === 0 && !this.anyPending() && this.free() > 0 && this.queues.every((q) => this.empty.has(q))) this.setIdle();
    if (launched) this.spin();
  }

  /**
   * A wake-up this worker took but has no free slot to act on (or is closing) goes back to Redis:
   * the marker is set again, so the next idle worker wakes instead.
   */
  private passWakeNow(): void {
    const queues = [...this.wakePass];
    this.wakePass.clear();
    this.pipelined(queues, (pipe, q) => pipe.zadd(this.keys.get(q)!.marker, 0, 'm')).catch(() => undefined);
  }

  /**
   * A task call (finish or reserve): an FCALL on the link when it is ready, else through the
   * client (which also handles EVALSHA where Functions are not available). Either way a retry
   * carries the same token, so a call lost on one may be sent again on the other.
   */
  private taskCall(name: 'finish' | 'reserve', k: QueueKeys, args: LinkArg[]): Promise<unknown> {
    if (this.onLink()) {
      return fcallOn(this.link!, name, k, args).catch((err: unknown) => {
        // Refused without running (the library is missing, or Functions are not allowed): the
        // client's path loads the library or switches to EVALSHA, and runs the call.
        if (!(err instanceof LinkClosedError) && isUnranFunctionCall(err)) return this.untilClosed(runScript(this.client, name, scriptKeys[name](k), args));
        throw err;
      });
    }
    return this.untilClosed(runScript(this.client, name, scriptKeys[name](k), args));
  }

  /** Task calls go over the link now (else through the client: see taskCall). */
  private onLink(): boolean {
    return this.link?.status === 'ready' && functionsUsable(this.client);
  }

  private anyPending(): boolean {
    for (const list of this.pending.values()) if (list.length > 0) return true;
    return false;
  }

  private free(): number {
    return this.accepting ? this.concurrency - this.running.size - this.inflightWant : 0;
  }

  /** The next call worth making, queue after queue (round robin), or undefined. */
  private nextCall(): { queue: string; settles: Settlement[]; want: number; retry?: { token: string; want: number } } | undefined {
    const now = Date.now();
    const n = this.queues.length;
    for (let i = 0; i < n; i++) {
      const queue = this.queues[(this.rr + i) % n]!;
      if (now < (this.pauseUntil.get(queue) ?? 0)) continue;
      const all = this.pending.get(queue) ?? [];
      // After a failed call its token goes again, marked as a retry, with the slots it held:
      // what the lost call may have leased comes back instead of waiting for its lease to expire.
      const retry = this.retries.get(queue)?.shift();
      const want = retry ? retry.want : Math.min(this.free(), this.laneSize, MAX_BATCH);
      if (all.length === 0 && !retry && (want <= 0 || this.empty.has(queue))) continue;
      // At most MAX_BATCH settlements per call (Lua's unpack has a limit); the rest go next time.
      const settles = all.splice(0, MAX_BATCH);
      this.rr = (this.rr + i + 1) % n;
      return { queue, settles, want, retry };
    }
    return undefined;
  }

  private launch(queue: string, settles: Settlement[], want: number, retry: { token: string; want: number } | undefined): void {
    const token = retry?.token ?? this.nextToken();
    this.inflight++;
    if (!retry) this.inflightWant += want;
    this.onReply(queue, settles, want, token, this.finish(queue, settles, want, token, retry !== undefined));
  }

  /**
   * Called once kick() has launched what it could: when nothing runs and the one call in flight
   * is the task call just made, over the link, the worker has nothing to do until its reply comes,
   * so it waits for it on the socket rather than sleep and be woken (see `spin`). A reply later
   * than that (a remote or busy Redis) makes it skip the next 8 calls, 16 after another, and so
   * on up to 1,024, so that spinning in vain costs little.
   */
  private spin(): void {
    if (this.spinUs === 0 || this.inflight !== 1 || this.running.size !== 0 || !this.onLink()) return;
    if (this.spinSkip > 0) {
      this.spinSkip--;
      return;
    }
    const r = this.link!.poll(this.spinUs, SPIN_HOLD_MS);
    if (r === 'answered') this.spinLate = 0;
    else if (r === 'late') this.spinSkip = 8 << Math.min(this.spinLate++, 7);
  }

  /** Takes the reply of a task call: starts (or hands back) what it leased, or keeps it for a retry. */
  private onReply(queue: string, settles: Settlement[], want: number, token: string, call: Promise<string[]>, quiet?: (err: unknown) => boolean): Promise<void> {
    const wakes = this.wakes;
    return call.then(
      (records) => {
        this.inflight--;
        this.inflightWant -= want;
        this.lastCallEnd = Date.now();
        // Fewer than asked: the queue is empty for now, unless a wake-up came in meanwhile.
        if (records.length < want && wakes === this.wakes) this.empty.add(queue);
        else if (want > 0) this.empty.delete(queue);
        // Tasks that come back once close() began are not started: they go back to the queue
        // with the next call (close() waits for it), as if the worker had never taken them.
        for (const e of records) {
          if (this.accepting) this.startTask(queue, e, token);
          else this.handBack(queue, e, token);
        }
        this.kick();
      },
      (err: unknown) => {
        this.inflight--;
        this.lastCallEnd = Date.now();
        // The slots stay held for the retry; the settlements are sent again.
        const list = this.retries.get(queue);
        if (list) list.push({ token, want });
        else this.retries.set(queue, [{ token, want }]);
        this.pending.set(queue, [...settles, ...(this.pending.get(queue) ?? [])]);
        if (!quiet?.(err)) this.report(err);
        // This queue waits a little; the others go on (on a cluster its node alone may be down).
        this.lastCallError = Date.now();
        this.pauseUntil.set(queue, this.lastCallError + 250);
        setTimeout(() => this.kick(), 260);
      },
    );
  }

  private finish(queue: string, settles: Settlement[], want: number, token: string, retry: boolean): Promise<string[]> {
    const k = this.keys.get(queue)!;
    const now = Date.now();
    // The first call that leases after a wake-up passes it on (see rt_reserve); a reserve call
    // always does.
    const wake = (want > 0 && this.wakePass.delete(queue)) || retry;
    if (settles.length === 0) {
      return this.taskCall('reserve', k, reserveArgs(now, this.leaseMs, want, token, retry)) as Promise<string[]>;
    }
    const call = finishArgs(now, this.leaseMs, want, token, { retry, wake }, settles);
    return this.taskCall('finish', k, call.args).then((raw) => {
      const reply = finishReply(raw as string[]);
      let completed = 0;
      let failed = 0;
      call.order.forEach((s, i) => {
        const kind = s.kind[0];
        if (reply.applied(i)) {
          if (kind === 'c') completed++;
          else if (kind === 'd') failed++;
        } else if (!retry && kind !== 'q') {
          // On a retry, a refusal may just mean that the lost call applied it already.
          this.emit('lost', this.lostTask(queue, s.id));
        }
      });
      if (completed + failed > 0) {
        const counted = this.statsOf(queue, Math.floor(now / 1000));
        counted.completed += completed;
        counted.failed += failed;
      }
      return reply.records;
    });
  }

  /** Gives a leased task that was never started back to the front of its queue. */
  private handBack(queue: string, e: string, token: string): void {
    let rec: TaskRecord<T>;
    try {
      rec = decodeRecord<T>(e);
    } catch {
      // An unreadable record is dead-lettered, as when it is started.
      this.startTask(queue, e, token);
      return;
    }
    this.settle(queue, { id: rec.id, token, kind: flags('q', undefined, rec), value: '', at: 0 });
  }

  private lostTask(queue: string, id: string): Task<T> {
    return { id, queue, name: '', data: undefined as T, attempt: 0, maxAttempts: 0, publishedAt: 0, priority: 0, group: '' };
  }

  private startTask(queue: string, e: string, token: string): void {
    let rec: TaskRecord<T>;
    try {
      rec = decodeRecord<T>(e);
    } catch (err) {
      // A record we cannot read is dead-lettered at once: retrying cannot make it readable.
      const id = recordId(e)!;
      this.settle(queue, { id, token, kind: 'd', value: this.errorEntry(1, errorMessage(err)), at: 0 });
      return;
    }
    const task: Task<T> = {
      id: rec.id,
      queue,
      name: rec.name,
      data: rec.data,
      attempt: rec.made + 1,
      maxAttempts: rec.maxAttempts,
      publishedAt: rec.publishedAt,
      priority: rec.opts.p ?? 0,
      group: rec.opts.g ?? '',
    };
    if (rec.opts.sn !== undefined) task.schedule = { name: rec.opts.sn, due: rec.opts.sd ?? 0 };
    const now = Date.now();
    const run: Running<T> = { task, token, ctrl: undefined, abortReason: undefined, startedAt: now, leaseUntil: now + this.leaseMs, progress: false, released: false, finished: false, timer: undefined, rec };
    const key = `${queue}\0${rec.id}`;
    // Leased again while a stale run of it still goes (its lease was lost): that run is told so.
    const stale = this.running.get(key);
    if (stale) abortRun(stale, new TaskAbortedError('lease-lost', `task ${rec.id}: lease lost, the task was leased again`));
    this.running.set(key, run);
    const counted = this.statsOf(queue, Math.floor(now / 1000));
    (counted.waits ??= new Array<number>(WAIT_BUCKETS.length).fill(0))[waitBucket(now - rec.publishedAt)]!++;
    this.emit('started', task);
    const ctx = new TaskContext(run, this.progressReporter, this.keys.get(queue)!.progress, rec.id);
    const timeout = rec.opts.t ?? this.defaultTimeoutMs;
    if (timeout !== undefined) {
      run.timer = setTimeout(() => {
        const err = new TaskAbortedError('timeout', `timed out after ${formatDuration(timeout)}`);
        abortRun(run, err);
        // A handler that does not stop is not waited for past the grace: the attempt fails.
        run.timer = setTimeout(() => this.onFail(key, run, rec, err), this.timeoutGraceMs);
      }, Math.min(timeout, MAX_TIMER_MS)); // (a record stored before the limit was checked)
    }
    // The handler runs now; a result that is not a promise settles without a trip through the
    // microtask queue.
    let out: R | PromiseLike<R>;
    try {
      out = this.handler(task, ctx);
    } catch (err) {
      this.onFail(key, run, rec, err);
      return;
    }
    if (isPromiseLike(out)) {
      out.then(
        (result) => this.onDone(key, run, rec, result),
        (err: unknown) => this.onFail(key, run, rec, err),
      );
    } else {
      this.onDone(key, run, rec, out);
    }
  }

  /** A cancelled task is out of Redis's active set already: its outcome is dropped here. */
  private dropIfCancelled(key: string, run: Running<T>): boolean {
    if (run.abortReason?.reason !== 'cancelled') return false;
    run.finished = true;
    clearTimeout(run.timer);
    this.forget(key, run);
    this.releaseSlotWaiters();
    this.kick();
    return true;
  }

  private onDone(key: string, run: Running<T>, rec: TaskRecord<T>, result: R): void {
    if (run.released || run.finished || this.dropIfCancelled(key, run)) return;
    // Finishing after the timeout fired does not count: the attempt timed out.
    if (run.abortReason?.reason === 'timeout') {
      this.onFail(key, run, rec, run.abortReason);
      return;
    }
    let json: string;
    try {
      json = JSON.stringify(result === undefined ? null : result);
    } catch (err) {
      this.onFail(key, run, rec, new Error(`result is not serializable to JSON: ${errorMessage(err)}`));
      return;
    }
    run.finished = true;
    clearTimeout(run.timer);
    this.forget(key, run);
    this.settle(run.task.queue, { id: rec.id, token: run.token, kind: flags('c', run, rec), value: json, at: 0 });
    this.emit('completed', run.task, result, Date.now() - run.startedAt);
  }

  /** Hands a task that was stopped by close() back to the front of its queue (no attempt counted). */
  private handOver(run: Running<T>): void {
    this.settle(run.task.queue, { id: run.task.id, token: run.token, kind: flags('q', run, run.rec), value: '', at: 0 });
    this.emit('released', run.task);
  }

  private onFail(key: string, run: Running<T>, rec: TaskRecord<T>, err: unknown): void {
    if (run.released || run.finished || this.dropIfCancelled(key, run)) return;
    run.finished = true;
    clearTimeout(run.timer);
    this.forget(key, run);
    // Stopped by close(): not the task's failure.
    if (run.abortReason?.reason === 'shutdown') {
      this.handOver(run);
      return;
    }
    // After a timeout, the handler's own error (often just "aborted") says less than the timeout.
    const cause = run.abortReason?.reason === 'timeout' ? run.abortReason : err;
    const error = cause instanceof Error ? cause : new Error(String(cause));
    const attempt = rec.made + 1;
    const final = attempt >= rec.maxAttempts || error instanceof UnrecoverableError;
    const retryAt = final ? null : Date.now() + backoffDelay(decodeBackoff(rec.opts), attempt);
    this.settle(run.task.queue, {
      id: rec.id,
      token: run.token,
      kind: flags(final ? 'd' : 'r', run, rec),
      value: this.errorEntry(attempt, error.message || error.name),
      at: retryAt ?? 0,
    });
    if (retryAt !== null) this.scheduleDue(retryAt);
    this.emit('failed', run.task, error, retryAt, Date.now() - run.startedAt);
  }

  /**
   * Drops a finished run from `running`, unless the key already belongs to a newer run of the
   * same task: after a lost lease the task can be reserved here again while the stale run is
   * still going, and that stale run's end must not untrack (and stop renewing) the new one.
   */
  private forget(key: string, run: Running<T>): void {
    if (this.running.get(key) === run) this.running.delete(key);
  }

  private errorEntry(attempt: number, message: string): string {
    return JSON.stringify({ attempt, at: Date.now(), error: message.slice(0, MAX_ERROR), worker: this.id });
  }

  /** Wakes whatever waits for a slot to come free (close() waiting for running tasks). */
  private releaseSlotWaiters(): void {
    if (this.slotWaiters.length > 0) for (const w of this.slotWaiters.splice(0)) w();
  }

  private settle(queue: string, s: Settlement): void {
    const list = this.pending.get(queue);
    if (list) list.push(s);
    else this.pending.set(queue, [s]);
    this.releaseSlotWaiters();
    // Handlers that finish in the same turn of the event loop share one call (with one slot
    // there is nothing to share: go at once).
    if (this.concurrency === 1) this.kick();
    else if (!this.kickQueued) {
      this.kickQueued = true;
      setImmediate(() => {
        this.kickQueued = false;
        this.kick();
      });
    }
  }

  private setIdle(): void {
    this.idle = true;
    for (const wake of this.idleWakes.splice(0)) wake();
  }

  /** While there are free slots and nothing to take, wait on the queues' markers (no polling). */
  private async blockLoop(queues: string[]): Promise<void> {
    const markers = queues.map((q) => this.keys.get(q)!.marker);
    let blocker: Redis | undefined;
    while (!this.stopped && this.accepting) {
      if (!this.idle) {
        await new Promise<void>((r) => this.idleWakes.push(r));
        continue;
      }
      // (After a wait that popped "d", one plain wait: the reserve behind it would run at once and,
      // on a rate-limited queue, set "d" again, round after round.)
      const queued =
        queues.length === 1 && !this.plainWaitNext && this.waitLink?.status === 'ready' && this.waitLink.clientId !== undefined && this.link?.status === 'ready' && functionsUsable(this.client);
      this.plainWaitNext = false;
      if (queued && (await this.waitWithReserve(queues[0]!, this.waitLink!))) continue;
      if (!blocker) {
        // Re-sending a blocking pop after a reconnect is harmless (the marker is only a wake-up).
        blocker = duplicateClient(this.client, { connectionName: `redtask:worker:${this.id}:block`, autoResendUnfulfilledCommands: true });
        blocker.on('error', () => undefined);
        this.blockers.add(blocker);
      }
      try {
        const popped = await blocker.bzpopmin(...markers, BLOCK_SECONDS);
        // Member "d" carries the due time of a newly delayed task: set a timer, keep blocking.
        if (popped && popped[1] === 'd') {
          this.scheduleDue(Number(popped[2]));
          continue;
        }
        // This worker took the marker: its next call that leases passes the wake-up on.
        if (popped) this.wakePass.add(queues[markers.indexOf(popped[0])] ?? queues[0]!);
      } catch {
        if (this.stopped || !this.accepting) break;
        await sleep(200);
      }
      this.idle = false;
      this.wakes++;
      this.empty.clear();
      this.kick();
    }
  }

  /**
   * The idle wait of a worker of one queue: BZPOPMIN of the marker with a reserve written right
   * behind it on the same connection. Redis runs the reserve as soon as the wait ends (a wake-up,
   * the 5 s timeout, or CLIENT UNBLOCK), in the same turn of its event loop, so a task published
   * to an idle worker comes back with its wake-up instead of one round trip later. The reserve
   * takes its time from Redis's clock (it runs when the wait ends); its slots count as in flight
   * meanwhile, so whatever else would look for tasks (a due time, close()) unblocks the wait
   * instead (see unblockWait). A dropped connection makes it a lost call, retried with its token.
   */
  private async waitWithReserve(queue: string, link: TaskLink): Promise<boolean> {
    const k = this.keys.get(queue)!;
    const want = Math.min(this.free(), this.laneSize, MAX_BATCH);
    if (want <= 0) return false;
    this.idle = false;
    this.queuedWait = true;
    this.waitGen++;
    this.inflight++;
    this.inflightWant += want;
    const token = this.nextToken();
    const popped = link.call(['BZPOPMIN', k.marker, BLOCK_SECONDS]) as Promise<[string, string, string] | null>;
    // '' for now: the reserve takes Redis's clock (see reserve-1.lua).
    const reserve = fcallOn(link, 'reserve', k, reserveArgs('', this.leaseMs, want, token, false)) as Promise<string[]>;
    // Member "d" carries a due time (a delayed task, the end of a rate-limit window): a timer for
    // it, and a plain wait next (see blockLoop).
    popped.then(
      (p) => {
        if (p && p[1] === 'd') {
          this.plainWaitNext = true;
          this.scheduleDue(Number(p[2]));
        }
      },
      () => undefined,
    );
    try {
      const call = reserve.catch((err: unknown) => {
        // Refused without running (the library is missing, or Functions are not allowed): the
        // same reserve through taskCall, which loads the library or switches to EVALSHA.
        if (!(err instanceof LinkClosedError) && isUnranFunctionCall(err)) {
          return this.taskCall('reserve', k, reserveArgs(Date.now(), this.leaseMs, want, token, false)) as Promise<string[]>;
        }
        throw err;
      });
      // A wait cut off by a dropped connection is not worth an error event (the retry follows).
      await this.onReply(queue, [], want, token, call, (err) => err instanceof LinkClosedError);
    } finally {
      this.queuedWait = false;
    }
    return true;
  }

  /** Ends a queued wait now (see waitWithReserve), so that its reserve looks for tasks at once. */
  private unblockWait(tries = 0): void {
    const id = this.waitLink?.clientId;
    if (!this.queuedWait || this.unblocking || id === undefined) return;
    this.unblocking = true;
    const gen = this.waitGen;
    (this.link?.status === 'ready' ? this.link.call(['CLIENT', 'UNBLOCK', id]) : this.client.call('CLIENT', 'UNBLOCK', id)).then(
      (n) => {
        this.unblocking = false;
        // Not blocked yet (the wait had not reached Redis): try again in a moment, for this wait
        // only and not for long (its 5 s timeout ends it anyway).
        if (Number(n) === 0 && this.queuedWait && this.waitGen === gen && tries < 50) setTimeout(() => this.unblockWait(tries + 1), 2);
      },
      (err: unknown) => {
        this.unblocking = false;
        // Not allowed (an ACL without CLIENT UNBLOCK): idle workers wait the old way from now on.
        if (!(err instanceof LinkClosedError) && /NOPERM|unknown/i.test(err instanceof Error ? err.message : String(err))) {
          this.waitLink?.end();
          this.waitLink = undefined;
        }
      },
    );
  }

  /**
   * Sends commands for several queues in one pipeline; on a Redis Cluster, one pipeline per
   * queue (a queue's keys share one slot, different queues' keys need not). Replies in order.
   */
  private async pipelined(queues: string[], add: (pipe: ChainableCommander, queue: string) => void): Promise<Array<[Error | null, unknown]>> {
    if (!isCluster(this.client)) {
      const pipe = this.client.pipeline();
      for (const q of queues) add(pipe, q);
      return (await pipe.exec()) ?? [];
    }
    const parts = await Promise.all(
      queues.map((q) => {
        const pipe = this.client.pipeline();
        add(pipe, q);
        return pipe.exec();
      }),
    );
    return parts.flatMap((r) => r ?? []);
  }

  /** Heartbeat and maintenance: renews leases, recovers expired ones, promotes due tasks. */
  private async tick(): Promise<void> {
    await Promise.all(this.groups.map((g) => this.tickGroup(g)));
  }

  /** The heartbeat of one group of queues (see groups). */
  private async tickGroup(queues: string[]): Promise<void> {
    if (this.stopped) return;
    if (this.ticking.has(queues)) {
      this.tickAgain.add(queues);
      // The last heartbeat has not come back (commands wait while Redis is unreachable): a lease
      // that ran out meanwhile may already be another worker's.
      this.abortExpired(queues);
      return;
    }
    if (this.client.status !== 'ready') {
      // Renewals sent later with this time would set deadlines that have passed (see kick).
      this.abortExpired(queues);
      return;
    }
    this.ticking.add(queues);
    try {
      const now = Date.now();
      // The run each renewal was sent for: a reply about a lease must not reach a newer run of
      // the same task (re-leased to this worker under another token meanwhile).
      const sent = new Map<string, Running<T>>();
      const res = await this.untilClosed(this.pipelined(queues, (pipe, queue) => {
        const k = this.keys.get(queue)!;
        const held: string[] = [];
        for (const [key, run] of this.running) {
          if (run.task.queue !== queue) continue;
          held.push(run.task.id, run.token);
          sent.set(key, run);
        }
        const info = JSON.stringify({
          id: this.id,
          host: hostname(),
          pid: process.pid,
          queues: this.queues,
          concurrency: this.concurrency,
          running: this.running.size,
          startedAt: this.startedAt,
          version: VERSION,
          leaseMs: this.leaseMs,
        });
        pipeScript(pipe, 'extend', scriptKeys.extend(k), [now, this.leaseMs, this.id, info, ...held]);
        pipeScript(pipe, 'maintain', scriptKeys.maintain(k), [now, 1000, this.leaseMs * 3]);
      }));
      let nextDue = -1;
      queues.forEach((queue, i) => {
        const [e1, ext] = res?.[i * 2] ?? [];
        const [e2, m] = res?.[i * 2 + 1] ?? [];
        if (e1 || e2) throw e1 ?? e2;
        const [lost, cancelled] = ext as [string[], string[]];
        for (const id of lost) {
          const run = sent.get(`${queue}\0${id}`);
          // (A run that finished meanwhile is not told: its finish, on the task connection, may
          // simply have reached Redis before this heartbeat.)
          if (run && !run.finished) abortRun(run, new TaskAbortedError('lease-lost', `task ${id}: lease lost, the task was handed to another worker`));
        }
        for (const id of cancelled) {
          const run = sent.get(`${queue}\0${id}`);
          if (run && !run.abortReason && !run.finished) {
            abortRun(run, new TaskAbortedError('cancelled', `task ${id} was cancelled`));
            this.emit('cancelled', run.task);
          }
        }
        for (const [key, run] of sent) if (run.task.queue === queue && this.running.get(key) === run) run.leaseUntil = now + this.leaseMs;
        const due = (m as number[])[3]!;
        if (due >= 0 && (nextDue < 0 || due < nextDue)) nextDue = due;
        if ((m as number[])[1]! > 0 || (m as number[])[0]! > 0) this.kick();
      });
      this.scheduleDue(nextDue);
    } catch (err) {
      this.report(err);
      this.abortExpired(queues);
    } finally {
      this.ticking.delete(queues);
    }
    if (this.tickAgain.delete(queues)) void this.tickGroup(queues);
  }

  /**
   * Without Redis the leases cannot be renewed: once one has run out, another worker may
   * already run the task, so the handler is told to stop.
   */
  private abortExpired(queues: string[]): void {
    const now = Date.now();
    for (const run of this.running.values()) {
      if (now > run.leaseUntil && queues.includes(run.task.queue)) abortRun(run, new TaskAbortedError('lease-lost', `task ${run.task.id}: lease expired while Redis was unreachable`));
    }
  }

  private statsOf(queue: string, second: number): SecondStats {
    let bySecond = this.stats.get(queue);
    if (!bySecond) this.stats.set(queue, (bySecond = new Map()));
    let s = bySecond.get(second);
    if (!s) bySecond.set(second, (s = { completed: 0, failed: 0, waits: undefined }));
    return s;
  }

  /**
   * Sends what the task path counted since the last flush to the queues' stats:<second>
   * hashes (the monitor's rates and wait percentiles): the tasks completed and dead-lettered
   * per second (the second the call that settled them was sent), and the wait times (publish
   * to start) as histogram fields of the second the task started. Off the tasks' own path: just
   * after every second ends (see scheduleStats), and when the worker closes; the finish script
   * only keeps the exact totals (meta completed/failed). A worker that dies loses at most its
   * last second of these per-second counts, never a task.
   */
  private flushStats(): Promise<void> {
    if (this.stats.size === 0) return Promise.resolve();
    const stats = new Map(this.stats);
    this.stats.clear();
    return this.untilClosed(this.pipelined([...stats.keys()], (pipe, queue) => {
      for (const [second, c] of stats.get(queue)!) {
        const key = statsKey(queue, second);
        if (c.completed > 0) pipe.hincrby(key, 'completed', c.completed);
        if (c.failed > 0) pipe.hincrby(key, 'failed', c.failed);
        c.waits?.forEach((n, i) => {
          if (n > 0) pipe.hincrby(key, `w${i}`, n);
        });
        pipe.expire(key, 3600);
      }
    })).then(
      () => undefined,
      (err: unknown) => this.report(err),
    );
  }

  /**
   * Flushes the per-second counts STATS_LAG_MS after each second ends, so that a second is
   * complete in Redis soon after it ends (Queue.history reads a second as complete a little
   * later).
   */
  private scheduleStats(): void {
    if (this.stopped) return;
    this.statsTimer = setTimeout(() => {
      void this.flushStats();
      this.scheduleStats();
    }, 1000 - (Date.now() % 1000) + STATS_LAG_MS);
    this.statsTimer.unref?.();
  }

  private scheduleTick(): void {
    const every = Math.min(1000, Math.floor(this.leaseMs / 3));
    this.tickTimer = setInterval(() => void this.tick(), every);
    this.tickTimer.unref?.();
  }

  /** A one-off tick at the next lease deadline or due time, so that neither waits for the regular tick. */
  private scheduleDue(at: number): void {
    if (at < 0 || this.stopped) return;
    if (this.dueTimer && this.dueAt <= at) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    // A due time beyond what a timer can wait for wakes it early; the tick then sets it again.
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      // Something may be due now (a delayed task, the end of a rate-limit window): look again,
      // and pass the wake-up on to the next idle worker if more than this one can take is there.
      for (const q of this.queues) this.wakePass.add(q);
      this.empty.clear();
      this.kick();
      void this.tick();
    }, Math.min(Math.max(0, at - Date.now()) + 1, MAX_TIMER_MS));
  }

  /**
   * Stops taking tasks, waits up to `graceMs` for running ones, then aborts the rest and hands
   * them back to the front of their queue (no attempt is counted for them).
   */
  close(graceMs = 30_000): Promise<void> {
    this.closing ??= this.doClose(graceMs);
    return this.closing;
  }

  /** Waits until no task runs, or until `until` (ms). */
  private async whileRunning(until: number): Promise<void> {
    while (this.running.size > 0 && Date.now() < until) {
      await Promise.race([new Promise<void>((r) => this.slotWaiters.push(r)), sleep(Math.min(200, Math.max(1, until - Date.now())))]);
    }
  }

  private async doClose(graceMs: number): Promise<void> {
    // The grace counts from now. No step below waits for Redis without a limit: a server that
    // stops answering without closing the connection (frozen, or cut off by the network) must not
    // hold the shutdown, and the leases bring back whatever could not be settled.
    const until = Date.now() + graceMs;
    this.accepting = false;
    // A queued wait ends now; what its reserve leased goes back (see onReply).
    this.unblockWait();
    if (this.wakePass.size > 0) this.passWakeNow();
    await this.scheduler?.stop();
    for (const wake of this.idleWakes.splice(0)) wake();
    for (const b of this.blockers) b.disconnect();
    await this.whileRunning(until);
    // What still runs is told to stop, and handed back once its handler has returned (or thrown):
    // handed back earlier, another worker could start it while this one's still runs (an --exec
    // command gets SIGKILL only 5 s after its SIGTERM). A handler that finishes anyway completes
    // its task; one that gives up hands it back without counting an attempt (see onFail). One that
    // has not returned within timeoutGraceMs is handed back without waiting any longer.
    for (const run of this.running.values()) abortRun(run, new TaskAbortedError('shutdown', `task ${run.task.id}: worker shutting down, handed back to the queue`));
    await this.whileRunning(Date.now() + this.timeoutGraceMs);
    for (const [key, run] of this.running) {
      run.released = true;
      clearTimeout(run.timer);
      this.running.delete(key);
      this.handOver(run);
    }
    // Flush every settlement before leaving. After 5 s, give up if Redis is away, keeps refusing
    // the calls (out of memory, say) or has answered none for 5 s: the leases bring the tasks
    // back. A slow Redis that answers is waited for.
    const flushStart = Date.now();
    while (this.inflight > 0 || [...this.pending.values()].some((s) => s.length > 0)) {
      const now = Date.now();
      if (now > flushStart + 5000 && (this.client.status !== 'ready' || this.lastCallError >= flushStart || now - Math.max(this.lastCallEnd, flushStart) > 5000)) break;
      this.kick();
      await sleep(5);
    }
    // (Before `stopped`: a reply that still came would find kick() stopped and strand its tasks.)
    this.waitLink?.end();
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.statsTimer);
    clearTimeout(this.dueTimer);
    await this.blockLoopDone;
    this.link?.end();
    if (this.client.status !== 'ready') {
      this.client.disconnect();
      return;
    }
    // The last counts and the worker's entry: a second each at most (the entry expires anyway).
    await settledWithin(this.flushStats(), 1000);
    await settledWithin(this.untilClosed(this.pipelined(this.queues, (pipe, q) => pipe.zrem(this.keys.get(q)!.workers, this.id).hdel(this.keys.get(q)!.winfo, this.id))), 1000);
    await quitWithin(this.client, 1000);
  }
}
