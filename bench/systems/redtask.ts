import { Queue, Worker } from '../../src/index.js';
import { VERSION } from '../../src/shared/version.js';
import type { BenchData } from '../payload.js';
import type { BenchHandler, Connection, Producer, System, WorkerHandle, WorkerOptions } from './types.js';

/**
 * redtask as the bench uses it: Queue.addBulk (1,000 tasks per publish script call) and Worker
 * with default settings (5 s lease). The queue is configured with keepCompleted 0, because the
 * peers are configured to remove completed jobs too.
 */
export function redtaskSystem(conn: Connection): System {
  return {
    id: 'redtask',
    label: 'redtask',
    version: VERSION,
    settings: [
      'Queue.configure({ keepCompleted: 0 }): completed tasks are not retained (the peers remove completed jobs too)',
      'Queue.add / Queue.addBulk (the bench passes 1,000 tasks per call; one publish script call each)',
      'Worker defaults: leaseMs 5,000 (heartbeat every 1 s), attempts 3',
    ],
    producer(name: string): Producer {
      const q = new Queue<BenchData>(name, { connection: conn.url });
      return {
        async ready() {
          await q.configure({ keepCompleted: 0 });
        },
        async add(data) {
          await q.add(data);
        },
        async addBulk(items) {
          await q.addBulk(items.map((data) => ({ data })));
        },
        async addDelayedBulk(items) {
          await q.addBulk(items.map((data) => ({ data, opts: { runAt: data.due! } })));
        },
        async pending() {
          const c = await q.counts();
          return c.waiting + c.active + c.delayed;
        },
        snapshot() {
          return Promise.all([q.counts(), q.workers()]);
        },
        close: () => q.close(),
      };
    },
    async worker(name: string, handler: BenchHandler, opts: WorkerOptions): Promise<WorkerHandle> {
      const w = new Worker<BenchData>(name, (task) => handler(task.data), { connection: conn.url, concurrency: opts.concurrency });
      w.on('error', (err) => console.error(`redtask worker error: ${err.message}`));
      await w.start();
      return { close: () => w.close(2000) };
    },
  };
}
