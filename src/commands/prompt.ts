import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { safeText } from './terminal.js';

/** Entries kept in the prompt's history file (the oldest are dropped). */
export const HISTORY_SIZE = 1000;

/**
 * The prompt's history file: `$XDG_STATE_HOME/redtask/history`, else `~/.local/state/redtask/history`.
 * A relative XDG_STATE_HOME is ignored, as the XDG spec asks.
 */
export function historyPath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_STATE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'redtask', 'history');
}

/**
 * The prompt's history, kept between sessions. A problem with the file (unreadable, a read-only
 * folder, a full disk) never stops the prompt: it is reported once through `warn` and the session
 * goes on with what it has in memory.
 */
export class History {
  /** Newest first, as node:readline's `history` option wants it. */
  readonly entries: string[] = [];
  private warned = false;
  private added = 0;

  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void,
  ) {}

  load(): this {
    try {
      const lines = readFileSync(this.file, 'utf8').split('\n').filter((l) => l !== '');
      this.entries.push(...lines.slice(-HISTORY_SIZE).reverse());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.fail('read', err);
    }
    return this;
  }

  /** Appends one entry to the file (appends, so that two sessions at once both keep theirs). */
  add(line: string): void {
    if (line === '' || line.includes('\n')) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
      this.added++;
    } catch (err) {
      this.fail('save', err);
    }
  }

  /** At the end of a session: cuts the file down to the last HISTORY_SIZE entries (atomically). */
  trim(): void {
    if (this.added === 0) return;
    try {
      const lines = readFileSync(this.file, 'utf8').split('\n').filter((l) => l !== '');
      if (lines.length <= HISTORY_SIZE) return;
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, `${lines.slice(-HISTORY_SIZE).join('\n')}\n`, { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (err) {
      this.fail('save', err);
    }
  }

  private fail(what: 'read' | 'save', err: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.warn(`warning: cannot ${what} the prompt history ${this.file}: ${errorMessage(err)} (the prompt goes on without it)`);
  }
}

/** What `help` at the prompt prints (the history file's path comes from the environment). */
export function promptHelp(queue: string, historyFile: string, dataJson: boolean): string {
  return [
    `Each line you enter is queued as one task on queue "${safeText(queue)}"${dataJson ? ' (as a JSON value, --data-json)' : ''} and confirmed with its id.`,
    `  up/down   recall earlier lines (kept in ${safeText(historyFile)})`,
    '  help      show this help',
    '  exit      end the session (exit 0), as Ctrl-D does',
    '  Ctrl-D    end the session (exit 0)',
    '  Ctrl-C    interrupt (exit 130); tasks already queued stay queued',
    'To queue a task that is literally "help" or "exit", pass it as an argument: task-publish help',
    '',
  ].join('\n');
}

/**
 * `queued 42,000 tasks` on stderr, redrawn in place at most every `intervalMs`, then a final line.
 * Only on a terminal with a size: in a pipe, a file or a pseudo-terminal without columns it writes
 * nothing at all.
 */
export class Progress {
  readonly enabled: boolean;
  private count = 0;
  private drawnAt = 0;
  private shown = false;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly intervalMs = 100,
  ) {
    this.enabled = Boolean(stream.isTTY) && (stream.columns ?? 0) > 0;
  }

  static text(n: number): string {
    return `queued ${n.toLocaleString('en-US')} task${n === 1 ? '' : 's'}`;
  }

  add(n: number): void {
    this.count += n;
    if (!this.enabled) return;
    const now = Date.now();
    // Throttled, except right after clear(): then the line comes back at once.
    if (this.shown && now - this.drawnAt < this.intervalMs) return;
    this.drawnAt = now;
    this.draw();
  }

  /** Clears the line in place (before something else is written to the same terminal). */
  clear(): void {
    if (this.enabled && this.shown) {
      this.stream.write('\r\x1b[2K');
      this.shown = false;
    }
  }

  /** The final line, ended with a newline. */
  done(): void {
    if (!this.enabled) return;
    this.draw();
    this.stream.write('\n');
    this.shown = false;
  }

  private draw(): void {
    this.stream.write(`\r\x1b[2K${Progress.text(this.count)}`);
    this.shown = true;
  }
}
