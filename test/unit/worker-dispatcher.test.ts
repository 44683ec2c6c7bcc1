import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.js';
import { queueKeys } from '../../src/shared/keys.js';
import type { TaskCalls } from '../../src/shared/worker/connection.js';
import { Dispatcher, type DispatcherHost } from '../../src/shared/worker/dispatcher.js';
import { DueTimer } from '../../src/shared/worker/heartbeat.js';

// The dispatcher alone: task calls answered by hand, no Redis.

interface Sent {
  name: 'reserve' | 'finish';
  queue: string;
  args: Array<string | number>;
  answer(records: string[]): void;
  fail(err: Error): void;
}

function setup(queues: string[], concurrency: number, slots = () => concurrency) {
  const sent: Sent[] = [];
  const call = (name: Sent['name']) => (k: { prefix: string }, args: Array<string | number>) =>
    new Promise<string[]>((resolve, reject) => {
      const queue = /\{(.*)\}/.exec(k.prefix)![1]!;
      sent.push({ name, queue, args, answer: resolve, fail: reject });
    });
  const calls = { ready: true, reserve: call('reserve'), finish: call('finish') } as unknown as TaskCalls;
  const clock = new ManualClock();
  const leased: Array<[string, string[], string]> = [];
  const passed: string[][] = [];
  const idle: boolean[] = [];
  const errors: unknown[] = [];
  const host: DispatcherHost = {
    clock,
    workerId: 'w',
    leaseMs: 5000,
    openSlots: slots,
    leased: (q, r, t) => leased.push([q, r, t]),
    settled: () => undefined,
    lost: () => undefined,
    passWake: (qs) => passed.push(qs),
    callFailed: (_q, err) => errors.push(err),
    afterKick: (i) => idle.push(i),
  };
  const keys = new Map(queues.map((q) => [q, queueKeys(q)]));
  return { d: new Dispatcher(queues, keys, calls, concurrency, host), sent, leased, passed, idle, errors, clock };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('Dispatcher', () => {
  it('at concurrency 1: one reserve, then each settlement goes with the next reserve in one finish call', async () => {
    const { d, sent, leased, clock } = setup(['q'], 1, () => 1);
    d.kick();
    expect(sent.map((s) => s.name)).toEqual(['reserve']);
    // (args: now, lease, want, token, retry)
    const token = `w.1.${clock.now().toString(36)}`;
    expect(sent[0]!.args.slice(2)).toEqual([1, token, '0']);
    d.kick();
    expect(sent).toHaveLength(1);
    sent[0]!.answer(['1|0|3|0|n||null']);
    await flush();
    expect(leased).toEqual([['q', ['1|0|3|0|n||null'], token]]);
  });

  it('spreads its slots over lanes: two calls in flight up to eight slots, three from nine on', () => {
    expect(setup(['q'], 1).d.lanes).toBe(1);
    expect(setup(['q'], 2).d.lanes).toBe(2);
    expect(setup(['q'], 8).d.lanes).toBe(2);
    expect(setup(['q'], 10).d.lanes).toBe(3);
    const { d, sent } = setup(['q'], 100);
    expect(d.laneSize).toBe(34);
    d.kick();
    expect(sent).toHaveLength(3);
    expect(sent.map((s) => s.args[2])).toEqual([34, 34, 32]);
  });

  it('a queue that gave fewer tasks than asked is not asked again until a wake-up; then it is, and the wake-up is passed on', async () => {
    const { d, sent, idle } = setup(['q'], 1);
    d.kick();
    sent[0]!.answer([]);
    await flush();
    expect(sent).toHaveLength(1);
    expect(idle.at(-1)).toBe(true);
    d.wokeUp(['q']);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.name).toBe('reserve');
  });

  it('a lost reply: the same token goes again as a retry, with the settlements it carried, after a pause', async () => {
    const { d, sent, errors, clock } = setup(['q'], 1, () => 0);
    d.settle('q', { id: '5', token: 'w.0', kind: 'c', value: '"x"', at: 0 });
    expect(sent.map((s) => s.name)).toEqual(['finish']);
    const token = sent[0]!.args[3];
    sent[0]!.fail(new Error('connection lost'));
    await flush();
    expect(errors).toHaveLength(1);
    clock.advance(260);
    expect(sent).toHaveLength(2);
    expect(sent[1]!.args[3]).toBe(token);
    // (mode: retry and wake)
    expect(sent[1]!.args[4]).toBe('rw');
    expect(sent[1]!.args).toContain('5');
  });

  it('a wake-up it has no free slot for goes back to Redis for the next idle worker', () => {
    const { d, passed } = setup(['a', 'b'], 1, () => 0);
    d.wokeUp(['a']);
    expect(passed).toEqual([['a']]);
    // While the idle wait's reserve is out, that reserve passes the wake-up on itself.
    d.setWaitHoldsWake(true);
    d.wokeUp(['b']);
    expect(passed).toEqual([['a']]);
  });

  it('a due time wakes every queue, and its wake-up is passed on when there is no free slot', () => {
    const { d, passed, clock } = setup(['a', 'b'], 1, () => 0);
    const due = new DueTimer(clock, () => d.wokeUp(['a', 'b']));
    due.set(clock.now() + 100);
    clock.advance(101);
    expect(passed).toEqual([['a', 'b']]);
  });
});
