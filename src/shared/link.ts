import { EventEmitter } from 'node:events';
import { readSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import Parser from 'redis-parser';
import type { Redis } from 'ioredis';
import { isCluster } from './redis.js';

/**
 * Where a TaskLink connects, and as whom: the same server, user and database as the worker's
 * ioredis client.
 */
export interface LinkTarget {
  host: string;
  port: number;
  /** The address family to resolve the host to, as ioredis's `family` (0: either). */
  family?: number;
  /** A Unix socket path (redis+unix is not a URL form redtask takes, but ioredis options may carry one). */
  path?: string;
  username?: string;
  password?: string;
  db: number;
  /** The name CLIENT LIST shows. */
  name: string;
}

export type LinkArg = string | number;

/** Redis's answers to AUTH when it has no password to check (ioredis goes on after them too). */
const NO_PASSWORD_SET = /no password is set|without any password configured/i;
/** Handshake errors of a state that passes: connect again later, as after a drop. */
const PASSING = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN)\b|max number of clients/;

/** The size of the read buffer (as libuv's own reads). */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * When the first poll() of this turn of the event loop began (performance.now()), or 0: the
 * polls of every link in the process, one after the other in the same turn, stop at maxHoldMs
 * from it. The check phase, which comes after the turn's I/O callbacks, resets it.
 */
let pollsSince = 0;
function endPolls(): void {
  pollsSince = 0;
}

/** Rejects a call whose reply the connection lost: the caller cannot know whether Redis ran it. */
export class LinkClosedError extends Error {
  constructor(message = 'connection to Redis lost before the reply arrived') {
    super(message);
    this.name = 'LinkClosedError';
  }
}

/**
 * The target of a TaskLink for this client, or undefined when the link cannot stand in for it:
 * a Redis Cluster (calls go to the node of their slot), Sentinel (the master moves), or TLS.
 * Those keep making their task calls through ioredis.
 */
export function linkTarget(client: Redis, name: string): LinkTarget | undefined {
  if (isCluster(client)) return undefined;
  const o = client.options;
  if (o.sentinels || o.tls) return undefined;
  return { host: o.host || '127.0.0.1', port: o.port || 6379, family: o.family || undefined, path: o.path || undefined, username: o.username || undefined, password: o.password ?? undefined, db: o.db || 0, name };
}

interface Call {
  resolve(reply: unknown): void;
  reject(err: Error): void;
}

/**
 * The worker's own connection for its task calls (finish and reserve): a lean RESP2 client that
 * writes each call as one string and reads replies with redis-parser (the parser ioredis uses).
 * At one task per call the task path is one round trip per task, and ioredis's per-command work
 * (its Command object, argument conversion, queues and promise chain) was a large part of Node's
 * CPU per task: see docs/BENCHMARKS.md.
 *
 * It keeps none of ioredis's recovery: a call it cannot answer is rejected (LinkClosedError when
 * the connection closed with it unanswered; the worker then retries it safely, see Worker.launch),
 * a call made while it is not ready is rejected at once, and it reconnects with backoff until
 * end(). Events: 'ready' after each connect and handshake (AUTH, SELECT, CLIENT SETNAME),
 * 'error' for a failed connect, 'refused' (and the link ends) when Redis answers AUTH or SELECT
 * with an error that does not pass.
 */
export class TaskLink extends EventEmitter {
  status: 'idle' | 'connecting' | 'ready' | 'end' = 'idle';
  /** CLIENT ID of the current connection (for CLIENT UNBLOCK from another one). */
  clientId: number | undefined;
  private socket: Socket | undefined;
  private readonly calls: Call[] = [];
  private readonly parser: Parser;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Where the socket reads to (see connect): reused while the parser holds no part of it. */
  private readBuffer: Buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /**
   * Where poll() reads to: never the buffer libuv holds for its next read (it takes that one
   * from nextReadBuffer right after each read callback), which would overwrite the part of a
   * reply that a poll read and the parser keeps until the rest comes.
   */
  private pollBuffer: Buffer | undefined;

