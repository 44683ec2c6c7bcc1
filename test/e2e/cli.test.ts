import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { alive, assertBuilt, BIN, runCli, startCli, tmuxServer, type Running } from './helpers.js';

let redis: TestRedis;
const workers: Running[] = [];

beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await redis?.destroy();
});

interface MonitorJson {
  queues: Array<{ name: string; waiting: number; active: number; delayed: number; completed: number; failed: number }>;
  workers: Array<{ id: string; queues: string[] }>;
}

async function monitor(queue: string): Promise<MonitorJson> {
  const r = await runCli('task-monitor', ['--redis', redis.url, '--once', '--json', '-q', queue]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as MonitorJson;
}

describe('end to end', () => {
  it('1,000 piped tasks complete on two --exec workers although one is SIGKILLed halfway', async () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `echo out-${i + 1}`).join('\n');
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'e2e'], { input: `${lines}\n` });
    expect(pub.code, pub.stderr).toBe(0);
    const ids = pub.stdout.trim().split('\n');
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);

    const a = startCli('task-worker', ['--redis', redis.url, '-q', 'e2e', '--exec', '-c', '4']);
    const b = startCli('task-worker', ['--redis', redis.url, '-q', 'e2e', '--exec', '-c', '4']);
    workers.push(a, b);
    await waitFor(async () => (await monitor('e2e')).queues[0]!.completed >= 400, 60_000, '400 completed');
    a.child.kill('SIGKILL');
    const killed = await a.exited;
    expect(killed.signal).toBe('SIGKILL');

    const final = await waitFor(
      async () => {
        const m = await monitor('e2e');
        return m.queues[0]!.completed === 1000 ? m : undefined;
      },
      90_000,
      'all 1,000 completed',
    );
    expect(final.queues[0]).toMatchObject({ name: 'e2e', waiting: 0, active: 0, delayed: 0, completed: 1000, failed: 0 });
    // Every task's own output is its result: none lost, none mixed up.
    const results = await redis.client().hgetall('rt:{e2e}:results');
    expect(Object.keys(results)).toHaveLength(1000);
    ids.forEach((id, i) => expect(JSON.parse(results[id]!)).toBe(`out-${i + 1}\n`));
    b.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
  });

  it('the --exec commands of a SIGKILLed worker do not run on beside their retries (its watchdog stops them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redtask-wd-'));
    // One command ignores SIGTERM: SIGKILL comes 5 s later.
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'orphans', `echo $$ > ${dir}/a; exec sleep 60`, `trap '' TERM; echo $$ > ${dir}/b; while :; do sleep 0.1; done`]);
    expect(pub.code, pub.stderr).toBe(0);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'orphans', '--exec', '-c', '2']);
    workers.push(w);
    const pids = await waitFor(() => (existsSync(`${dir}/a`) && existsSync(`${dir}/b`) ? [Number(readFileSync(`${dir}/a`, 'utf8')), Number(readFileSync(`${dir}/b`, 'utf8'))] : undefined), 10_000, 'both commands started');
    expect(pids.every(alive)).toBe(true);
    w.child.kill('SIGKILL');
    await w.exited;
    await waitFor(() => !alive(pids[0]!), 3000, 'the first command stopped (SIGTERM)');
    expect(alive(pids[1]!)).toBe(true);
    await waitFor(() => !alive(pids[1]!), 8000, 'the second command stopped (SIGKILL)');
  });

  it('the default worker prints "Task processed: <payload>" and completes the task', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'printer', 'hello world', 'second task']);
    expect(pub.code).toBe(0);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'printer']);
    workers.push(w);
    await waitFor(() => w.stdout().includes('Task processed: second task'), 15_000, 'printed tasks');
    expect(w.stdout()).toBe('Task processed: hello world\nTask processed: second task\n');
    await waitFor(async () => (await monitor('printer')).queues[0]!.completed === 2, 10_000, 'completed');
    w.child.kill('SIGINT');
    expect((await w.exited).code).toBe(0);
    // Not a terminal: no color codes in the log.
    expect(w.stderr()).not.toContain('\u001b[');
    expect(w.stderr()).toMatch(/printer#1 started/);
    expect(w.stderr()).toMatch(/printer#1 done in/);
  });

  it('--exec failures carry stderr, retry with backoff and end dead-lettered', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'failing', '--attempts', '2', '--backoff', 'fixed:100ms', 'echo broken >&2; exit 7']);
    expect(pub.code).toBe(0);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'failing', '--exec']);
    workers.push(w);
    await waitFor(async () => (await monitor('failing')).queues[0]!.failed === 1, 15_000, 'dead-lettered');
    w.child.kill('SIGTERM');
    await w.exited;
    expect(w.stderr()).toMatch(/failing#1 failed in .*exit code 7: broken \(retry in/);
    expect(w.stderr()).toMatch(/failing#1 failed in .*\(dead-lettered\)/);
    const errors = JSON.parse((await redis.client().hget('rt:{failing}:errors', '1'))!) as Array<{ attempt: number; error: string }>;
    expect(errors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(errors[0]!.error).toBe('exit code 7: broken');
  });

  it('--exec keeps the end of a long stderr, where the reason is, in the error and the log line', async () => {
    const cmd = 'for i in $(seq 1 2000); do echo "progress line $i" >&2; done; echo "FATAL: disk full" >&2; exit 1';
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'longerr', '--attempts', '1', cmd]);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'longerr', '--exec']);
    workers.push(w);
    await waitFor(async () => (await monitor('longerr')).queues[0]!.failed === 1, 15_000, 'dead-lettered');
    w.child.kill('SIGTERM');
    await w.exited;
    expect(w.stderr()).toMatch(/longerr#\d+ failed in .*: exit code 1: FATAL: disk full \(dead-lettered\)/);
    const [entry] = JSON.parse((await redis.client().hget('rt:{longerr}:errors', id))!) as Array<{ error: string }>;
    expect(entry!.error).toMatch(/^exit code 1: ….*progress line 2000\nFATAL: disk full$/s);
    expect(entry!.error.length).toBeLessThanOrEqual(4096);
  });

  it('--exec passes TASK_ID, TASK_QUEUE, TASK_NAME and TASK_ATTEMPT', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'envq', '--name', 'greet', 'echo "$TASK_ID $TASK_QUEUE $TASK_NAME $TASK_ATTEMPT"']);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'envq', '--exec']);
    workers.push(w);
    const result = await waitFor(() => redis.client().hget('rt:{envq}:results', id), 15_000, 'result');
    expect(JSON.parse(result)).toBe(`${id} envq greet 1\n`);
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it('--exec keeps the last --max-output bytes of stdout as the result, decoded as UTF-8', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'outq', "printf 'head-'; printf '\\377'; printf 'é-tail'"]);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'outq', '--exec', '--max-output', '8']);
    workers.push(w);
    const result = await waitFor(() => redis.client().hget('rt:{outq}:results', id), 15_000, 'result');
    // 8 bytes kept: 0xFF (not UTF-8: U+FFFD), "é" (2 bytes) and "-tail".
    expect(JSON.parse(result)).toBe('\uFFFDé-tail');
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it('--handlers loads a module with handlers by task name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redtask-h-'));
    const mod = join(dir, 'handlers.mjs');
    writeFileSync(
      mod,
      `export async function double(task, { signal, progress }) { await progress(50); return { doubled: task.data.n * 2, aborted: signal.aborted }; }\n` +
        `export default function (task) { return 'fallback:' + task.name; }\n`,
    );
    const a = await runCli('task-publish', ['--redis', redis.url, '-q', 'mods', '--name', 'double', '--data-json', '{"n":21}']);
    const b = await runCli('task-publish', ['--redis', redis.url, '-q', 'mods', '--name', 'other', 'x']);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'mods', '--handlers', mod]);
    workers.push(w);
    const ra = await waitFor(() => redis.client().hget('rt:{mods}:results', a.stdout.trim()), 15_000, 'double result');
    const rb = await waitFor(() => redis.client().hget('rt:{mods}:results', b.stdout.trim()), 15_000, 'fallback result');
    expect(JSON.parse(ra)).toEqual({ doubled: 42, aborted: false });
    expect(JSON.parse(rb)).toBe('fallback:other');
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it('SIGTERM lets a running --exec task finish within the grace period', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'graceful', 'sleep 1; echo finished']);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'graceful', '--exec', '--grace', '10s']);
    workers.push(w);
    await waitFor(() => w.stderr().includes(`graceful#${id} started`), 15_000, 'started');
    w.child.kill('SIGTERM');
    const exit = await w.exited;
    expect(exit.code).toBe(0);
    expect(JSON.parse((await redis.client().hget('rt:{graceful}:results', id))!)).toBe('finished\n');
  });

  it('a second signal exits at once and the task comes back through its lease', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'forced', 'sleep 30']);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'forced', '--exec', '--lease', '1s']);
    workers.push(w);
    await waitFor(() => w.stderr().includes(`forced#${id} started`), 15_000, 'started');
    w.child.kill('SIGINT');
    await waitFor(() => w.stderr().includes('SIGINT: stopping'), 5000, 'drain message');
    w.child.kill('SIGINT');
    const exit = await w.exited;
    expect(exit.code).toBe(130);
    // The lease runs out and another worker's maintenance puts the task back in the queue.
    const w2 = startCli('task-worker', ['--redis', redis.url, '-q', 'forced', '--exec', '--lease', '1s']);
    workers.push(w2);
    await waitFor(() => w2.stderr().includes(`forced#${id} started (attempt 2/3)`), 15_000, 'restarted elsewhere');
    w2.child.kill('SIGKILL');
  });
});

