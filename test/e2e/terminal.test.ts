import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { controlsIn, HOSTILE, HOSTILE_SHOWN } from '../helpers/util.js';
import { assertBuilt, runCli, startCli, type Result, type Running } from './helpers.js';

// ESC, OSC 0, OSC 8, clear screen, U+009B and U+202E in every field a user or a record in Redis
// can fill: the bytes the programs print hold no control character but the layout's line feeds.
// (In a pipe there are no colour codes either.)

let redis: TestRedis;
let worker: Running | undefined;
const Q = 'term';
const env = { NO_COLOR: '1' };

beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
});
afterAll(async () => {
  worker?.child.kill('SIGKILL');
  await redis?.destroy();
});

/** A --exec command that writes the hostile text on stderr and fails. */
const FAILING = `printf '%s\\n' 'first line' '${HOSTILE}' >&2; exit 3`;
/** One that prints it as its result. */
const SUCCEEDING = `printf '%s' '${HOSTILE}'`;

const cli = (name: 'task-publish' | 'task-monitor', args: string[]) => runCli(name, ['--redis', redis.url, ...args], { env });

/** Both streams of a program, checked for control characters; returns them for more checks. */
function clean(r: Result, what: string): Result {
  expect(controlsIn(r.stdout), `${what}: stdout\n${r.stdout}`).toEqual([]);
  expect(controlsIn(r.stderr), `${what}: stderr\n${r.stderr}`).toEqual([]);
  return r;
}

