/** The benchmark's task payload: a JSON object of exactly PAYLOAD_BYTES bytes. */
export const PAYLOAD_BYTES = 100;

export interface BenchData {
  /** The task's sequence number within a run. */
  i: number;
  /** For delayed tasks: when it is due (ms since epoch). */
  due?: number;
  pad: string;
}

export function payload(i: number, due?: number): BenchData {
  const base: BenchData = due === undefined ? { i, pad: '' } : { i, due, pad: '' };
  const room = PAYLOAD_BYTES - JSON.stringify(base).length;
  base.pad = 'x'.repeat(Math.max(0, room));
  return base;
}