describe('timeouts (end to end)', () => {
  it('--timeout stops an --exec command: its process group gets SIGTERM, and the attempt fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redtask-timeout-'));
    const pidFile = join(dir, 'pid');
    // The shell records its pid and then waits on a child sleep: both must die.
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'timeout-exec', '--timeout', '1s', '--attempts', '1', `echo $$ > ${pidFile}; sleep 60; echo survived`]);
    expect(pub.code, pub.stderr).toBe(0);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'timeout-exec', '--exec']);
    workers.push(w);
    await waitFor(() => w.stderr().includes(`timeout-exec#${id} failed`), 15_000, 'the attempt failed');
    expect(w.stderr()).toMatch(new RegExp(`timeout-exec#${id} failed in .*: timed out after 1.00s \\(dead-lettered\\)`));
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    await waitFor(() => !alive(pid), 5000, 'the command process is gone');
    const errors = JSON.parse((await redis.client().hget('rt:{timeout-exec}:errors', id))!) as Array<{ error: string }>;
    expect(errors[0]!.error).toBe('timed out after 1.00s');
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('queue administration (end to end)', () => {
  it('task-monitor pause / resume stop and restart a worker on the queue', async () => {
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'admin']);
    workers.push(w);
    await waitFor(() => w.stderr().includes('task-worker'), 10_000, 'worker started');
    const p = await runCli('task-monitor', ['pause', 'admin', '--redis', redis.url]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toContain('paused admin');
    await runCli('task-publish', ['--redis', redis.url, '-q', 'admin', 'held back']);
    const m = await runCli('task-monitor', ['--redis', redis.url, '--once', '-q', 'admin']);
    expect(m.stdout).toContain('admin (paused)');
    await new Promise((r) => setTimeout(r, 500));
    expect(w.stdout()).toBe('');
    const r = await runCli('task-monitor', ['resume', 'admin', '--redis', redis.url]);
    expect(r.code).toBe(0);
    await waitFor(() => w.stdout().includes('Task processed: held back'), 10_000, 'processed after resume');
    w.child.kill('SIGTERM');
    await w.exited;
  });

  it('task-monitor config sets maxWaiting; publishing past it is one line and exit 1, nothing of the batch accepted', async () => {
    const cfg = await runCli('task-monitor', ['config', 'capped', '--max-waiting', '2', '--keep-completed', '50', '--redis', redis.url]);
    expect(cfg.code, cfg.stderr).toBe(0);
    expect(JSON.parse(cfg.stdout)).toEqual({ queue: 'capped', maxWaiting: 2, keepCompleted: 50 });
    const limits = await runCli('task-monitor', ['config', 'limited', '--max-active', '3', '--rate', '100/1s', '--redis', redis.url]);
    expect(limits.code, limits.stderr).toBe(0);
    expect(JSON.parse(limits.stdout)).toEqual({ queue: 'limited', maxActive: 3, rateMax: 100, rateWindowMs: 1000 });
    const badRate = await runCli('task-monitor', ['config', 'limited', '--rate', 'lots', '--redis', redis.url]);
    expect(badRate.code).toBe(2);
    expect((await runCli('task-publish', ['--redis', redis.url, '-q', 'capped', 'a', 'b'])).code).toBe(0);
    const full = await runCli('task-publish', ['--redis', redis.url, '-q', 'capped', 'c', 'd']);
    expect(full.code).toBe(1);
    expect(full.stderr.trim().split('\n')).toHaveLength(1);
    expect(full.stderr).toMatch(/queue capped is full: 2 tasks waiting/);
    expect(await redis.client().llen('rt:{capped}:wait')).toBe(2);
    const show = await runCli('task-monitor', ['config', 'capped', '--redis', redis.url]);
    expect(JSON.parse(show.stdout)).toEqual({ queue: 'capped', maxWaiting: 2, keepCompleted: 50 });
  });

  it('a run stopped partway prints the ids of what was accepted (a full queue, a bad line under --wait), and a --wait timeout names the tasks not waited for', async () => {
    // 1,500 arguments go in calls of 1,000: the first call fits under maxWaiting 1,200, the second not.
    await runCli('task-monitor', ['config', 'part', '--max-waiting', '1200', '--redis', redis.url]);
    const many = await runCli('task-publish', ['--redis', redis.url, '-q', 'part', ...Array.from({ length: 1500 }, (_, i) => `t${i}`)]);
    expect(many.code).toBe(1);
    expect(many.stderr.trim().split('\n')).toEqual([expect.stringMatching(/queue part is full: .*the first 1000 tasks were accepted/)]);
    const printed = many.stdout.trim().split('\n');
    expect(printed).toHaveLength(1000);
    expect(await redis.client().llen('rt:{part}:wait')).toBe(1000);
    expect(printed[0]).toBe('1');
    // With --wait, a bad third line: the two tasks before it were queued, and their ids are printed.
    const bad = await runCli('task-publish', ['--redis', redis.url, '-q', 'part-wait', '--data-json', '--wait'], { input: '1\n2\nbad\n' });
    expect(bad.code).toBe(2);
    expect(bad.stdout.trim().split('\n')).toEqual(['1', '2']);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/line 3: .*lines 1-2 were queued/)]);
    // Nobody works the queue: the first task times out, and the line names the second.
    const slow = await runCli('task-publish', ['--redis', redis.url, '-q', 'part-slow', '--wait', '--wait-timeout', '300ms', 'echo a', 'echo b']);
    expect(slow.code).toBe(1);
    expect(slow.stderr.trim().split('\n')).toEqual([expect.stringMatching(/part-slow#1 is still waiting .*; not waited for: part-slow#2$/)]);
  });
});

