import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as thisBuild from '../../src/index.js';
import { VERSION } from '../../src/shared/version.js';
import type { BenchData } from '../payload.js';
import type { BenchHandler, Connection, Producer, System, SystemId, WorkerHandle, WorkerOptions } from './types.js';

/**
 * The part of redtask's public API the bench uses, written out so that a second build (another
 * checkout, loaded at run time) can be driven by the same adapter code as this one. Only options
 * that every build knows are passed (a connection URL and the concurrency): a build's own worker
 * options (such as the baseline's `spin`) keep their defaults, and a build that lacks one is not
 * handed it.
 */
export interface RedtaskApi {
  Queue: new (name: string, opts: { connection: string }) => {
    configure(settings: { keepCompleted: number }): Promise<unknown>;
    add(data: BenchData): Promise<unknown>;
    addBulk(items: Array<{ data: BenchData; opts?: { runAt: number } }>): Promise<unknown>;
    counts(): Promise<{ waiting: number; active: number; delayed: number }>;
    workers(): Promise<unknown>;
    close(): Promise<unknown>;
  };
  Worker: new (
    name: string,
    handler: (task: { data: BenchData }) => void | Promise<void>,
    opts: { connection: string; concurrency: number },
  ) => {
    on(event: 'error', listener: (err: Error) => void): unknown;
    start(): Promise<unknown>;
    close(graceMs?: number): Promise<unknown>;
  };
}

const SETTINGS = [
  'Queue.configure({ keepCompleted: 0 }): completed tasks are not retained (the peers remove completed jobs too)',
  'Queue.add / Queue.addBulk (the bench passes 1,000 tasks per call; one publish script call each)',
  'Worker defaults: leaseMs 5,000 (heartbeat every 1 s), attempts 3; the bench passes only { connection, concurrency }',
];

/**
 * redtask as the bench uses it: Queue.addBulk (1,000 tasks per publish script call) and Worker
 * with default settings (5 s lease). The queue is configured with keepCompleted 0, because the
 * peers are configured to remove completed jobs too.
 */
function redtaskAdapter(api: RedtaskApi, conn: Connection, meta: Pick<System, 'id' | 'label' | 'version' | 'settings' | 'build'>): System {
  return {
    ...meta,
    producer(name: string): Producer {
      const q = new api.Queue(name, { connection: conn.url });
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
        async close() {
          await q.close();
        },
      };
    },
    async worker(name: string, handler: BenchHandler, opts: WorkerOptions): Promise<WorkerHandle> {
      const w = new api.Worker(name, (task) => handler(task.data), { connection: conn.url, concurrency: opts.concurrency });
      w.on('error', (err) => console.error(`${meta.label} worker error: ${err.message}`));
      await w.start();
      return {
        async close() {
          await w.close(2000);
        },
      };
    },
  };
}

/** This checkout's redtask (compiled with the bench). */
export function redtaskSystem(conn: Connection): System {
  const api: RedtaskApi = thisBuild;
  return redtaskAdapter(api, conn, { id: 'redtask', label: 'redtask', version: VERSION, settings: SETTINGS });
}

/** The short commit of a checkout, marked when its src/ has uncommitted changes. */
export function revisionOf(dir: string): string {
  try {
    const head = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (src/ with uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
}

/** The module a second build is loaded from: `<dir>/dist/src/index.js` (build it there first). */
export function baselineEntry(dir: string): string {
  const entry = join(resolve(dir), 'dist', 'src', 'index.js');
  if (!existsSync(entry)) throw new Error(`${entry} not found: run \`npm ci && npm run build\` in ${dir} first`);
  return entry;
}

/**
 * A second redtask build, for A/B runs (`--baseline <dir>`): its Queue and Worker are imported
 * at run time from `<dir>/dist/src/index.js` (with that checkout's own node_modules) and driven
 * by the same adapter code as this checkout's build.
 */
export async function redtaskBaseSystem(conn: Connection, dir: string): Promise<System> {
  const entry = baselineEntry(dir);
  const mod = (await import(pathToFileURL(entry).href)) as Partial<RedtaskApi>;
  if (typeof mod.Queue !== 'function' || typeof mod.Worker !== 'function') throw new Error(`${entry} does not export Queue and Worker`);
  for (const m of ['configure', 'add', 'addBulk', 'counts', 'workers', 'close'] as const) {
    if (typeof mod.Queue.prototype[m] !== 'function') throw new Error(`${entry}: Queue has no ${m}() method`);
  }
  for (const m of ['on', 'start', 'close'] as const) {
    if (typeof mod.Worker.prototype[m] !== 'function') throw new Error(`${entry}: Worker has no ${m}() method`);
  }
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(join(resolve(dir), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // reported as unknown
  }
  const id: SystemId = 'redtask-base';
  return redtaskAdapter(mod as RedtaskApi, conn, {
    id,
    label: 'redtask-base',
    version: `${version} at ${revisionOf(dir)}`,
    settings: [`the build in ${resolve(dir)} (loaded from ${entry}), run by the same adapter as redtask`, ...SETTINGS],
    build: resolve(dir),
  });
}
