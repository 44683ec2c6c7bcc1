import { createRequire } from 'node:module';
import BeeQueue from 'bee-queue';
import type { BenchData } from '../payload.js';
import type { BenchHandler, Connection, Producer, System, WorkerHandle, WorkerOptions } from './types.js';

const require = createRequire(import.meta.url);
const VERSION = (require('bee-queue/package.json') as { version: string }).version;

/** How often the worker runs Bee-Queue's stalled-job check (its README leaves this to the user). */
const STALL_CHECK_MS = 5000;

/**
 * Bee-Queue as its README recommends for a fire-and-forget pipeline: producers with
 * isWorker false, nobody subscribes to job events (getEvents/sendEvents false, storeJobs false),
 * workers remove succeeded jobs (removeOnSuccess), saveAll for bulk adds, and a worker that runs
 * checkStalledJobs every stallInterval (5 s, the default) so that stalled jobs are retried.
 */
export function beeQueueSystem(conn: Connection): System {
  const redis = { host: conn.host, port: conn.port };
  const common = { redis, getEvents: false, sendEvents: false, storeJobs: false };
  return {
    id: 'beequeue',
    label: 'Bee-Queue',
    version: VERSION,
    settings: [
      'producer: { isWorker: false, getEvents: false, sendEvents: false, storeJobs: false }',
      'worker: { removeOnSuccess: true, getEvents: false, sendEvents: false, storeJobs: false }, checkStalledJobs every 5 s (stallInterval default 5 s)',
      'bulk adds: Queue.saveAll with 1,000 jobs per call (pipelined)',
      'delayed tasks: Job.delayUntil, worker with activateDelayedJobs: true (default delayedDebounce 1 s kept)',
    ],
    producer(name: string): Producer {
      const q = new BeeQueue<BenchData>(name, { ...common, isWorker: false, activateDelayedJobs: false });
      q.on('error', (err) => console.error(`Bee-Queue error: ${err.message}`));
      const saveAll = async (jobs: BeeQueue.Job<BenchData>[]) => {
        const errors = await q.saveAll(jobs);
        if (errors.size > 0) throw [...errors.values()][0]!;
      };
      return {
        async ready() {
          await q.ready();
        },
        async add(data) {
          await q.createJob(data).save();
        },
        addBulk: (items) => saveAll(items.map((d) => q.createJob(d))),
        addDelayedBulk: (items) => saveAll(items.map((d) => q.createJob(d).delayUntil(d.due!))),
        async pending() {
          const h = await q.checkHealth();
          return h.waiting + h.active + h.delayed;
        },
        // Bee-Queue keeps no registry of workers: the health check is the whole monitor query.
        snapshot: () => q.checkHealth(),
        close: () => q.close(5000),
      };
    },
    async worker(name: string, handler: BenchHandler, opts: WorkerOptions): Promise<WorkerHandle> {
      const q = new BeeQueue<BenchData>(name, {
        ...common,
        isWorker: true,
        removeOnSuccess: true,
        activateDelayedJobs: opts.delayed === true,
      });
      q.on('error', (err) => console.error(`Bee-Queue worker error: ${err.message}`));
      await q.ready();
      q.process(opts.concurrency, async (job: BeeQueue.Job<BenchData>) => {
        await handler(job.data);
      });
      void q.checkStalledJobs(STALL_CHECK_MS).catch(() => undefined);
      return { close: () => q.close(5000) };
    },
  };
}