describe('priorities (end to end)', () => {
  it('--priority orders the work, negative values included', async () => {
    for (const [task, prio] of [['low', '-5'], ['normal', '0'], ['high', '7']]) {
      const r = await runCli('task-publish', ['--redis', redis.url, '-q', 'prio-cli', '--priority', prio!, task!]);
      expect(r.code, r.stderr).toBe(0);
    }
    const bad = await runCli('task-publish', ['--redis', redis.url, '-q', 'prio-cli', '--priority', '101', 'x']);
    expect(bad.code).toBe(2);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'prio-cli']);
    workers.push(w);
    await waitFor(() => w.stdout().split('\n').length > 3, 10_000, 'three tasks');
    expect(w.stdout()).toBe('Task processed: high\nTask processed: normal\nTask processed: low\n');
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('idempotency keys (end to end)', () => {
  it('--key prints the first task\'s id again and queues nothing new', async () => {
    const a = await runCli('task-publish', ['--redis', redis.url, '-q', 'idem-cli', '--key', 'invoice-42', 'echo bill']);
    const b = await runCli('task-publish', ['--redis', redis.url, '-q', 'idem-cli', '--key', 'invoice-42', 'echo bill']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(await redis.client().llen('rt:{idem-cli}:wait')).toBe(1);
  });
});

describe('cancellation (end to end)', () => {
  it('task-monitor cancel stops a running --exec command and the task is not retried', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redtask-cancel-'));
    const pidFile = join(dir, 'pid');
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'cancel-cli', `echo $$ > ${pidFile}; sleep 60`]);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'cancel-cli', '--exec']);
    workers.push(w);
    await waitFor(() => w.stderr().includes(`cancel-cli#${id} started`), 10_000, 'started');
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 5000, 'pid written');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const r = await runCli('task-monitor', ['cancel', 'cancel-cli', id, '--redis', redis.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`cancelled cancel-cli#${id} (was active)`);
    await waitFor(() => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 10_000, 'the command was killed');
    await waitFor(() => w.stderr().includes(`cancel-cli#${id} cancelled`), 5000, 'worker log');
    const again = await runCli('task-monitor', ['cancel', 'cancel-cli', id, '--redis', redis.url]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    const m = await runCli('task-monitor', ['--redis', redis.url, '--once', '--json', '-q', 'cancel-cli']);
    expect(JSON.parse(m.stdout).queues[0]).toMatchObject({ active: 0, waiting: 0, failed: 0, cancelled: 1 });
    expect(w.stderr()).not.toContain('attempt 2/');
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('fair groups (end to end)', () => {
  it('--group serves a small tenant between the tasks of a big one', async () => {
    const big = Array.from({ length: 300 }, (_, i) => `big-${i}`).join('\n');
    expect((await runCli('task-publish', ['--redis', redis.url, '-q', 'groups-cli', '--group', 'big'], { input: `${big}\n` })).code).toBe(0);
    expect((await runCli('task-publish', ['--redis', redis.url, '-q', 'groups-cli', '--group', 'small', 'small-1', 'small-2'])).code).toBe(0);
    const bad = await runCli('task-publish', ['--redis', redis.url, '-q', 'groups-cli', '--group', 'no spaces', 'x']);
    expect(bad.code).toBe(2);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'groups-cli']);
    workers.push(w);
    await waitFor(() => w.stdout().includes('Task processed: small-2'), 10_000, 'small tenant served');
    const lines = w.stdout().trim().split('\n');
    expect(lines.indexOf('Task processed: small-2')).toBeLessThan(6);
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('delays (end to end)', () => {
  it('--delay and --at hold a task until its time; a bad --at is a usage error', async () => {
    const soon = new Date(Date.now() + 3000).toISOString();
    expect((await runCli('task-publish', ['--redis', redis.url, '-q', 'delay-cli', '--delay', '1500ms', 'after-delay'])).code).toBe(0);
    expect((await runCli('task-publish', ['--redis', redis.url, '-q', 'delay-cli', '--at', soon, 'at-time'])).code).toBe(0);
    const m = await runCli('task-monitor', ['--redis', redis.url, '--once', '--json', '-q', 'delay-cli']);
    expect(JSON.parse(m.stdout).queues[0]).toMatchObject({ waiting: 0, delayed: 2 });
    const bad = await runCli('task-publish', ['--redis', redis.url, '-q', 'delay-cli', '--at', 'next tuesday', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid --at/);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'delay-cli']);
    workers.push(w);
    await waitFor(() => w.stdout().includes('Task processed: at-time'), 10_000, 'both ran');
    expect(w.stdout()).toBe('Task processed: after-delay\nTask processed: at-time\n');
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(soon));
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('--wait (end to end)', () => {
  it('prints the result and exits 0; a dead-lettered task exits 1; --wait-timeout gives up with 1', async () => {
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'wait-cli', '--exec']);
    workers.push(w);
    const ok = await runCli('task-publish', ['--redis', redis.url, '-q', 'wait-cli', '--wait', 'echo the answer is 42']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toBe('the answer is 42\n');
    const bad = await runCli('task-publish', ['--redis', redis.url, '-q', 'wait-cli', '--wait', '--attempts', '2', '--backoff', 'fixed:50ms', 'echo nope >&2; exit 3']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/wait-cli#\d+ failed after 2 attempt\(s\): exit code 3: nope/);
    // The same key again: no second run, the first run's result.
    const first = await runCli('task-publish', ['--redis', redis.url, '-q', 'wait-cli', '--wait', '--key', 'k1', 'echo $TASK_ID']);
    const again = await runCli('task-publish', ['--redis', redis.url, '-q', 'wait-cli', '--wait', '--key', 'k1', 'echo $TASK_ID']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    w.child.kill('SIGTERM');
    await w.exited;
    const slow = await runCli('task-publish', ['--redis', redis.url, '-q', 'wait-cli', '--wait', '--wait-timeout', '300ms', 'echo nobody runs me']);
    expect(slow.code).toBe(1);
    expect(slow.stderr.trim().split('\n')).toHaveLength(1);
    expect(slow.stderr).toMatch(/still waiting/);
  });
});

describe('--exec commands at shutdown (end to end)', () => {
  const ignoring = (dir: string, name: string) => `trap '' TERM; echo $$ > ${join(dir, name)}; sleep 60`;

  it('a command that ignores SIGTERM does not outlive the worker: SIGKILL after its grace, or at once on a second signal', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redtask-stubborn-'));
    for (const [name, signals] of [['one', 1], ['two', 2]] as const) {
      await runCli('task-publish', ['--redis', redis.url, '-q', `stubborn-${name}`, ignoring(dir, name)]);
      const w = startCli('task-worker', ['--redis', redis.url, '-q', `stubborn-${name}`, '--exec', '--grace', '100ms']);
      workers.push(w);
      const pidFile = join(dir, name);
      await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 10_000, 'the command to start');
      const pid = Number(readFileSync(pidFile, 'utf8'));
      expect(alive(pid)).toBe(true);
      w.child.kill('SIGTERM');
      if (signals === 2) {
        await waitFor(() => w.stderr().includes('stopping'), 5000, 'stopping');
        w.child.kill('SIGTERM');
      }
      await w.exited;
      await waitFor(() => !alive(pid), 2000, `command ${pid} gone`);
    }
  });
});

describe('--wait with nothing kept (end to end)', () => {
  it('prints every result of a piped batch in order, though the queue keeps none and the tasks end before it asks', async () => {
    const cfg = await runCli('task-monitor', ['config', 'wait-many', '--keep-completed', '0', '--redis', redis.url]);
    expect(cfg.code, cfg.stderr).toBe(0);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'wait-many', '--exec', '-c', '8']);
    workers.push(w);
    const lines = Array.from({ length: 300 }, (_, i) => `echo r${i}`).join('\n');
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'wait-many', '--wait'], { input: `${lines}\n`, timeoutMs: 60_000 });
    expect(pub.code, pub.stderr).toBe(0);
    expect(pub.stdout).toBe(Array.from({ length: 300 }, (_, i) => `r${i}\n`).join(''));
    expect(pub.stderr).toBe('');
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('worker logs (end to end)', () => {
  it('--json logs one JSON object per event; --quiet drops the per-task lines but keeps the summary', async () => {
    await runCli('task-publish', ['--redis', redis.url, '-q', 'logs-json', 'echo a', 'exit 4']);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'logs-json', '--exec', '--json']);
    workers.push(w);
    await waitFor(() => w.stderr().includes('"task.completed"') && w.stderr().includes('"task.failed"'), 10_000, 'events');
    w.child.kill('SIGTERM');
    await w.exited;
    const events = w.stderr().trim().split('\n').map((l) => JSON.parse(l) as { event: string; level: string; time: string; id?: string; queue?: string; msg: string });
    expect(events[0]).toMatchObject({ event: 'worker.start', queues: ['logs-json'] });
    expect(events.find((e) => e.event === 'task.completed')).toMatchObject({ queue: 'logs-json', id: '1', level: 'info' });
    expect(events.find((e) => e.event === 'task.failed')).toMatchObject({ queue: 'logs-json', id: '2', level: 'warn', error: 'exit code 4' });
    for (const e of events) {
      expect(Number.isNaN(Date.parse(e.time))).toBe(false);
      expect(e.msg).not.toContain('\u001b[');
    }

    await runCli('task-publish', ['--redis', redis.url, '-q', 'logs-quiet', 'echo b', 'echo c']);
    const q = startCli('task-worker', ['--redis', redis.url, '-q', 'logs-quiet', '--exec', '--quiet', '--summary-every', '300ms']);
    workers.push(q);
    await waitFor(() => /summary: 2 done, 0 failed/.test(q.stderr()), 10_000, 'summary line');
    q.child.kill('SIGTERM');
    await q.exited;
    expect(q.stderr()).not.toMatch(/started|done in/);
    expect(q.stderr()).toMatch(/task-worker .*: worker/);
  });
});

describe('inspect and retry (end to end)', () => {
  it('a corrupt schedule definition or errors entry is listed as corrupt with its reason, exit 0', async () => {
    const admin = redis.client();
    await admin.hset('rt:{corrupt-sched}:schedules', 'nightly', '{"rev":"abc", broken');
    const sched = await runCli('task-monitor', ['--redis', redis.url, 'schedules', '-q', 'corrupt-sched']);
    expect(sched.code, sched.stderr).toBe(0);
    expect(sched.stdout).toMatch(/^corrupt-sched\s+nightly\s+-\s+paused \(corrupt\).*corrupt: its definition: not valid JSON$/m);
    const json = await runCli('task-monitor', ['--redis', redis.url, 'schedules', '-q', 'corrupt-sched', '--json']);
    expect((JSON.parse(json.stdout) as { schedules: unknown[] }).schedules).toEqual([
      expect.objectContaining({ name: 'nightly', paused: true, corrupt: 'its definition: not valid JSON' }),
    ]);
    const id = (await runCli('task-publish', ['--redis', redis.url, '-q', 'corrupt-errs', 'x'])).stdout.trim();
    await admin.hset('rt:{corrupt-errs}:errors', id, '[{"attempt":1,');
    const show = await runCli('task-monitor', ['--redis', redis.url, 'show', 'corrupt-errs', id]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain('corrupt    its errors: not valid JSON');
    expect(show.stdout).toContain('payload    "x"');
    // (The other tests of this file share the server: what is corrupt goes.)
    await admin.del('rt:{corrupt-sched}:schedules', 'rt:{corrupt-errs}:errors');
  });

  it('task-monitor tasks, show and retry --all-dead', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'inspect-cli', '--attempts', '1', 'exit 9']);
    const id = pub.stdout.trim();
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'inspect-cli', '--exec']);
    workers.push(w);
    await waitFor(() => w.stderr().includes('dead-lettered'), 10_000, 'dead');
    const list = await runCli('task-monitor', ['tasks', 'inspect-cli', '--state', 'dead', '--redis', redis.url]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^\\s*${id}  dead .*"exit 9"\\n$`));
    const show = await runCli('task-monitor', ['show', 'inspect-cli', id, '--redis', redis.url]);
    expect(show.stdout).toContain(`inspect-cli#${id}  dead`);
    expect(show.stdout).toMatch(/attempt 1 failed at .*: exit code 9/);
    const json = await runCli('task-monitor', ['show', 'inspect-cli', id, '--json', '--redis', redis.url]);
    const shown = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(shown).toMatchObject({ id, state: 'dead', data: 'exit 9', attempts: 1, maxAttempts: 1, priority: 0, backoff: { type: 'exponential' } });
    // The user's words, not the storage codes.
    expect(shown).not.toHaveProperty('opts');
    expect(shown).not.toHaveProperty('made');
    const retry = await runCli('task-monitor', ['retry', 'inspect-cli', '--all-dead', '--redis', redis.url]);
    expect(retry.code).toBe(0);
    expect(retry.stderr).toContain('sent 1 task(s) of inspect-cli back to the queue');
    await waitFor(() => (w.stderr().match(/dead-lettered/g) ?? []).length === 2, 10_000, 'ran again');
    // The same id twice is one task: all of it was sent back.
    const twice = await runCli('task-monitor', ['retry', 'inspect-cli', id, id, '--redis', redis.url]);
    expect([twice.code, twice.stderr]).toEqual([0, 'sent 1 task(s) of inspect-cli back to the queue\n']);
    await waitFor(() => (w.stderr().match(/dead-lettered/g) ?? []).length === 3, 10_000, 'ran a third time');
    // A queue name alone is not a task id.
    const noIds = await runCli('task-monitor', ['retry', 'inspect-cli', '--redis', redis.url]);
    expect(noIds.code).toBe(2);
    expect(noIds.stderr.trim().split('\n')).toHaveLength(1);
    expect(noIds.stderr).toContain('give task ids of inspect-cli, or --all-dead');
    const missing = await runCli('task-monitor', ['show', 'inspect-cli', '999', '--redis', redis.url]);
    expect(missing.code).toBe(1);
    const bad = await runCli('task-monitor', ['tasks', 'inspect-cli', '--state', 'sleeping', '--redis', redis.url]);
    expect(bad.code).toBe(2);
    w.child.kill('SIGTERM');
    await w.exited;
  });
});

describe('destructive admin commands (end to end)', () => {
  it('delete, purge and fsck ask on a terminal; --yes and pipes go on', async () => {
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'destroy', 'a', 'b', 'c']);
    const [a] = pub.stdout.trim().split('\n');
    // On a terminal, anything but "y" keeps the task.
    const cmd = `${process.execPath} ${BIN('task-monitor')} delete destroy ${a} --redis ${redis.url}`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await waitFor(() => screen.includes('[y/N]'), 10_000, 'question');
    child.stdin.write('n\r');
    expect(await exited).toBe(1);
    expect(screen).toContain('nothing done');
    expect(await redis.client().llen('rt:{destroy}:wait')).toBe(3);
    const del = await runCli('task-monitor', ['delete', 'destroy', a!, '--yes', '--redis', redis.url]);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stderr).toContain(`deleted destroy#${a} (was waiting)`);
    const purge = await runCli('task-monitor', ['purge', 'destroy', '--state', 'waiting', '--redis', redis.url]);
    expect(purge.code, purge.stderr).toBe(0);
    expect(purge.stderr).toContain('purged 2 waiting task(s) of destroy');
    const noState = await runCli('task-monitor', ['purge', 'destroy', '--redis', redis.url]);
    expect(noState.code).toBe(2);
    await redis.client().zadd('rt:{destroy}:lease', Date.now() + 60_000, '777');
    const fsck = await runCli('task-monitor', ['fsck', 'destroy', '--json', '--redis', redis.url]);
    expect(fsck.code, fsck.stderr).toBe(0);
    expect(JSON.parse(fsck.stdout)).toEqual({ queue: 'destroy', orphanActive: 0, staleLease: 1, orphanRecord: 0, groupCounts: 0, schedules: 0, setAside: [] });
  });
});