describe('the terminal sees no control characters', () => {
  let failedId: string;
  let doneId: string;

  beforeAll(async () => {
    const pub = await cli('task-publish', ['-q', Q, '--name', HOSTILE, '-a', '1', FAILING, SUCCEEDING]);
    expect(pub.code, pub.stderr).toBe(0);
    [failedId, doneId] = pub.stdout.trim().split('\n') as [string, string];
    const sched = await cli('task-publish', ['-q', Q, '--schedule', 'nightly', '--every', '1h', '--name', HOSTILE, SUCCEEDING]);
    expect(sched.code, sched.stderr).toBe(0);
    worker = startCli('task-worker', ['--redis', redis.url, '-q', Q, '--exec'], env);
    const c = redis.client();
    await waitFor(async () => (await c.zcard(`rt:{${Q}}:dead`)) === 1 && (await c.zcard(`rt:{${Q}}:completed`)) === 1, 20_000, 'both tasks ended');
    // A worker record with hostile fields, as a record written to Redis by anyone could have.
    const now = Date.now();
    await c.zadd(`rt:{${Q}}:workers`, now, HOSTILE);
    await c.hset(`rt:{${Q}}:winfo`, HOSTILE, JSON.stringify({ id: HOSTILE, host: HOSTILE, pid: 4242, queues: [Q, HOSTILE], concurrency: 1, running: 0, startedAt: now, version: HOSTILE.slice(0, 60), leaseMs: 60_000 }));
  });

  it("task-worker's log: task names, labels and a failed command's stderr", async () => {
    await waitFor(() => worker!.stderr().includes('dead-lettered'), 10_000, 'the failure logged');
    const log = worker!.stderr();
    expect(controlsIn(log), log).toEqual([]);
    expect(controlsIn(worker!.stdout())).toEqual([]);
    expect(log).toContain(`${Q}#${failedId} ${HOSTILE_SHOWN} failed in`);
    // The summary of a failed command is its last line of stderr.
    expect(log).toContain(`exit code 3: ${HOSTILE_SHOWN} (dead-lettered)`);
    expect(log).toContain(`${Q}#${doneId} ${HOSTILE_SHOWN} done in`);
  });

  it('task-monitor show: name, payload, result, error', async () => {
    const failed = clean(await cli('task-monitor', ['show', Q, failedId]), 'show failed').stdout;
    expect(failed).toContain(`${Q}#${failedId} ${HOSTILE_SHOWN}  dead`);
    // The error keeps its lines.
    expect(failed).toContain(`exit code 3: first line\n${HOSTILE_SHOWN}`);
    const done = clean(await cli('task-monitor', ['show', Q, doneId]), 'show completed').stdout;
    expect(done).toContain('result     "esc\\u001b title');
    expect(done).toContain('\\u009b2J rlo\\u202eexe.txt"');
    const json = clean(await cli('task-monitor', ['show', Q, doneId, '--json']), 'show --json').stdout;
    expect(JSON.parse(json)).toMatchObject({ name: HOSTILE, result: HOSTILE, data: SUCCEEDING });
  });

  it('task-monitor tasks, in text and JSON', async () => {
    const dead = clean(await cli('task-monitor', ['tasks', Q, '--state', 'dead']), 'tasks').stdout;
    expect(dead).toContain(`${HOSTILE_SHOWN}  "printf`);
    const json = clean(await cli('task-monitor', ['tasks', Q, '--state', 'completed', '--json']), 'tasks --json').stdout;
    expect(JSON.parse(json)).toMatchObject({ name: HOSTILE, data: SUCCEEDING });
  });

  it('task-monitor schedules, in text and JSON', async () => {
    const text = clean(await cli('task-monitor', ['schedules']), 'schedules').stdout;
    expect(text).toContain(`${HOSTILE_SHOWN.slice(0, 20)}`);
    const json = clean(await cli('task-monitor', ['schedules', '--json']), 'schedules --json').stdout;
    expect((JSON.parse(json) as { schedules: Array<{ taskName: string; data: string }> }).schedules[0]).toMatchObject({ taskName: HOSTILE, data: SUCCEEDING });
  });

  it('task-monitor --once: the table, the worker fields, and JSON', async () => {
    const text = clean(await cli('task-monitor', ['--once', '-q', Q]), '--once').stdout;
    expect(text).toContain(`${HOSTILE_SHOWN}  ${HOSTILE_SHOWN}`);
    expect(text).toContain(`4242  ${Q},${HOSTILE_SHOWN}`);
    const json = clean(await cli('task-monitor', ['--once', '--json', '-q', Q]), '--once --json').stdout;
    expect((JSON.parse(json) as { workers: Array<{ host: string }> }).workers.map((w) => w.host)).toContain(HOSTILE);
  });

  it('task-publish --wait: the error of a failed task on stderr; a result in JSON', async () => {
    const failed = clean(await cli('task-publish', ['-q', Q, '--name', HOSTILE, '-a', '1', '--wait', FAILING]), '--wait failed');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`failed after 1 attempt(s): exit code 3: first line\n${HOSTILE_SHOWN}`);
    const json = clean(await cli('task-publish', ['-q', Q, '--wait', '--json', SUCCEEDING]), '--wait --json');
    expect(JSON.parse(json.stdout)).toMatchObject({ state: 'completed', result: HOSTILE });
    // In a pipe, a result is data, as it is (escaped on a terminal only).
    const piped = await cli('task-publish', ['-q', Q, '--wait', SUCCEEDING]);
    expect(piped.stdout).toBe(`${HOSTILE}\n`);
  });

  it('the error line and usage errors quote what was given escaped', async () => {
    clean(await cli('task-monitor', ['show', Q, HOSTILE]), 'show <hostile id>');
    clean(await cli('task-monitor', ['cancel', HOSTILE]), 'cancel <hostile id>');
    const usage = clean(await cli('task-monitor', ['tasks', Q, '--state', HOSTILE]), 'a hostile choice');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain(HOSTILE_SHOWN);
    const queue = clean(await cli('task-publish', ['-q', HOSTILE, 'x']), 'a hostile queue name');
    expect(queue.code).toBe(2);
    // The queue name validator refuses it; its message quotes it as JSON, escaped for the terminal.
    expect(queue.stderr).toContain('\\u009b2J rlo\\u202eexe.txt');
  });

  it('a hostile queue name in the registry of queues: the monitor says so, escaped', async () => {
    await redis.client().sadd('rt:queues', HOSTILE);
    try {
      for (const args of [['--once'], ['--once', '--json'], ['schedules']]) {
        const r = clean(await cli('task-monitor', args), args.join(' '));
        expect(r.stderr, args.join(' ')).toContain('\\u202e');
      }
    } finally {
      await redis.client().srem('rt:queues', HOSTILE);
    }
  });
});
