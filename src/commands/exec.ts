import { spawn } from 'node:child_process';
import type { HandlerContext, Task } from '../shared/worker.js';

export interface ExecOptions {
  /** Working directory of the command (default: the worker's). */
  cwd?: string;
  /** Bytes of stdout kept as the result, and of stderr kept for the error (default 1 MiB). */
  maxOutput?: number;
  /** After SIGTERM, how long the command gets before SIGKILL (default 5 s). */
  killGraceMs?: number;
}

/** Thrown when a command exits with a code other than 0. */
export class CommandFailedError extends Error {
  override name = 'CommandFailedError';
  constructor(
    message: string,
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
  }
}

function tail(chunks: Buffer[], max: number): string {
  const all = Buffer.concat(chunks);
  return (all.length > max ? all.subarray(all.length - max) : all).toString('utf8');
}

/**
 * Runs a task's payload as `/bin/sh -c <payload>` in its own process group, with TASK_ID,
 * TASK_QUEUE, TASK_NAME and TASK_ATTEMPT set (and TASK_SCHEDULE, TASK_DUE for a schedule's
 * task). Exit 0 resolves to stdout; any other exit rejects with stderr (or the exit code) as
 * the message. When the signal aborts, the whole process group gets SIGTERM, then SIGKILL after
 * the grace period.
 */
export function execTask(task: Task, ctx: HandlerContext, opts: ExecOptions = {}): Promise<string> {
  const command = typeof task.data === 'string' ? task.data : JSON.stringify(task.data);
  const max = opts.maxOutput ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: opts.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TASK_ID: task.id,
        TASK_QUEUE: task.queue,
        TASK_NAME: task.name,
        TASK_ATTEMPT: String(task.attempt),
        ...(task.schedule ? { TASK_SCHEDULE: task.schedule.name, TASK_DUE: new Date(task.schedule.due).toISOString() } : {}),
      },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      outLen += b.length;
      while (outLen - (out[0]?.length ?? 0) > max && out.length > 1) outLen -= out.shift()!.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      errLen += b.length;
      while (errLen - (err[0]?.length ?? 0) > max && err.length > 1) errLen -= err.shift()!.length;
    });
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    const onAbort = () => {
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), opts.killGraceMs ?? 5000);
      killTimer.unref();
    };
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      ctx.signal.removeEventListener('abort', onAbort);
      if (code === 0) {
        resolve(tail(out, max));
        return;
      }
      const stderr = tail(err, max).trim();
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      reject(new CommandFailedError(stderr ? `${how}: ${stderr}` : how, code, signal));
    });
  });
}