describe('live monitor (end to end)', () => {
  it('redraws in place on a terminal (tmux) with queues, the sparkline, schedules and workers', async () => {
    await runCli('task-publish', ['--redis', redis.url, '-q', 'live', 'echo a', 'echo b']);
    await runCli('task-publish', ['--redis', redis.url, '-q', 'live', '--schedule', 'hourly', '--cron', '0 * * * *', 'echo tick']);
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'live', '--exec']);
    workers.push(w);
    const tmux = tmuxServer('redtask-live');
    try {
      tmux.start(`${process.execPath} ${BIN('task-monitor')} --redis ${redis.url} -q live --interval 200ms`, 140, 30);
      const screen = await waitFor(() => {
        const text = tmux.screen();
        return text.includes('schedules (1)') && /workers \(1\)/.test(text) && /live\s+0\s+0\s+0\s+2\s+0/.test(text) ? text : undefined;
      }, 10_000, 'the live view');
      expect(screen).toContain('redtask monitor');
      expect(screen).toMatch(/live\s+0\s+0\s+0\s+2\s+0/);
      expect(screen).toContain('completed per second, last minute');
      expect(screen).toMatch(/live\/hourly {2}cron "0 \* \* \* \*" {2}next /);
      // Redrawn in place: the header appears once on the screen, and the clock moves.
      expect(screen.match(/redtask monitor/g)).toHaveLength(1);
      const stamp = /(\d\d:\d\d:\d\d) UTC/.exec(screen)![1];
      await waitFor(() => !tmux.screen().includes(`${stamp} UTC`), 5000, 'a redraw');
      expect(tmux.screen().match(/redtask monitor/g)).toHaveLength(1);
    } finally {
      tmux.kill();
      w.child.kill('SIGTERM');
      await w.exited;
    }
  });

  it('prints one line per queue per refresh in a pipe', async () => {
    const m = startCli('task-monitor', ['--redis', redis.url, '-q', 'live', '--interval', '150ms']);
    await waitFor(() => m.stdout().trim().split('\n').length >= 3, 10_000, 'three refreshes');
    m.child.kill('SIGTERM');
    await m.exited;
    for (const line of m.stdout().trim().split('\n')) expect(line).toMatch(/^\S+Z queue=live waiting=\d+ active=\d+ .* workers=\d+$/);
    expect(m.stdout()).not.toContain('\u001b[');
  });
});

