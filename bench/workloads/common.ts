import type { BenchRedis } from '../redis.js';
import type { System } from '../systems/types.js';

/** One measured figure of one run. */
export interface Sample {
  workload: string;
  system: string;
  metric: string;
  value: number;
  unit: string;
  /** Which direction is better, for the ratio column and the chart. */
  better: 'higher' | 'lower';
  /** The repeat it came from (0-based; set by run.ts), to pair the runs of two builds. */
  rep?: number;
}

export interface BenchContext {
  redis: BenchRedis;
  quick: boolean;
  /** Progress lines (stderr, so that stdout stays the report). */
  log(message: string): void;
  /** A queue name not used before in this bench run (a worker leaked by a failed run cannot steal tasks). */
  queue(base: string): string;
}

export interface Workload {
  id: string;
  title: string;
  /** Systems this workload runs for, given the mode (a workload may skip a peer, and says why). */
  systems(all: System[], ctx: BenchContext): { run: System[]; notes: string[] };
  /** One run for one system: starts from FLUSHALL, leaves nothing running. */
  run(ctx: BenchContext, system: System, rep: number): Promise<Sample[]>;
}

/** The figures of one workload run, with the workload's name filled in. */
export function sampler(workload: string, system: System): (metric: string, value: number, unit: string, better: 'higher' | 'lower') => Sample {
  return (metric, value, unit, better) => ({ workload, system: system.id, metric, value, unit, better });
}

/** Splits n tasks into chunks of at most `size`. */
export function* chunks<T>(items: T[], size = 1000): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** A small seeded PRNG (mulberry32), so every system gets the same "random" delays. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A promise with its resolve function, and a bounded wait on it. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
