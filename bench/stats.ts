import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Small statistics helpers (nearest-rank percentiles on a sorted copy). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

let gcFn: (() => void) | undefined;

/**
 * A full, synchronous V8 garbage collection, so that garbage made before a measured window is not
 * collected (and its CPU charged) inside it. Works without starting node with --expose-gc: the
 * flag is set at run time and a fresh context then has the gc() global.
 */
export function fullGc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when check() is truthy; throws after timeoutMs. Polls every `everyMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 2): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

let clockOffset = performance.timeOrigin;

/**
 * Aligns epochMs() with Date.now(): waits for Date.now() to tick over to the next millisecond
 * and takes performance.now() at that instant (bounded to a few ms of spinning).
 */
export function calibrateClock(): void {
  const start = Date.now();
  let now = start;
  const until = performance.now() + 5;
  while (now === start && performance.now() < until) now = Date.now();
  clockOffset = now - performance.now();
}

/** Epoch milliseconds with sub-millisecond resolution, on the same clock as Date.now(). */
export function epochMs(): number {
  return clockOffset + performance.now();
}