describe('admin commands by id alone (end to end)', () => {
  it('show / cancel find the queue of an id that only one queue has; an id in several queues is a usage error', async () => {
    const lines = Array.from({ length: 1005 }, (_, i) => `task ${i + 1}`).join('\n');
    const pub = await runCli('task-publish', ['--redis', redis.url, '-q', 'uniq'], { input: `${lines}\n` });
    expect(pub.code).toBe(0);
    const show = await runCli('task-monitor', ['show', '1003', '--json', '--redis', redis.url]);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ queue: 'uniq', id: '1003', data: 'task 1003', state: 'waiting' });
    const cancel = await runCli('task-monitor', ['cancel', '1004', '--redis', redis.url]);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stderr).toContain('cancelled uniq#1004 (was waiting)');
    const ambiguous = await runCli('task-monitor', ['show', '1', '--redis', redis.url]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr.trim().split('\n')).toHaveLength(1);
    expect(ambiguous.stderr).toMatch(/task 1 exists in queues .*uniq.*: give the queue/);
    const unknown = await runCli('task-monitor', ['show', '99999', '--redis', redis.url]);
    expect(unknown.code).toBe(1);
  });
});

describe('--wait spinner (end to end)', () => {
  it('shows a spinner on a terminal (tmux) while it waits, then the result in its place', async () => {
    const w = startCli('task-worker', ['--redis', redis.url, '-q', 'spinner', '--exec']);
    workers.push(w);
    const tmux = tmuxServer('redtask-spin');
    try {
      tmux.start(`${process.execPath} ${BIN('task-publish')} --redis ${redis.url} -q spinner --wait 'sleep 1.5; echo spun'; echo EXIT=$?; sleep 30`, 100, 10);
      const during = await waitFor(() => {
        const text = tmux.screen();
        return text.includes('waiting for spinner#1') ? text : undefined;
      }, 10_000, 'the spinner');
      expect(during).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] waiting for spinner#1/);
      const after = await waitFor(() => {
        const text = tmux.screen();
        return text.includes('EXIT=0') ? text : undefined;
      }, 10_000, 'the result');
      expect(after).toContain('spun');
      expect(after).not.toContain('waiting for spinner#1');
    } finally {
      tmux.kill();
      w.child.kill('SIGTERM');
      await w.exited;
    }
  });
});

