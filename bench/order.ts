/**
 * The order in which the systems run in one repeat of a workload. The systems rotate by one each
 * repeat, so that no system always runs first. A second redtask build (`redtask-base`) is not
 * one more system in the rotation: it runs right next to redtask, and which of the two goes first
 * alternates every repeat (A B, then B A, then A B, ...), so that each A/B pair sees the same
 * phase of a shared machine and neither build always has the first or the second slot.
 */
export function runOrder<T extends { id: string }>(run: T[], rep: number): T[] {
  const a = run.find((s) => s.id === 'redtask');
  const b = run.find((s) => s.id === 'redtask-base');
  const units: T[][] = [];
  for (const s of run) {
    if (s === b && a) continue;
    if (s === a && b) units.push(rep % 2 === 0 ? [a, b] : [b, a]);
    else units.push([s]);
  }
  return units.map((_, i) => units[(i + rep) % units.length]!).flat();
}
