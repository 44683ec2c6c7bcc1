import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, waitFor, type TestRedis } from '../helpers/redis.js';
import { controlsIn, HOSTILE } from '../helpers/util.js';
import { assertBuilt, BIN, runCli } from './helpers.js';

let redis: TestRedis;
let tmp: string;

beforeAll(async () => {
  assertBuilt();
  redis = await startRedis();
  tmp = mkdtempSync(join(tmpdir(), 'redtask-prompt-'));
});
afterAll(async () => {
  await redis?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A fresh home with no XDG_STATE_HOME: the history goes to ~/.local/state/redtask/history. */
function freshEnv(name: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(tmp, name);
  mkdirSync(home, { recursive: true });
  return { ...process.env, NO_COLOR: '1', HOME: home, XDG_STATE_HOME: undefined, ...extra };
}

const publishCmd = (queue: string) => `${process.execPath} ${BIN('task-publish')} --redis ${redis.url} -q ${queue}`;

/** One prompt session through script(1), typed as a person would: each line once the prompt is shown. */
async function session(queue: string, env: NodeJS.ProcessEnv, keys: string[]): Promise<{ code: number | null; screen: string }> {
  const child = spawn('script', ['-qfec', publishCmd(queue), '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  let prompts = 0;
  for (const k of keys) {
    await waitFor(() => screen.split('Please enter the task:').length - 1 > prompts, 10_000, `prompt ${prompts + 1}; screen: ${screen}`);
    prompts++;
    child.stdin.write(k);
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(timer);
  return { code, screen };
}

const waiting = (queue: string) => redis.client().lrange(`rt:{${queue}}:wait`, 0, -1);

describe('the task-publish prompt', () => {
  it('keeps a history in ~/.local/state/redtask/history and recalls it with the up arrow in the next session', async () => {
    const env = freshEnv('hist');
    const first = await session('hist', env, ['echo remembered\r', '\x04']);
    expect(first.code, first.screen).toBe(0);
    expect(first.screen).toContain('queued hist#1');
    const file = join(env.HOME!, '.local', 'state', 'redtask', 'history');
    expect(readFileSync(file, 'utf8')).toBe('echo remembered\n');

    // Up arrow, then Enter: the line from the first session is queued again.
    const second = await session('hist', env, ['\x1b[A', '\r', '\x04']);
    expect(second.code, second.screen).toBe(0);
    expect(second.screen).toContain('queued hist#2');
    const items = await waiting('hist');
    expect(items).toHaveLength(2);
    expect(items.every((e) => e.endsWith('"echo remembered"'))).toBe(true);
  }, 30_000);

  it('uses $XDG_STATE_HOME when set and keeps the last 1,000 entries', async () => {
    const state = join(tmp, 'xdg-state');
    mkdirSync(join(state, 'redtask'), { recursive: true });
    const file = join(state, 'redtask', 'history');
    writeFileSync(file, Array.from({ length: 1005 }, (_, i) => `old ${i}\n`).join(''));
    const r = await session('xdg', freshEnv('xdg', { XDG_STATE_HOME: state }), ['echo newest\r', '\x04']);
    expect(r.code, r.screen).toBe(0);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(1000);
    expect(lines[0]).toBe('old 6');
    expect(lines.at(-1)).toBe('echo newest');
  }, 20_000);

  it('a history file it cannot write is one warning, and the prompt goes on', async () => {
    // A state "folder" that is a file: mkdir fails for every line.
    const notDir = join(tmp, 'not-a-dir');
    writeFileSync(notDir, '');
    const r = await session('nohist', freshEnv('nohist', { XDG_STATE_HOME: notDir }), ['echo a\r', 'echo b\r', '\x04']);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain('queued nohist#1');
    expect(r.screen).toContain('queued nohist#2');
    expect(r.screen.match(/warning: cannot (read|save) the prompt history/g)).toHaveLength(1);
    expect(await waiting('nohist')).toHaveLength(2);
  }, 20_000);

  it('`help` prints the help and queues nothing', async () => {
    const r = await session('help', freshEnv('help'), ['help\r', '\x04']);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain('queued as one task on queue "help"');
    expect(r.screen).toMatch(/exit .*end the session/);
    expect(r.screen).toMatch(/Ctrl-D/);
    expect(r.screen).toMatch(/Ctrl-C .*exit 130/);
    expect(r.screen).not.toMatch(/queued help#/);
    expect(await waiting('help')).toHaveLength(0);
  }, 20_000);

  it('quotes a hostile history path and a hostile bad line escaped: in its warning, its help and its error', async () => {
    // A state "folder" that is a file, named with ESC, OSC, U+009B and U+202E: the warning and
    // `help` quote its path. With --data-json, a line that is no JSON is quoted by its error.
    const state = join(tmp, `state-${HOSTILE.replaceAll('/', '_')}`);
    writeFileSync(state, '');
    const r = await session('hostile --data-json', freshEnv('hostile', { XDG_STATE_HOME: state }), ['help\r', '{\u202e\u009b\r', '\x04']);
    expect(r.code, r.screen).toBe(0);
    // The terminal's echo of the typed line holds what was typed; the programs' own lines do not.
    const ours = r.screen.split(/\r?\n/).filter((l) => /warning: cannot read|kept in|not valid JSON/.test(l));
    expect(ours).toHaveLength(3);
    for (const l of ours) {
      expect(controlsIn(l.replace(/^\S*Please enter the task: /, ''))).toEqual([]);
      expect(l).toMatch(/\\u202e/);
    }
    expect(r.screen).not.toContain('\x1b]0;');
    expect(r.screen).not.toContain('\x1b[2J');
  }, 20_000);

  it('`exit` ends the session with code 0, after the tasks before it', async () => {
    const r = await session('exit', freshEnv('exit'), ['echo before\r', 'exit\r']);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain('queued exit#1');
    const items = await waiting('exit');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatch(/"echo before"$/);
  }, 20_000);
});

describe('piping many lines into task-publish', () => {
  const lines = `${Array.from({ length: 100_000 }, (_, i) => `echo ${i + 1}`).join('\n')}\n`;

  it('enqueues exactly 100,000 tasks and writes nothing to stderr when it is a pipe', async () => {
    const r = await runCli('task-publish', ['--redis', redis.url, '-q', 'bulk'], { input: lines, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const ids = r.stdout.trimEnd().split('\n');
    expect(ids).toHaveLength(100_000);
    expect(new Set(ids).size).toBe(100_000);
    expect(await redis.client().llen('rt:{bulk}:wait')).toBe(100_000);
  }, 30_000);

  it('--wait at the prompt is one line and exit 2 (it would not wait there)', () => {
    const out = execFileSync('script', ['-qfec', `${publishCmd('prompt-wait')} --wait; echo EXIT=$?`, '/dev/null'], { input: '', env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000 }).toString();
    expect(out).toContain('task-publish: --wait does not apply at the prompt');
    expect(out).toContain('EXIT=2');
    expect(out).not.toContain('Please enter the task:');
  }, 20_000);

  it('shows no progress on a pseudo-terminal without a size', () => {
    const file = join(tmp, 'small.txt');
    writeFileSync(file, Array.from({ length: 3000 }, (_, i) => `echo ${i}`).join('\n'));
    // script's stdin is not a terminal, so its pty has 0 columns.
    const out = execFileSync('script', ['-qfec', `${publishCmd('nosize')} < ${file} > /dev/null`, '/dev/null'], { input: '', env: { ...process.env, NO_COLOR: '1' }, timeout: 20_000 }).toString();
    expect(out).not.toMatch(/queued/);
  }, 20_000);

  it('shows `queued N tasks` in place on a terminal with a size (tmux), ending with the total', async () => {
    const file = join(tmp, 'big.txt');
    writeFileSync(file, lines);
    const socket = join(tmp, 'tmux.sock');
    const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, ...args], { env: { ...process.env, NO_COLOR: '1' } }).toString();
    tmux('new-session', '-d', '-x', '100', '-y', '20', `${publishCmd('tty')} < ${file} > /dev/null; echo EXIT=$?; sleep 30`);
    try {
      let screen = '';
      await waitFor(() => (screen = tmux('capture-pane', '-p')).includes('EXIT='), 25_000, 'the run to end in tmux');
      expect(screen).toContain('EXIT=0');
      const shown = screen.split('\n').filter((l) => /queued [\d,]+ tasks/.test(l));
      // One line, redrawn in place (not one line per batch), ending with the total.
      expect(shown).toEqual(['queued 100,000 tasks']);
    } finally {
      tmux('kill-server');
    }
    expect(await redis.client().llen('rt:{tty}:wait')).toBe(100_000);
  }, 30_000);
});