describe('command-line contract', () => {
  it('--help and --version exit 0 for all three programs', async () => {
    for (const name of ['task-publish', 'task-worker', 'task-monitor'] as const) {
      const h = await runCli(name, ['--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain(`Usage: ${name}`);
      const v = await runCli(name, ['--version']);
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  it('a malformed option is one line on stderr and exit 2', async () => {
    const cases: Array<[Parameters<typeof runCli>[0], string[]]> = [
      ['task-publish', ['--attempts', 'zero', 'x']],
      ['task-publish', ['--backoff', 'sometimes', 'x']],
      ['task-publish', ['--queue', 'bad{name}', 'x']],
      ['task-worker', ['--concurrency', '0']],
      ['task-worker', ['--lease', 'soon']],
      ['task-monitor', ['--interval', 'often']],
      ['task-monitor', ['--interval', '0']],
      ['task-worker', ['--timeout', '0']],
      ['task-worker', ['--exec', '--cwd', '/nonexistent-dir']],
      ['task-worker', ['--exec', '--cwd', '/etc/hostname']],
      ['task-worker', ['--cwd', '/tmp']],
      ['task-worker', ['--timeout', '30d']],
      ['task-worker', ['--summary-every', '0']],
      ['task-publish', ['--timeout', '25d', 'x']],
      ['task-publish', ['--at', '1', 'x']],
      ['task-publish', ['--wait-timeout', '1s', 'x']],
      ['task-publish', ['--key', '', 'x']],
      ['task-publish', ['--schedule', 's', '--every', '1m', '--wait', 'x']],
      ['task-monitor', ['--redis', 'http://localhost', '--once']],
      ['task-publish', ['--no-such-option']],
    ];
    for (const [name, args] of cases) {
      const r = await runCli(name, ['--redis', redis.url, ...args]);
      expect(r.code, `${name} ${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split('\n'), `${name} ${args.join(' ')}`).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
  });

  it('an unreachable Redis is one line naming the URL (password hidden) and exit 3', async () => {
    for (const name of ['task-publish', 'task-monitor'] as const) {
      const r = await runCli(name, ['--redis', 'redis://user:hunter2@127.0.0.1:1/0', ...(name === 'task-publish' ? ['x'] : ['--once'])]);
      expect(r.code).toBe(3);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('redis://user:***@127.0.0.1:1/0');
      expect(r.stderr).not.toContain('hunter2');
    }
  });

  it('a database the server does not have is one line and exit 2 for every program, and nothing goes to database 0', async () => {
    const admin = redis.client();
    const before = await admin.dbsize();
    const url = `redis://127.0.0.1:${redis.port}/99`;
    for (const [name, args] of [['task-publish', ['-q', 'nodb', 'x']], ['task-monitor', ['--once']], ['task-worker', ['-q', 'nodb']]] as const) {
      const r = await runCli(name, ['--redis', url, ...args]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      // (task-worker prints its start-up line first, before it connects.)
      const lines = r.stderr.trim().split('\n');
      expect(lines.slice(name === 'task-worker' ? 1 : 0), name).toEqual([`${name}: cannot use database 99 of Redis at ${url}: ERR DB index is out of range`]);
    }
    expect(await admin.dbsize()).toBe(before);
  });

  it('a reader that goes away (| head -1) stops no publishing and prints no stack trace', async () => {
    const bash = async (cmd: string) => {
      const p = spawn('bash', ['-c', cmd]);
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await new Promise((r) => p.on('close', r));
      return { out: out.trim().split('\n'), err };
    };
    // The ids of 5,000 piped tasks into a reader that takes one line: every task is queued.
    const pub = await bash(`seq 1 5000 | node ${BIN('task-publish')} --redis ${redis.url} -q epipe | head -1; echo "rc=\${PIPESTATUS[1]}"`);
    expect(pub.out).toEqual([expect.stringMatching(/^\d+$/), 'rc=0']);
    expect(pub.err).toBe('');
    expect(await redis.client().llen('rt:{epipe}:wait')).toBe(5000);
    // A listing cut short ends quietly with 0.
    const mon = await bash(`node ${BIN('task-monitor')} --redis ${redis.url} tasks epipe --limit 1000 | head -1; echo "rc=\${PIPESTATUS[0]}"`);
    expect(mon.out).toEqual([expect.stringContaining('waiting'), 'rc=0']);
    expect(mon.err).toBe('');
  });

  it('the worker waits for an unreachable Redis instead of exiting, and says so', async () => {
    const w = startCli('task-worker', ['--redis', 'redis://127.0.0.1:1']);
    workers.push(w);
    await waitFor(() => w.stderr().includes('waiting for Redis at redis://127.0.0.1:1'), 10_000, 'waiting message');
    expect(w.child.exitCode).toBeNull();
    w.child.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
  });

  it('REDIS_URL is used when --redis is not given', async () => {
    const r = await runCli('task-publish', ['-q', 'fromenv', 'x'], { env: { REDIS_URL: redis.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(await redis.client().llen('rt:{fromenv}:wait')).toBe(1);
  });

  it('--json prints one object per task and ids in input order', async () => {
    const r = await runCli('task-publish', ['--redis', redis.url, '-q', 'jsonq', '--json'], { input: 'a\nb\n\nc\n' });
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; queue: string });
    expect(rows).toEqual([
      { id: '1', queue: 'jsonq' },
      { id: '2', queue: 'jsonq' },
      { id: '3', queue: 'jsonq' },
    ]);
  });

  it('a pipe splits at newlines only: CRLF ends a line, a lone CR stays in it, a last line without a newline counts', async () => {
    const r = await runCli('task-publish', ['--redis', redis.url, '-q', 'crlf'], { input: 'a\r\nb\rc\r\n\r\nd' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1\n2\n3\n');
    // A record ends with its payload JSON, after the sixth '|'.
    const payloads = (await redis.client().lrange('rt:{crlf}:wait', 0, -1)).reverse().map((e) => JSON.parse(e.split('|').slice(6).join('|')) as unknown);
    expect(payloads).toEqual(['a', 'b\rc', 'd']);
  });

  it('--data-json reports a bad line with its number: the lines before it are queued, it says nothing after was', async () => {
    const r = await runCli('task-publish', ['--redis', redis.url, '-q', 'badjson', '--data-json'], { input: '{"a":1}\n{oops\n{"b":2}\n' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/line 2: not valid JSON .*; line 1 was queued, nothing from line 2 on$/);
    expect(r.stdout).toBe('1\n');
    const items = await redis.client().lrange('rt:{badjson}:wait', 0, -1);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatch(/\|\{"a":1\}$/);
  });

  it('an oversized payload is refused with one line and exit 2', async () => {
    const big = 'x'.repeat(1024 * 1024 + 10);
    const dir = mkdtempSync(join(tmpdir(), 'redtask-big-'));
    writeFileSync(join(dir, 'big.txt'), `${big}\n`);
    const out = (() => {
      try {
        execFileSync(process.execPath, [BIN('task-publish'), '--redis', redis.url, '-q', 'big'], { input: `${big}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
        return { code: 0, stderr: '' };
      } catch (err) {
        const e = err as { status: number; stderr: Buffer };
        return { code: e.status, stderr: e.stderr.toString() };
      }
    })();
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/larger than the limit/);
  });

  it('an oversized line in a pipe: the lines before it are queued, its number is named, nothing after goes', async () => {
    const lines = Array.from({ length: 1500 }, (_, i) => (i === 1199 ? 'y'.repeat(1024 * 1024 + 10) : `task ${i + 1}`));
    const r = await runCli('task-publish', ['--redis', redis.url, '-q', 'big-pipe'], { input: `${lines.join('\n')}\n` });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/line 1200: payload of \d+ bytes is larger than the limit .*; lines 1-1199 were queued, nothing from line 1200 on/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1199);
    const mon = await runCli('task-monitor', ['--redis', redis.url, '--once', '--json', '-q', 'big-pipe']);
    expect(JSON.parse(mon.stdout).queues[0].waiting).toBe(1199);
  });

  it('the interactive prompt enqueues each line until Ctrl-D (through a real pseudo-terminal)', async () => {
    // script(1) gives the program a pty as stdin/stdout, as a person's terminal would.
    const cmd = `${process.execPath} ${BIN('task-publish')} --redis ${redis.url} -q prompt`;
    const out = execFileSync('script', ['-qfec', cmd, '/dev/null'], {
      input: 'echo first\necho second\n\x04',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 20_000,
    }).toString();
    expect(out).toContain('Please enter the task:');
    expect(out).toMatch(/queued prompt#1/);
    expect(out).toMatch(/queued prompt#2/);
    const items = await redis.client().lrange('rt:{prompt}:wait', 0, -1);
    expect(items).toHaveLength(2);
    expect(items.some((e) => e.endsWith('"echo first"'))).toBe(true);
    expect(items.some((e) => e.endsWith('"echo second"'))).toBe(true);
  });

  it('Ctrl-C at the prompt exits 130 and keeps what was already queued', async () => {
    // Typed as a person would: each key after the prompt is on the screen.
    const cmd = `${process.execPath} ${BIN('task-publish')} --redis ${redis.url} -q prompt-int`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    await waitFor(() => screen.includes('Please enter the task:'), 10_000, 'prompt');
    child.stdin.write('echo kept\r');
    await waitFor(() => screen.includes('queued prompt-int#1'), 10_000, 'confirmation');
    child.stdin.write('\x03');
    expect(await exited).toBe(130);
    expect(await redis.client().llen('rt:{prompt-int}:wait')).toBe(1);
  });
});
