import type { ChainableCommander, Redis } from 'ioredis';
import type { QueueKeys } from '../keys.js';
import { isCluster } from '../redis.js';
import { runScript, scriptKeys } from '../scripts.js';

/** The reply of a call that a dropped connection swallowed: Redis may or may not have run it. */
export class ReplyLostError extends Error {
  override name = 'ReplyLostError';
  constructor() {
    super('connection to Redis lost before the reply arrived');
  }
}

/**
 * One ioredis connection of the worker, made with `resendUnanswered: false` (see createRedis):
 * a call whose reply a disconnect lost is not sent again by the client, which could not know
 * whether Redis ran it, and ioredis then never settles that call. `guard` settles it with a
 * ReplyLostError when the connection closes, so the caller can retry it in a way that is safe
 * (the task calls carry a retry flag for that).
 */
export class Connection {
  private readonly unanswered = new Set<() => void>();

  constructor(readonly client: Redis) {
    client.on('close', () => {
      const waiting = [...this.unanswered];
      this.unanswered.clear();
      for (const reject of waiting) reject();
    });
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** `p`, or a ReplyLostError when the connection closes before it settles. */
  guard<V>(p: Promise<V>): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const lost = () => reject(new ReplyLostError());
      this.unanswered.add(lost);
      p.then(
        (v) => {
          this.unanswered.delete(lost);
          resolve(v);
        },
        (err: unknown) => {
          this.unanswered.delete(lost);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /**
   * Sends commands for several queues in one pipeline; on a Redis Cluster, one pipeline per
   * queue (a queue's keys share one slot, different queues' keys need not). Replies in order.
   */
  pipelined(queues: readonly string[], add: (pipe: ChainableCommander, queue: string) => void): Promise<Array<[Error | null, unknown]>> {
    const client = this.client;
    const exec = async (qs: readonly string[]) => {
      const pipe = client.pipeline();
      for (const q of qs) add(pipe, q);
      return (await pipe.exec()) ?? [];
    };
    if (!isCluster(client)) return this.guard(exec(queues));
    return this.guard(Promise.all(queues.map((q) => exec([q]))).then((parts) => parts.flat()));
  }
}

/**
 * The one way the worker makes a task call: `reserve` (lease tasks) or `finish` (settle
 * outcomes and lease the next tasks in the same round trip), on one connection. Both run as
 * Redis Functions, or with EVALSHA where Functions cannot be used (see runScript); a call
 * refused because the library is not loaded loads it and runs again.
 */
export class TaskCalls {
  constructor(readonly connection: Connection) {}

  get ready(): boolean {
    return this.connection.ready;
  }

  reserve(k: QueueKeys, args: Array<string | number>): Promise<string[]> {
    return this.connection.guard(runScript(this.connection.client, 'reserve', scriptKeys.reserve(k), args) as Promise<string[]>);
  }

  finish(k: QueueKeys, args: Array<string | number>): Promise<string[]> {
    return this.connection.guard(runScript(this.connection.client, 'finish', scriptKeys.finish(k), args) as Promise<string[]>);
  }
}
