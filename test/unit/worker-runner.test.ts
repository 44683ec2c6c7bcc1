import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/shared/clock.js';
import type { TaskRecord } from '../../src/shared/record.js';
import type { Settlement } from '../../src/shared/settle.js';
import { DueTimer } from '../../src/shared/worker/heartbeat.js';
import { TaskRunner, type RunnerHost } from '../../src/shared/worker/runner.js';
import { TaskAbortedError, type Handler, type WorkerEvents } from '../../src/shared/worker/types.js';

// The task runner alone: no Redis, time moved by hand.

function record(id: string, opts: TaskRecord['opts'] = {}, made = 0, maxAttempts = 3): TaskRecord<string> {
  return { id, made, maxAttempts, publishedAt: 0, name: 'n', opts, data: `data ${id}` };
}

function setup(handler: Handler<string>, extra: Partial<RunnerHost<string>> = {}) {
  const clock = new ManualClock();
  const events = new EventEmitter<WorkerEvents<string>>();
  const settled: Array<Settlement & { queue: string }> = [];
  const due: number[] = [];
  const progress: string[] = [];
  const host: RunnerHost<string> = {
    events,
    clock,
    workerId: 'w-1',
    leaseMs: 5000,
    defaultTimeoutMs: undefined,
    timeoutGraceMs: 1000,
    settle: (queue, s) => settled.push({ queue, ...s }),
    slotFreed: () => undefined,
    dueAt: (at) => due.push(at),
    writeProgress: async (_q, id, json) => void progress.push(`${id}=${json}`),
    ...extra,
  };
  return { runner: new TaskRunner<string>(handler, host), clock, events, settled, due, progress };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('TaskRunner', () => {
  it('settles a completed task with its result and forgets the run', async () => {
    const { runner, settled } = setup((t) => t.data.toUpperCase());
    runner.start('q', record('1'), 'w-1.1');
    expect(runner.size).toBe(0);
    expect(settled).toEqual([{ queue: 'q', id: '1', token: 'w-1.1', kind: 'c', value: '"DATA 1"', at: 0 }]);
  });

  it('fails an attempt with a retry time from the backoff, and dead-letters the last one', async () => {
    const { runner, settled, due, clock } = setup(() => {
      throw new Error('boom');
    });
    runner.start('q', record('1', { bt: 'f', bd: 2000 }), 't1');
    runner.start('q', record('2', {}, 2, 3), 't2');
    expect(settled[0]).toMatchObject({ id: '1', kind: 'r', at: clock.now() + 2000 });
    expect(JSON.parse(settled[0]!.value)).toMatchObject({ attempt: 1, error: 'boom', worker: 'w-1' });
    expect(due).toEqual([clock.now() + 2000]);
    // The third attempt of three: no retry; 'e' asks the script to clear the earlier errors' kept state.
    expect(settled[1]).toMatchObject({ id: '2', kind: 'de', at: 0 });
  });

  it('an UnrecoverableError from another copy of redtask (same name, other class) ends the task at once', async () => {
    class UnrecoverableError extends Error {
      override name = 'UnrecoverableError';
    }
    const { runner, settled } = setup(() => {
      throw new UnrecoverableError('no point retrying');
    });
    runner.start('q', record('1'), 't');
    expect(settled[0]).toMatchObject({ id: '1', kind: 'd' });
  });

  it('a timeout fires the signal; a handler that ignores it is failed after the grace', async () => {
    let signal: AbortSignal | undefined;
    const { runner, settled, clock } = setup((_t, ctx) => {
      signal = ctx.signal;
      return new Promise(() => undefined);
    });
    runner.start('q', record('1', { t: 3000 }), 't');
    clock.advance(2999);
    expect(signal!.aborted).toBe(false);
    clock.advance(1);
    expect(signal!.aborted).toBe(true);
    expect((signal!.reason as TaskAbortedError).reason).toBe('timeout');
    expect(settled).toEqual([]);
    clock.advance(999);
    expect(settled).toEqual([]);
    clock.advance(1);
    expect(settled[0]).toMatchObject({ id: '1', kind: 'r' });
    expect(JSON.parse(settled[0]!.value).error).toBe('timed out after 3.00s');
    expect(runner.size).toBe(0);
  });

  it('a result that comes after the timeout fired counts as a timeout', async () => {
    let finish!: (v: string) => void;
    const { runner, settled, clock } = setup(() => new Promise<string>((r) => (finish = r)));
    runner.start('q', record('1', { t: 100 }), 't');
    clock.advance(100);
    finish('late');
    await flush();
    expect(settled[0]).toMatchObject({ kind: 'r' });
    expect(JSON.parse(settled[0]!.value).error).toMatch(/timed out/);
  });

  it('progress is written and flags the settlement to clear it', async () => {
    const { runner, settled, progress } = setup(async (_t, ctx) => {
      await ctx.progress({ pct: 50 });
      return 'ok';
    });
    runner.start('q', record('7'), 't');
    await flush();
    expect(progress).toEqual(['7={"pct":50}']);
    expect(settled[0]).toMatchObject({ id: '7', kind: 'cp' });
  });

  it('a result that is not JSON fails the attempt', async () => {
    const { runner, settled } = setup(() => 10n as unknown as string);
    runner.start('q', record('1'), 't');
    expect(settled[0]).toMatchObject({ kind: 'r' });
    expect(JSON.parse(settled[0]!.value).error).toMatch(/not serializable to JSON/);
  });

  it('at shutdown, an aborted handler hands its task back; releaseAll hands back the ones that did not stop', async () => {
    const released: string[] = [];
    const { runner, settled, events } = setup((t, ctx) =>
      t.id === '1'
        ? new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped'))))
        : new Promise(() => undefined),
    );
    events.on('released', (t) => released.push(t.id));
    runner.start('q', record('1'), 't1');
    runner.start('q', record('2'), 't2');
    runner.abortAll('shutdown', (id) => `task ${id}: shutting down`);
    await flush();
    expect(settled).toEqual([expect.objectContaining({ id: '1', kind: 'q' })]);
    runner.releaseAll();
    expect(settled[1]).toMatchObject({ id: '2', kind: 'q' });
    expect(released).toEqual(['1', '2']);
    expect(runner.size).toBe(0);
  });

  it('a run whose lease ran out while Redis was away is told so; one still leased is not', () => {
    const signals: AbortSignal[] = [];
    const { runner, clock } = setup((_t, ctx) => {
      signals.push(ctx.signal);
      return new Promise(() => undefined);
    });
    runner.start('q', record('1'), 't1');
    clock.advance(3000);
    runner.start('q', record('2'), 't2');
    clock.advance(2001);
    runner.abortExpired(['q'], 'lease expired');
    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
    expect((signals[0]!.reason as TaskAbortedError).reason).toBe('lease-lost');
  });

  it('whileRunning returns once the last task ends, or at the deadline', async () => {
    let finish!: () => void;
    const { runner, clock } = setup(() => new Promise<void>((r) => (finish = r)) as unknown as string);
    runner.start('q', record('1'), 't');
    let done = false;
    const waiting = runner.whileRunning(clock.now() + 10_000).then(() => (done = true));
    clock.advance(200);
    await flush();
    expect(done).toBe(false);
    finish();
    await waiting;
    expect(runner.size).toBe(0);
  });
});

describe('DueTimer', () => {
  it('keeps the earliest due time and fires once at it', () => {
    const clock = new ManualClock();
    let fired = 0;
    const timer = new DueTimer(clock, () => fired++);
    timer.set(clock.now() + 500);
    timer.set(clock.now() + 900);
    timer.set(-1);
    clock.advance(500);
    expect(fired).toBe(0);
    clock.advance(1);
    expect(fired).toBe(1);
    clock.advance(1000);
    expect(fired).toBe(1);
    timer.set(clock.now() + 10);
    timer.stop();
    clock.advance(100);
    expect(fired).toBe(1);
  });
});

describe('errors recognised by name (a handler module with its own copy of redtask)', () => {
  it('isUnrecoverable and isTaskAborted accept look-alikes and refuse other errors', async () => {
    const { isUnrecoverable, isTaskAborted, UnrecoverableError } = await import('../../src/shared/worker/types.js');
    class OtherAborted extends Error {
      override name = 'TaskAbortedError';
      readonly reason = 'timeout';
    }
    const plainNamed = Object.assign(new Error('x'), { name: 'UnrecoverableError' });
    expect([new UnrecoverableError('a'), plainNamed].map(isUnrecoverable)).toEqual([true, true]);
    expect([new Error('a'), 'UnrecoverableError', null].map(isUnrecoverable)).toEqual([false, false, false]);
    expect([new TaskAbortedError('shutdown', 'x'), new OtherAborted('y')].map(isTaskAborted)).toEqual([true, true]);
    expect(isTaskAborted(Object.assign(new Error('z'), { name: 'TaskAbortedError' }))).toBe(false);
  });
});