  constructor(private readonly target: LinkTarget, private readonly connectTimeoutMs = 5000) {
    super();
    this.parser = new Parser({
      returnReply: (reply: unknown) => this.calls.shift()?.resolve(reply),
      returnError: (err: Error) => this.calls.shift()?.reject(err),
      // The stream cannot be read any further: drop the connection (its calls are rejected).
      returnFatalError: (err: Error) => this.socket?.destroy(err),
    });
  }

  /** Connects (again, after a drop, with backoff) until end() is called. */
  connect(): void {
    if (this.status !== 'idle') return;
    this.status = 'connecting';
    const t = this.target;
    // Replies are read into a buffer of our own and handed to the parser from the read callback
    // (`onread`), not through the stream's 'data' events: no buffer allocated per read and none
    // of the stream's work, about 3 us of CPU less per round trip (docs/BENCHMARKS.md).
    const onread = {
      buffer: () => this.nextReadBuffer(),
      callback: (n: number, buf: Buffer) => {
        this.feed(buf, n);
        return true;
      },
    };
    const socket = t.path ? connect({ path: t.path, onread }) : connect({ host: t.host, port: t.port, family: t.family, onread });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // Until the handshake is answered: a proxy that accepts but never forwards must not hold the
    // link in 'connecting' for good.
    const timer = setTimeout(() => socket.destroy(new Error(`connect to Redis timed out after ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
    socket.on('error', (err) => {
      if (this.status !== 'end') this.emit('error', err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      this.onClose(socket);
    });
    socket.once('connect', () => {
      this.handshake().then(
        () => {
          clearTimeout(timer);
          if (this.socket !== socket || this.status === 'end') return;
          this.attempts = 0;
          this.status = 'ready';
          this.emit('ready');
        },
        (err: unknown) => {
          clearTimeout(timer);
          const e = err instanceof Error ? err : new Error(String(err));
          // Redis answered the handshake with an error that trying again would not mend (a
          // password it does not take, a database it does not have), while the client's own
          // connection got through with the same settings: the owner stops using the link.
          // Passing states (loading, busy, too many clients) are tried again, like a drop.
          if (!(err instanceof LinkClosedError) && !PASSING.test(e.message) && this.socket === socket && this.status !== 'end') {
            this.end();
            this.emit('refused', e);
            return;
          }
          socket.destroy(e);
        },
      );
    });
  }

  /**
   * AUTH as ioredis does it (a user with an empty password too; a server without a password
   * answering AUTH is not an error), SELECT, and the name (which, as for ioredis, may be refused
   * without harm).
   */
  private handshake(): Promise<unknown> {
    const t = this.target;
    const steps: Array<Promise<unknown>> = [];
    const auth = t.username ? ['AUTH', t.username, t.password ?? ''] : t.password ? ['AUTH', t.password] : undefined;
    if (auth) steps.push(this.send(auth).catch((err: Error) => (NO_PASSWORD_SET.test(err.message) ? 'OK' : Promise.reject(err))));
    if (t.db !== 0) steps.push(this.send(['SELECT', t.db]));
    steps.push(this.send(['CLIENT', 'SETNAME', t.name]).catch(() => 'OK'));
    this.clientId = undefined;
    steps.push(
      this.send(['CLIENT', 'ID']).then(
        (id) => (this.clientId = Number(id)),
        () => undefined,
      ),
    );
    return Promise.all(steps);
  }

  /**
   * The buffer for the next read: the same one again, unless the parser kept a view of it (a
   * reply that has not arrived whole yet: it keeps the unparsed rest, or the first piece of a
   * long string, as the buffer it was given), which the next read must not overwrite.
   */
  private nextReadBuffer(): Buffer {
    this.readBuffer = this.unheld(this.readBuffer);
    return this.readBuffer;
  }

  /** `buf`, or a new buffer when the parser still holds a view of it. */
  private unheld(buf: Buffer | undefined): Buffer {
    const p = this.parser;
    const mem = buf?.buffer;
    if (!buf || p.buffer?.buffer === mem || p.bufferCache.some((b) => b.buffer === mem)) return Buffer.allocUnsafe(READ_BUFFER_BYTES);
    return buf;
  }

  /** Hands what was read to the parser, which answers the calls whose replies are whole. */
  private feed(buf: Buffer, n: number): void {
    // The rest of a long string comes as it is read, and the parser keeps each piece until the
    // string is whole: a copy of its size, not a view that holds a whole read buffer.
    const chunk = buf.subarray(0, n);
    this.parser.execute(this.parser.bigStrSize > 0 ? Buffer.from(chunk) : chunk);
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.parser.reset();
    const lost = this.calls.splice(0);
    for (const c of lost) c.reject(new LinkClosedError());
    if (this.status === 'end') return;
    this.status = 'idle';
    const delay = Math.min(100 * 2 ** Math.min(this.attempts++, 6), 5000);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Resolves true once the link is ready, or false after `ms` (or when it ends). */
  waitReady(ms: number): Promise<boolean> {
    if (this.status === 'ready') return Promise.resolve(true);
    if (this.status === 'end') return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('refused', onRefused);
        resolve(ok);
      };
      const onReady = () => done(true);
      const onRefused = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      this.on('ready', onReady);
      this.on('refused', onRefused);
    });
  }

  /** Sends one command; rejected at once unless the link is ready. */
  call(args: readonly LinkArg[]): Promise<unknown> {
    if (this.status !== 'ready') return Promise.reject(new LinkClosedError('connection to Redis not ready'));
    return this.send(args);
  }

  private send(args: readonly LinkArg[]): Promise<unknown> {
    let out = `*${args.length}\r\n`;
    for (const a of args) {
      const s = typeof a === 'string' ? a : String(a);
      out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    }
    return new Promise((resolve, reject) => {
      this.calls.push({ resolve, reject });
      this.socket!.write(out);
    });
  }

  /**
   * Waits for the replies of the calls in flight by reading the socket here, synchronously,
   * instead of going back to the event loop to be woken when they come (on a virtual machine
   * that wake-up can cost more than Redis's work: see the worker's `spin` option). It reads for
   * at most `us` microseconds, and not past `maxHoldMs` after the first poll of this turn of the
   * event loop (by any link), so that a chain of calls and polled replies leaves the loop to its
   * timers and other I/O that often.
   * 'answered': every call in flight has its reply (their promises are settled; their callbacks
   * run as the caller's stack unwinds). 'late': `us` ran out first. 'skipped': it stopped for
   * another reason, or did not start: the hold limit, no call in flight, a write still queued,
   * no file descriptor (as on Windows), the end of the stream (left for libuv, which reads it
   * again), or a read error (the socket is destroyed with it, as libuv would). Whatever is not
   * answered here comes through the event loop as usual.
   */
  poll(us: number, maxHoldMs: number): 'answered' | 'late' | 'skipped' {
    const socket = this.socket;
    if (!socket || this.status !== 'ready' || this.calls.length === 0 || socket.writableLength > 0) return 'skipped';
    const start = performance.now();
    if (pollsSince === 0) {
      pollsSince = start;
      setImmediate(endPolls);
    }
    const holdUntil = pollsSince + maxHoldMs;
    if (start >= holdUntil) return 'skipped';
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return 'skipped';
    const lateAt = start + us / 1000;
    const until = Math.min(lateAt, holdUntil);
    for (;;) {
      const buf = (this.pollBuffer = this.unheld(this.pollBuffer));
      // -1: nothing to read yet (EAGAIN); 0: the end of the stream.
      let n = -1;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          // libuv would not see this error again (its next read gets the end of the stream).
          socket.destroy(err as Error);
          return 'skipped';
        }
      }
      if (n === 0) return 'skipped';
      if (n > 0) {
        this.feed(buf, n);
        if (this.calls.length === 0) return 'answered';
        // A fatal parser error destroyed the socket (and closed the descriptor).
        if (this.socket !== socket || socket.destroyed) return 'skipped';
      }
      const now = performance.now();
      if (now >= until) return now >= lateAt ? 'late' : 'skipped';
    }
  }

  /** Closes the connection for good; calls still waiting are rejected. */
  end(): void {
    if (this.status === 'end') return;
    this.status = 'end';
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (!socket) return;
    // QUIT lets the calls before it be answered; the socket goes once they are.
    socket.end(`*1\r\n$4\r\nQUIT\r\n`);
    this.calls.push({ resolve: () => socket.destroy(), reject: () => socket.destroy() });
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
