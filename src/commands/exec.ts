import { spawn, type ChildProcess } from 'node:child_process';
import type { HandlerContext, Task } from '../shared/worker/index.js';

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
    /** The exit and the last line of stderr: what a log line shows. */
    readonly summary: string = message,
  ) {
    super(message);
  }
}

/**
 * How much of a failed command's stderr its error keeps: the end, where the reason usually is,
 * within the 4,096 characters that a task's attempt error stores.
 */
const STDERR_IN_ERROR = 3900;

/** The process groups of the commands running now, with what ends each (see stopAllCommands). */
const live = new Map<number, { exited: Promise<void>; killGraceMs: number }>();

/**
 * The watchdog: one small shell process per worker, in a process group of its own, that reads
 * "+<group>" and "-<group>" lines (a command started, a command ended) from a pipe only the
 * worker holds. When the pipe closes while commands still run, the worker died without stopping
 * them (SIGKILL, a crash): it sends them SIGTERM, and SIGKILL 5 s later, so that none runs beside
 * the retry of its task with nobody to time it out. (No fork per line: the list is one string.)
 */
const WATCHDOG = `
groups=' '
while IFS= read -r line; do
  case $line in
    +*) groups="$groups\${line#+} " ;;
    -*) g=\${line#-}; case $groups in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac ;;
  esac
done
set -- $groups
[ $# -eq 0 ] && exit 0
for g; do kill -s TERM -- "-$g" 2>/dev/null; done
sleep 5
for g; do kill -s KILL -- "-$g" 2>/dev/null; done
`;
let watchdog: ChildProcess | undefined;

/** Tells the watchdog that a command's process group started (or ended). */
function watch(pid: number, running: boolean): void {
  if (!watchdog) {
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    // It ends when this process does; it must not keep it alive, nor fail it.
    watchdog.on('error', () => undefined);
    watchdog.stdin!.on('error', () => undefined);
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
  }
  watchdog.stdin!.write(`${running ? '+' : '-'}${pid}\n`);
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Before the worker process exits: every command still running (an aborted one may be ignoring
 * its SIGTERM) gets SIGTERM, and SIGKILL once its kill grace has passed, so none outlives the
 * worker and runs beside the retry of its task. `now` kills them at once (a second signal).
 */
export async function stopAllCommands(now = false): Promise<void> {
  const groups = [...live.entries()];
  for (const [pid] of groups) signalGroup(pid, now ? 'SIGKILL' : 'SIGTERM');
  if (now) return;
  await Promise.all(
    groups.map(([pid, { exited, killGraceMs }]) => {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((r) => (timer = setTimeout(r, killGraceMs)));
      return Promise.race([exited, grace.then(() => signalGroup(pid, 'SIGKILL'))]).finally(() => clearTimeout(timer));
    }),
  );
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
    const pid = child.pid;
    const killGraceMs = opts.killGraceMs ?? 5000;
    const kill = (sig: NodeJS.Signals) => {
      if (pid) signalGroup(pid, sig);
    };
    if (pid) {
      watch(pid, true);
      live.set(pid, {
        exited: new Promise<void>((r) =>
          child.once('close', () => {
            live.delete(pid);
            watch(pid, false);
            r();
          }),
        ),
        killGraceMs,
      });
    }
    const onAbort = () => {
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), killGraceMs);
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
      if (!stderr) {
        reject(new CommandFailedError(how, code, signal));
        return;
      }
      const kept = stderr.length > STDERR_IN_ERROR ? `…${stderr.slice(-STDERR_IN_ERROR)}` : stderr;
      reject(new CommandFailedError(`${how}: ${kept}`, code, signal, `${how}: ${stderr.slice(stderr.lastIndexOf('\n') + 1)}`));
    });
  });
}
