import { createRequire } from 'node:module';
import { Queue, Worker } from 'bullmq';
import type { BenchData } from '../payload.js';
import type { BenchHandler, Connection, Producer, System, WorkerHandle, WorkerOptions } from './types.js';

const require = createRequire(import.meta.url);
const VERSION = (require('bullmq/package.json') as { version: string }).version;

/**
 * BullMQ with the settings its production guide recommends for this kind of load:
 * removeOnComplete (completed jobs are deleted, as redtask's keepCompleted 0 does), workers on
 * connections with maxRetriesPerRequest null, everything else default (lockDuration 30 s,
 * stalledInterval 30 s, drainDelay 5 s, events stream capped at ~10,000 entries).
 */
export function bullmqSystem(conn: Connection): System {
  const connection = { host: conn.host, port: conn.port };
  return {
    id: 'bullmq',
    label: 'BullMQ',
    version: VERSION,
    settings: [
      'Queue defaultJobOptions: { removeOnComplete: true, removeOnFail: 1000 } (completed jobs are deleted, like redtask keepCompleted 0)',
      'Queue.addBulk with 1,000 jobs per call (one MULTI of 1,000 addStandardJob script calls)',
      'Worker defaults otherwise: lockDuration 30 s, stalledInterval 30 s, maxStalledCount 1, drainDelay 5 s; worker connection maxRetriesPerRequest: null',
    ],
    producer(name: string): Producer {
      const q = new Queue<BenchData>(name, {
        connection,
        defaultJobOptions: { removeOnComplete: true, removeOnFail: 1000 },
      });
      q.on('error', (err) => console.error(`BullMQ queue error: ${err.message}`));
      return {
        async ready() {
          await q.waitUntilReady();
        },
        async add(data) {
          await q.add('t', data);
        },
        async addBulk(items) {
          await q.addBulk(items.map((data) => ({ name: 't', data })));
        },
        async addDelayedBulk(items) {
          // timestamp + delay is the due time BullMQ stores; passing both makes it exactly data.due.
          const timestamp = Date.now();
          await q.addBulk(items.map((data) => ({ name: 't', data, opts: { timestamp, delay: Math.max(0, data.due! - timestamp) } })));
        },
        async pending() {
          const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
          return Object.values(c).reduce((a, b) => a + b, 0);
        },
        snapshot() {
          return Promise.all([q.getJobCounts(), q.getWorkers()]);
        },
        close: () => q.close(),
      };
    },
    async worker(name: string, handler: BenchHandler, opts: WorkerOptions): Promise<WorkerHandle> {
      const w = new Worker<BenchData>(
        name,
        async (job) => {
          await handler(job.data);
        },
        { connection: { ...connection, maxRetriesPerRequest: null }, concurrency: opts.concurrency },
      );
      w.on('error', (err) => console.error(`BullMQ worker error: ${err.message}`));
      await w.waitUntilReady();
      return { close: () => w.close() };
    },
  };
}
