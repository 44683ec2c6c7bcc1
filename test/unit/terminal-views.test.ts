import { PassThrough } from 'node:stream';
import { Chalk, type ChalkInstance } from 'chalk';
import { describe, expect, it } from 'vitest';
import { render, renderLine, renderTask, renderTaskLine, snapshotJson, type Snapshot } from '../../src/commands/monitor-view.js';
import { promptHelp } from '../../src/commands/prompt.js';
import { renderSchedules } from '../../src/commands/schedules.js';
import { makeLogger } from '../../src/commands/worker.js';
import type { TaskInfo } from '../../src/shared/queue/index.js';
import type { ScheduleInfo } from '../../src/shared/schedule-store.js';
import { controlsIn, HOSTILE, HOSTILE_SHOWN } from '../helpers/util.js';

// The pure views, fed records whose every text field is hostile: what they draw has no control
// character in it, with colours off (a colour code is a control character too) and on.
const plain = new Chalk({ level: 0 });
const colour = new Chalk({ level: 1 });
const T = Date.UTC(2026, 10, 26, 12, 0, 0);
/** Any type may come back from Redis where a number belongs. */
const asNumber = (s: string) => s as unknown as number;

const snap: Snapshot = {
  time: T,
  redis: `redis://${HOSTILE}@127.0.0.1:6379`,
  queues: [
    {
      name: HOSTILE,
      waiting: 1,
      active: 1,
      delayed: 0,
      completed: 3,
      failed: 1,
      published: 5,
      retried: 0,
      recovered: 0,
      completedRetained: 3,
      deadRetained: 1,
      cancelled: 0,
      paused: true,
      ratePerSec: 1,
      failedPerSec: 0,
      completedPerSecond: [1, 2],
      waitP50Ms: 5,
      waitP99Ms: Infinity,
      oldestWaitingMs: null,
    },
  ],
  workers: [
    {
      id: HOSTILE,
      host: HOSTILE,
      pid: asNumber(HOSTILE),
      queues: [HOSTILE],
      concurrency: asNumber(HOSTILE),
      running: 0,
      startedAt: T - 60_000,
      lastSeen: T,
      version: HOSTILE,
    },
  ],
  schedules: [{ queue: HOSTILE, name: HOSTILE, when: `cron "${HOSTILE}" ${HOSTILE}`, paused: false, next: T + 1000, fired: asNumber(HOSTILE) }],
};

const task: TaskInfo = {
  id: HOSTILE,
  queue: HOSTILE,
  name: HOSTILE,
  state: 'dead',
  attempts: asNumber(HOSTILE),
  maxAttempts: 2,
  backoff: { type: 'fixed', delay: 1000 },
  publishedAt: T,
  priority: asNumber(HOSTILE),
  group: HOSTILE,
  schedule: { name: HOSTILE, due: T },
  worker: HOSTILE,
  corrupt: HOSTILE,
  data: { [HOSTILE]: HOSTILE },
  progress: HOSTILE,
  result: [HOSTILE],
  errors: [{ attempt: asNumber(HOSTILE), at: T, error: `exit code 3: ${HOSTILE}\n${HOSTILE}\r`, worker: HOSTILE }],
  at: T,
};

const schedule = {
  name: HOSTILE,
  queue: HOSTILE,
  cron: HOSTILE,
  tz: HOSTILE,
  data: HOSTILE,
  taskName: HOSTILE,
  attempts: 1,
  priority: 0,
  overlap: HOSTILE,
  catchUp: HOSTILE,
  catchUpWindowMs: 1000,
  paused: false,
  next: T,
  lastDue: null,
  lastTaskId: null,
  fired: asNumber(HOSTILE),
  skipped: 0,
  deferred: null,
  createdAt: T,
  updatedAt: T,
} as unknown as ScheduleInfo;

describe('the views show hostile fields escaped', () => {
  it.each<[string, (c: ChalkInstance) => string]>([
    ['render (live view, --once)', (c) => render(snap, c)],
    ['renderLine (live view in a pipe)', () => renderLine(snap)],
    ['renderTask (show)', (c) => renderTask(task, c)],
    ['renderTaskLine (tasks)', () => renderTaskLine(task)],
    ['renderSchedules (schedules), a string payload', (c) => renderSchedules([schedule], T, c)],
    ['renderSchedules (schedules), a JSON payload', (c) => renderSchedules([{ ...schedule, data: { [HOSTILE]: [HOSTILE] } }], T, c)],
    ['promptHelp', () => promptHelp(HOSTILE, `/home/${HOSTILE}/history`, true)],
  ])('%s', (_what, draw) => {
    const out = draw(plain);
    expect(controlsIn(out)).toEqual([]);
    // The text is there, escaped (a table may cut a long cell short).
    expect(out).toContain(HOSTILE_SHOWN.slice(0, 30));
    // Colour codes are the only escape sequences with colour on: with them taken out, it is the same text.
    // eslint-disable-next-line no-control-regex
    expect(draw(colour).replace(/\x1b\[\d+m/g, '')).toBe(out);
  });

  it('renderTask keeps the lines of an error and escapes its carriage return', () => {
    expect(renderTask(task, plain)).toContain(`on ${HOSTILE_SHOWN}: exit code 3: ${HOSTILE_SHOWN}\n${HOSTILE_SHOWN}\\x0d`);
  });

  it('render pads the escaped names: the columns stay aligned', () => {
    const lines = render({ ...snap, queues: [snap.queues[0]!, { ...snap.queues[0]!, name: 'plain', paused: false }] }, plain).split('\n');
    const at = lines.findIndex((l) => l.startsWith('QUEUE'));
    const rows = lines.slice(at + 1, at + 3);
    expect(rows[0]).toMatch(/^esc\\x1b .* \(paused\) +1 /);
    expect(rows[1]).toMatch(/^plain +1 /);
    for (const r of rows) expect(r.length).toBe(lines[at]!.length);
  });

  it('snapshotJson escapes C1 and bidi controls too, and reads back to the snapshot', () => {
    const json = snapshotJson(snap);
    expect(controlsIn(json)).toEqual([]);
    expect(json).toContain('\\u009b');
    expect(json).toContain('\\u202e');
    const back = JSON.parse(json) as Snapshot;
    expect(back.workers).toEqual(snap.workers);
    expect(back.queues[0]!.name).toBe(HOSTILE);
  });

  it('the worker log writes escaped text, and --json fields whole but safe', () => {
    for (const json of [false, true]) {
      const stderr = new PassThrough();
      let out = '';
      stderr.on('data', (b: Buffer) => (out += b.toString()));
      const log = makeLogger({ stdin: new PassThrough(), stdout: new PassThrough(), stderr, env: {} }, plain, { json });
      log({ event: 'task.failed', level: 'warn', text: `✖ x failed: ${HOSTILE_SHOWN}`, fields: { name: HOSTILE, error: HOSTILE } });
      expect(controlsIn(out)).toEqual([]);
      if (json) expect(JSON.parse(out)).toMatchObject({ name: HOSTILE, error: HOSTILE, msg: `✖ x failed: ${HOSTILE_SHOWN}` });
    }
  });
});
