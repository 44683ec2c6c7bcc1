import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = (name: 'task-publish' | 'task-worker' | 'task-monitor') => `${ROOT}dist/bin/${name}.js`;

/** Whether a process exists (a zombie counts until it is reaped). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function assertBuilt(): void {
  if (!existsSync(BIN('task-publish'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
}

export interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs one of the programs to completion, optionally feeding stdin. */
export function runCli(name: Parameters<typeof BIN>[0], args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN(name), ...args], {
      env: { ...process.env, NO_COLOR: undefined, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running program (a worker) in the background. */
export function startCli(name: Parameters<typeof BIN>[0], args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [BIN(name), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** A tmux server of the test's own (its own socket): a real terminal of a given size. */
export interface Tmux {
  /** Starts `command` in a new session of width x height. */
  start(command: string, width: number, height: number): void;
  /** The screen's text now. */
  screen(): string;
  /** Ends the server (and its programs). */
  kill(): void;
}

export function tmuxServer(name: string): Tmux {
  const run = (...args: string[]) => execFileSync('tmux', ['-L', `${name}-${process.pid}`, ...args]).toString();
  return {
    start: (command, width, height) => void run('new-session', '-d', '-x', String(width), '-y', String(height), command),
    screen: () => run('capture-pane', '-p'),
    kill: () => {
      try {
        run('kill-server');
      } catch {
        // already gone
      }
    },
  };
}
