import type { Worker } from '../../src/index.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Collects a worker's 'error' events (an EventEmitter throws on an unheard 'error'), so a test
 * can decide what to do with them instead of crashing the run.
 */
export function collectErrors<T, R>(w: Worker<T, R>): Error[] {
  const errors: Error[] = [];
  w.on('error', (err) => errors.push(err));
  return errors;
}

/** Resolves once the signal aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

export interface TcpProxy {
  url: string;
  /** Drops every connection and refuses new ones (a network partition). */
  cut(): Promise<void>;
  /** Accepts connections again. */
  heal(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP proxy in front of a Redis port, so a test can cut one client off. */
export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const { createServer, connect } = await import('node:net');
  const { freePort } = await import('./redis.js');
  const port = await freePort();
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  const listen = () => new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const stop = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!server.listening) return r();
      server.close(() => r());
    });
  await listen();
  return { url: `redis://127.0.0.1:${port}`, cut: stop, heal: listen, close: stop };
}

/**
 * Text with what a hostile name, payload or error could hold: ESC, OSC 0 (window title), OSC 8
 * (hyperlink), clear screen, the one-character CSI U+009B and the right-to-left override U+202E.
 */
export const HOSTILE = 'esc\x1b title\x1b]0;title\x07 link\x1b]8;;http://x\x1b\\here\x1b]8;;\x1b\\ clear\x1b[2J csi\u009b2J rlo\u202eexe.txt';

/** The same, as safeText shows it. */
export const HOSTILE_SHOWN = 'esc\\x1b title\\x1b]0;title\\x07 link\\x1b]8;;http://x\\x1b\\here\\x1b]8;;\\x1b\\ clear\\x1b[2J csi\\u009b2J rlo\\u202eexe.txt';

// Any character a terminal acts on, but the layout's line feed (and tab): C0, DEL, C1, bidi.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** The control characters in text as it was printed, as code points (none: []). */
export function controlsIn(text: string): string[] {
  return [...text.matchAll(RAW_CONTROL)].map((m) => `U+${m[0].charCodeAt(0).toString(16).padStart(4, '0')} at ${m.index}: ${JSON.stringify(text.slice(Math.max(0, m.index - 20), m.index + 20))}`);
}
