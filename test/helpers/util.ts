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
