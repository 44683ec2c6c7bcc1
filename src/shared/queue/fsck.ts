import { decodeSchedule } from '../decode.js';
import { leaseMember, LEASE_PIN, splitLeaseMember } from '../keys.js';
import { repairQueue } from '../repair.js';
import { parseState, readScheduleSet } from '../schedule-store.js';
import { Timing } from '../schedule-timing.js';
import { runScript, scriptKeys } from '../scripts.js';
import type { QueueContext } from './types.js';

/**
 * Repair (task-monitor fsck): finds what is out of order in a queue and puts it right, and says
 * what it did. The structure repair it starts with is repair.ts's (the one workers run when a
 * script fails because of bad data); the checks of the queue's states are fsck-12.lua's.
 */

/** What fsck repaired. */
export interface FsckReport {
  /** Active tasks without a lease: given an expired one, so that maintenance recovers them at once. */
  orphanActive: number;
  /** Leases without an active task: removed. */
  staleLease: number;
  /** Records in no state: dead-lettered for review. */
  orphanRecord: number;
  /** Tasks of fair groups running now, recounted. */
  groupCounts: number;
  /** Schedules given their pending fire back. */
  schedules: number;
  /** What did not fit the queue's structure and was set aside, one line each (see repairQueue). */
  setAside: string[];
}

/**
 * Finds and repairs inconsistencies. First what does not fit the queue's structure is set aside
 * (repairQueue: keys of the wrong type, counters and settings that are not numbers), since it
 * would make the scans and scripts below fail. Then: active tasks without a lease (recovered at
 * once), leases without a task (removed), records in no state (dead-lettered for review), the
 * fair groups' running counts (recounted), and schedules without a pending fire (given it back).
 * Scans in steps; each repair re-checks atomically.
 */
export async function fsck(q: QueueContext): Promise<FsckReport> {
  const setAside = await repairQueue(q.client, q.keys);
  const k = q.keys;
  const repair = async (kind: string, ids: string[]) =>
    ids.length ? Number(await runScript(q.client, 'fsck', scriptKeys.fsck(k), [Date.now(), kind, ...ids])) : 0;
  const scanHash = async (key: string, visit: (ids: string[], values: string[]) => Promise<void>) => {
    let cursor = '0';
    do {
      const [next, flat] = await q.client.hscan(key, cursor, 'COUNT', 500);
      cursor = next;
      const ids: string[] = [];
      const values: string[] = [];
      for (let i = 0; i < flat.length; i += 2) {
        ids.push(flat[i]!);
        values.push(flat[i + 1]!);
      }
      await visit(ids, values);
    } while (cursor !== '0');
  };
  let orphanActive = 0;
  let orphanRecord = 0;
  let staleLease = 0;
  await scanHash(k.active, async (ids, values) => {
    const members = ids.map((id, i) => leaseMember(id, values[i]!));
    const scores = ids.length ? await q.client.zmscore(k.lease, ...members) : [];
    orphanActive += await repair('orphan-active', ids.filter((_, i) => scores[i] === null));
  });
  let cursor = '0';
  do {
    const [next, flat] = await q.client.zscan(k.lease, cursor, 'COUNT', 500);
    cursor = next;
    const members: string[] = [];
    for (let i = 0; i < flat.length; i += 2) if (flat[i] !== LEASE_PIN) members.push(flat[i]!);
    // A member is stale unless its task is active under its token.
    const pipe = q.client.pipeline();
    for (const m of members) pipe.hget(k.active, splitLeaseMember(m).id);
    const res = (await pipe.exec()) ?? [];
    staleLease += await repair('stale-lease', members.filter((m, i) => {
      const cur = res[i]?.[1] as string | null;
      return !cur || leaseMember(splitLeaseMember(m).id, cur) !== m;
    }));
  } while (cursor !== '0');
  await scanHash(k.data, async (ids) => {
    if (!ids.length) return;
    const pipe = q.client.pipeline();
    for (const key of [k.delayed, k.completed, k.dead, k.cancelled, k.prio, k.groups]) pipe.zmscore(key, ...ids);
    const res = ((await pipe.exec()) ?? []).map(([, v]) => v as Array<string | null>);
    orphanRecord += await repair('orphan-record', ids.filter((_, i) => res.every((scores) => scores[i] === null)));
  });
  const groupCounts = Number(await runScript(q.client, 'fsck', scriptKeys.fsck(k), [Date.now(), 'gactive']));
  // A schedule with no pending fire gets one back from its definition (the workers' schedulers
  // do the same within a second; this makes it visible and does not depend on a worker).
  let schedules = 0;
  const { defs, states, next: pending } = await readScheduleSet(q.client, k);
  for (const [name, raw] of Object.entries(defs)) {
    if (pending.has(name)) continue;
    const decoded = decodeSchedule(raw);
    if (!decoded.ok || decoded.value.paused) continue;
    const def = decoded.value;
    const next = new Timing(def).nextAfter(Math.max(parseState(states[name]).lastDue, def.since));
    if (next !== null && (await q.client.zadd(k.schednext, 'NX', next, name)) === 1) schedules++;
  }
  return { orphanActive, staleLease, orphanRecord, groupCounts, schedules, setAside };
}
