import type { BenchData } from '../payload.js';

/** `redtask-base` is a second redtask build, benchmarked beside this one (`--baseline <dir>`). */
export type SystemId = 'redtask' | 'redtask-base' | 'bullmq' | 'beequeue';

/** Called at the start of each task; the adapter awaits what it returns. */
export type BenchHandler = (data: BenchData) => void | Promise<void>;

export interface ProducerOptions {
  /** The producer will add delayed tasks (Bee-Queue needs nothing special on the producer side). */
  delayed?: boolean;
}

export interface WorkerOptions {
  concurrency: number;
  /** The worker must promote delayed tasks (Bee-Queue: activateDelayedJobs). */
  delayed?: boolean;
}

/** The producer/inspector side of one queue. */
export interface Producer {
  /** Connects and does whatever one-time set-up the system needs (no tasks added). */
  ready(): Promise<void>;
  /** Adds one task and resolves once the system confirmed it. */
  add(data: BenchData): Promise<void>;
  /** Adds up to 1,000 tasks with the system's bulk call (one round trip or pipeline). */
  addBulk(items: BenchData[]): Promise<void>;
  /** Adds up to 1,000 tasks, each to run at its `due` time (ms since epoch), with the bulk call. */
  addDelayedBulk(items: BenchData[]): Promise<void>;
  /** Tasks not yet finished according to Redis: waiting + active + delayed. */
  pending(): Promise<number>;
  /** The query behind a monitor screen: counts of every state plus the live workers. */
  snapshot(): Promise<unknown>;
  close(): Promise<void>;
}

export interface WorkerHandle {
  /** Stops taking tasks and closes its connections. */
  close(): Promise<void>;
}

/** One benchmarked system, behind the interface every workload uses. */
export interface System {
  id: SystemId;
  label: string;
  version: string;
  /** What was configured and why, for the report. */
  settings: string[];
  /** For a second redtask build (`redtask-base`): the checkout it was loaded from. */
  build?: string;
  producer(queue: string, opts?: ProducerOptions): Producer;
  /** Starts a worker and resolves once it is connected and taking tasks. */
  worker(queue: string, handler: BenchHandler, opts: WorkerOptions): Promise<WorkerHandle>;
}

export interface Connection {
  host: string;
  port: number;
  url: string;
}
