import { scriptError, UsageError } from '../errors.js';
import { inRange, SETTING } from '../options.js';
import { runScript, scriptKeys } from '../scripts.js';
import { findWaiting } from './inspector.js';
import type { QueueContext, QueueSettings, TaskState } from './types.js';

/**
 * Admin: what an operator does to a queue's tasks and settings: pause and resume the queue,
 * cancel, retry, delete and purge tasks (each change one Lua script, which re-checks the task's
 * state atomically), and configure the queue's settings.
 */
export class Admin {
  constructor(private readonly q: QueueContext) {}

  /** Workers stop taking this queue's tasks; running ones finish. Publishing still works. */
  async pause(): Promise<void> {
    await this.q.client.hset(this.q.keys.config, 'paused', 1);
  }

  /** Workers take this queue's tasks again (idle ones are woken at once). */
  async resume(): Promise<void> {
    await this.q.client.multi().hdel(this.q.keys.config, 'paused').zadd(this.q.keys.marker, 0, 'm').exec();
  }

  /**
   * Cancels a waiting, delayed or running task: it is never retried and shows as cancelled.
   * A running task's handler gets its AbortSignal (an --exec command is killed) at its worker's
   * next heartbeat. Resolves to the state it was cancelled from, or null when it was in none
   * (unknown, finished or cancelled already).
   */
  async cancel(id: string): Promise<'waiting' | 'delayed' | 'active' | null> {
    const cancel = (record: string) => runScript(this.q.client, 'cancel', scriptKeys.cancel(this.q.keys), [Date.now(), id, record]) as Promise<string>;
    let res = await cancel('');
    // Maybe a plain waiting task: find its exact record in the list, then remove exactly that.
    // When it left the list meanwhile (a worker took it), the second call finds it where it is.
    if (!res) res = await cancel((await findWaiting(this.q, id)) ?? '');
    return res ? (res as 'waiting' | 'delayed' | 'active') : null;
  }

  /**
   * Sends dead-lettered or cancelled tasks back to the queue with a fresh set of attempts (their
   * error history is kept). Resolves to how many were sent back.
   */
  async retry(ids: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      n += Number(await runScript(this.q.client, 'retry', scriptKeys.retry(this.q.keys), [Date.now(), ...ids.slice(i, i + 1000)]));
    }
    return n;
  }

  /**
   * Sends every task that is dead-lettered when it is called back to the queue (see retry), each
   * once: a task that a running worker dead-letters again meanwhile stays dead.
   */
  async retryAllDead(): Promise<number> {
    return this.retry(await this.idsIn(this.q.keys.dead));
  }

  /**
   * The ids in one of the queue's sorted sets when it is called, read first (before anything is
   * done with them) a page at a time by score, up to the highest score at the start. Paging by
   * score, not by rank, means that members removed or added meanwhile do not shift the pages;
   * `skip` steps over the ids already read at the page's first score.
   */
  private async idsIn(z: string): Promise<string[]> {
    const [, top] = await this.q.client.zrange(z, -1, -1, 'WITHSCORES');
    if (top === undefined) return [];
    const ids: string[] = [];
    let from = '-inf';
    let skip = 0;
    for (;;) {
      const page = await this.q.client.zrangebyscore(z, from, top, 'WITHSCORES', 'LIMIT', skip, 1000);
      if (page.length === 0) break;
      for (let i = 0; i < page.length; i += 2) ids.push(page[i]!);
      const last = page[page.length - 1]!;
      let same = 0;
      for (let i = page.length - 1; i > 0 && page[i] === last; i -= 2) same++;
      skip = last === from ? skip + same : same;
      from = last;
      if (page.length < 2000) break;
    }
    return ids;
  }

  /**
   * Deletes a task that is not running (waiting, delayed, completed, dead or cancelled), with
   * everything kept about it. Resolves to the state it was deleted from, or null. Throws a
   * UsageError when it is running.
   */
  async delete(id: string): Promise<TaskState | null> {
    const remove = (record: string) => runScript(this.q.client, 'remove', scriptKeys.remove(this.q.keys), ['task', id, record]) as Promise<string>;
    let res = await remove('');
    // Maybe a plain waiting task: find its exact record in the list, then remove exactly that;
    // when it left the list meanwhile (a worker took it), the second call says where it is now.
    if (!res) {
      const record = await findWaiting(this.q, id);
      res = await remove(record ?? '');
    }
    if (res === 'active') throw new UsageError(`${this.q.name}#${id} is running: cancel it first`);
    return res ? (res as TaskState) : null;
  }

  /**
   * Deletes every task that is in one state when it is called and is not running; resolves to
   * how many. Tasks that a worker takes or that change state meanwhile are left alone.
   */
  async purge(state: Exclude<TaskState, 'active'>): Promise<number> {
    const k = this.q.keys;
    const run = (args: string[]) =>
      runScript(this.q.client, 'remove', scriptKeys.remove(k), args).then(Number, (err: unknown) => {
        throw scriptError(err, { queue: this.q.name });
      });
    let n = 0;
    if (state === 'waiting') n += await run(['list']);
    const sets = state === 'waiting' ? [k.prio, k.groups] : [{ delayed: k.delayed, completed: k.completed, dead: k.dead, cancelled: k.cancelled }[state]];
    for (const z of sets) {
      const ids = await this.idsIn(z);
      for (let i = 0; i < ids.length; i += 1000) n += await run([state, ...ids.slice(i, i + 1000)]);
    }
    return n;
  }

  /** Changes this queue's settings, for every worker and publisher. */
  async configure(settings: QueueSettings): Promise<void> {
    const entries = Object.entries(settings).filter(([, v]) => v !== undefined);
    for (const [key, v] of entries) inRange(SETTING, v, key);
    if (settings.rateMax && !settings.rateWindowMs && !(await this.q.client.hget(this.q.keys.config, 'rateWindowMs'))) {
      throw new UsageError('rateMax needs rateWindowMs (the window it counts in)');
    }
    if (settings.groupRateMax && !settings.groupRateWindowMs && !(await this.q.client.hget(this.q.keys.config, 'groupRateWindowMs'))) {
      throw new UsageError('groupRateMax needs groupRateWindowMs (the window it counts in)');
    }
    if (entries.length) await this.q.client.hset(this.q.keys.config, Object.fromEntries(entries) as Record<string, number>);
  }
}
