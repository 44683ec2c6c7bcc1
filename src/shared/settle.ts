/**
 * The arguments and reply of the hot-path scripts (finish-1.lua, reserve-1.lua), in one place so
 * that the worker and the tests that call the scripts directly agree on them.
 */

/** One task's outcome, sent with the worker's next call. */
export interface Settlement {
  id: string;
  /** The fencing token of the reservation that leased the task. */
  token: string;
  /** c, r, d or q, then flags: p (clear progress), e (clear earlier errors); see finish-1.lua. */
  kind: string;
  value: string;
  at: number;
}

/** How a call relates to the queue's marker and to an earlier call whose reply was lost. */
export interface CallMode {
  /** The token is sent again after a lost reply: what that call leased comes back. */
  retry: boolean;
  /** The caller took the marker since its last call: pass the wake-up on when tasks remain. */
  wake: boolean;
}

export interface FinishCall {
  args: Array<string | number>;
  /** The settlements in the order the script reports their statuses. */
  order: Settlement[];
}

/**
 * The finish script's arguments: settlements (detailed ones first, then the plain completions
 * grouped by token, their ids in a row) and a request for `want` new leases under `token`.
 */
export function finishArgs(now: number, leaseMs: number, want: number, token: string, mode: CallMode, settles: readonly Settlement[]): FinishCall {
  const head = [now, now + leaseMs, want, token, modeArg(mode)];
  // One settlement (every call at concurrency 1): the same layout, without the grouping below.
  if (settles.length === 1) {
    const s = settles[0]!;
    if (s.kind === 'c' && s.value === 'null') return { args: [...head, 1, 0, s.id, s.token, 1], order: [s] };
    return { args: [...head, 1, 1, s.id, s.token, s.kind, s.value, s.at], order: [s] };
  }
  const ids: string[] = [];
  const details: Array<string | number> = [];
  const order: Settlement[] = [];
  let plain: Map<string, Settlement[]> | undefined;
  for (const s of settles) {
    if (s.kind === 'c' && s.value === 'null') {
      plain ??= new Map();
      const list = plain.get(s.token);
      if (list) list.push(s);
      else plain.set(s.token, [s]);
    } else {
      ids.push(s.id);
      details.push(s.token, s.kind, s.value, s.at);
      order.push(s);
    }
  }
  const n = order.length;
  const groups: Array<string | number> = [];
  if (plain) {
    for (const [t, list] of plain) {
      groups.push(t, list.length);
      for (const s of list) {
        ids.push(s.id);
        order.push(s);
      }
    }
  }
  return { args: head.concat(order.length, n, ids, details, groups), order };
}

/** The reserve script's arguments (now '' = Redis's clock, see reserve-1.lua). */
export function reserveArgs(now: number | '', leaseMs: number, want: number, token: string, retry: boolean): Array<string | number> {
  return [now, leaseMs, want, token, retry ? '1' : '0'];
}

export interface FinishReply {
  /** One flag per settlement of FinishCall.order: true when it held its lease and was applied. */
  applied(i: number): boolean;
  /** The newly leased records. */
  records: string[];
}

/** Reads the finish script's reply: {statuses, records...} (statuses "" when all applied). */
export function finishReply(reply: string[]): FinishReply {
  const statuses = reply.shift() ?? '';
  return { applied: (i) => statuses === '' || statuses[i] === '1', records: reply };
}

function modeArg(mode: CallMode): string {
  return mode.retry ? (mode.wake ? 'rw' : 'r') : mode.wake ? 'w' : '';
}
