import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { render, renderLine, renderTask, renderTaskLine, snapshotJson, sparkline, type Snapshot } from '../../src/commands/monitor-view.js';
import type { TaskInfo } from '../../src/shared/queue/index.js';

const plain = new Chalk({ level: 0 });

const snap: Snapshot = {
  time: Date.UTC(2026, 10, 26, 12, 0, 0),
  redis: 'redis://127.0.0.1:6379',
  queues: [
    {
      name: 'emails',
      waiting: 12,
      active: 3,
      delayed: 1,
      completed: 1500,
      failed: 2,
      published: 1518,
      retried: 4,
      recovered: 1,
      completedRetained: 1000,
      deadRetained: 2,
      paused: false,
      cancelled: 0,
      ratePerSec: 42.5,
      failedPerSec: 0.2,
      completedPerSecond: [0, 0, 10, 20, 40, 80, 40, 0],
      waitP50Ms: 5,
      waitP99Ms: 200,
      oldestWaitingMs: 65_000,
    },
  ],
  workers: [
    {
      id: 'host-1-abc',
      host: 'host',
      pid: 1,
      queues: ['emails'],
      concurrency: 4,
      running: 3,
      startedAt: Date.UTC(2026, 10, 26, 11, 59, 0),
      lastSeen: Date.UTC(2026, 10, 26, 11, 59, 59),
      version: '0.1.0',
    },
  ],
  schedules: [],
};

describe('monitor view (pure)', () => {
  it('--json writes a wait over an hour as "Infinity", and no wait as null', () => {
    const q = snap.queues[0]!;
    const over = { ...snap, queues: [{ ...q, waitP50Ms: 60_000, waitP99Ms: Infinity }, { ...q, name: 'idle', waitP50Ms: null, waitP99Ms: null }] };
    const back = JSON.parse(snapshotJson(over)) as Snapshot;
    expect(back.queues.map((x) => [x.waitP50Ms, x.waitP99Ms])).toEqual([
      [60_000, 'Infinity'],
      [null, null],
    ]);
    expect(Number(back.queues[0]!.waitP99Ms)).toBe(Infinity);
    expect(JSON.parse(snapshotJson(snap))).toEqual(snap);
  });

  it('draws the table of queues and workers', () => {
    expect(render(snap, plain)).toMatchInlineSnapshot(`
      "redtask monitor  redis://127.0.0.1:6379  2026-11-26 12:00:00 UTC

      QUEUE    WAITING   ACTIVE   DELAYED   COMPLETED   FAILED    DONE/S   FAIL/S   WORKERS   WAIT p50/p99    OLDEST
      emails        12        3         1        1500        2      42.5      0.2         1    ≤5ms/≤200ms      1m5s

      completed per second, last minute
      emails    ▁▂▄█▄   peak 80/s

      workers (1)
      WORKER      HOST  PID  QUEUES  RUNNING  UP    HEARTBEAT
      host-1-abc  host    1  emails      3/4  1m0s  1.00s ago"
    `);
  });

  it('draws a sparkline scaled to the largest value', () => {
    expect(sparkline([0, 1, 2, 4, 8])).toBe(' ▁▂▄█');
    expect(sparkline([0, 0])).toBe('  ');
  });

  it('says so when there are no queues or workers', () => {
    const out = render({ ...snap, queues: [], workers: [] }, plain);
    expect(out).toContain('(no queues yet');
    expect(out).toContain('(no live workers)');
  });

  it('prints one line per queue for logs', () => {
    expect(renderLine(snap)).toBe(
      '2026-11-26T12:00:00.000Z queue=emails waiting=12 active=3 delayed=1 completed=1500 failed=2 rate=42.5/s workers=1',
    );
  });

  it('uses no escape codes without color', () => {
    expect(render(snap, plain)).not.toContain('\u001b[');
    expect(render(snap, new Chalk({ level: 1 }))).toContain('\u001b[');
  });

  it('marks a paused queue', () => {
    const paused = { ...snap, queues: [{ ...snap.queues[0]!, paused: true }] };
    expect(render(paused, plain)).toContain('emails (paused)');
    expect(renderLine(paused)).toContain('queue=emails paused waiting=12');
  });

  it('draws one task in full, and as one line', () => {
    const t: TaskInfo = {
      id: '42',
      queue: 'emails',
      name: 'welcome',
      state: 'dead',
      attempts: 2,
      maxAttempts: 2,
      backoff: { type: 'fixed', delay: 1000 },
      priority: 5,
      group: 'tenant-1',
      publishedAt: Date.UTC(2026, 10, 26, 11, 0, 0),
      data: { to: 'a@example.com' },
      errors: [
        { attempt: 1, at: Date.UTC(2026, 10, 26, 11, 0, 1), error: 'SMTP 451', worker: 'w1' },
        { attempt: 2, at: Date.UTC(2026, 10, 26, 11, 0, 3), error: 'SMTP 451' },
      ],
      at: Date.UTC(2026, 10, 26, 11, 0, 3),
    };
    expect(renderTask(t, plain)).toBe(
      [
        'emails#42 welcome  dead',
        'published  2026-11-26 11:00:00.000 UTC',
        'attempts   2 of 2',
        'priority   5',
        'group      tenant-1',
        'ended      2026-11-26 11:00:03.000 UTC',
        'payload    {"to":"a@example.com"}',
        'attempt 1 failed at 2026-11-26 11:00:01.000 UTC on w1: SMTP 451',
        'attempt 2 failed at 2026-11-26 11:00:03.000 UTC: SMTP 451',
      ].join('\n'),
    );
    expect(renderTaskLine(t)).toBe('      42  dead       2026-11-26 11:00:03.000 UTC  welcome  {"to":"a@example.com"}');
  });

  it('lists schedules with their next fire', () => {
    const out = render(
      {
        ...snap,
        schedules: [
          { queue: 'emails', name: 'digest', when: 'cron "0 6 * * *" Europe/Berlin', paused: false, next: Date.UTC(2026, 10, 27, 5, 0, 0), fired: 12 },
          { queue: 'emails', name: 'ping', when: 'every 30.0s', paused: true, next: null, fired: 3 },
        ],
      },
      plain,
    );
    expect(out).toContain('schedules (2)');
    expect(out).toContain('emails/digest  cron "0 6 * * *" Europe/Berlin  next 2026-11-27 05:00:00 UTC  fired 12');
    expect(out).toContain('emails/ping  every 30.0s  paused  fired 3');
  });
});
