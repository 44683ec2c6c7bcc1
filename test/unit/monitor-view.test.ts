import { Chalk } from 'chalk';
import { describe, expect, it } from 'vitest';
import { render, renderLine, type Snapshot } from '../../src/commands/monitor-view.js';

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
};

describe('monitor view (pure)', () => {
  it('draws the table of queues and workers', () => {
    expect(render(snap, plain)).toMatchInlineSnapshot(`
      "redtask monitor  redis://127.0.0.1:6379  2026-11-26 12:00:00 UTC

      QUEUE    WAITING   ACTIVE   DELAYED   COMPLETED   FAILED    DONE/S   FAIL/S   WORKERS
      emails        12        3         1        1500        2      42.5      0.2         1

      workers (1)
      host-1-abc  host pid 1  queues emails  running 3/4  up 1m0s  seen 1.00s ago"
    `);
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
});
