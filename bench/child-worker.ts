/**
 * W7's victim: a worker process that takes tasks and holds them (handlers that sleep), so that
 * the bench can SIGKILL it with its tasks running. Started by workloads/recovery.ts with fork():
 *   node dist/bench/child-worker.js <system> <host> <port> <queue> <concurrency> <holdMs> [<build dir>]
 * (the build dir only for redtask-base: the checkout of the second redtask build).
 * It reports each handler start to the parent over IPC, and ends by itself when the parent goes
 * away or after holdMs + 30 s at the latest.
 */
import { makeSystem } from './systems/index.js';
import type { SystemId } from './systems/types.js';

const [systemId, host, port, queue, concurrency, holdMs, build] = process.argv.slice(2);
if (!systemId || !host || !port || !queue || !concurrency || !holdMs) {
  console.error('usage: child-worker <system> <host> <port> <queue> <concurrency> <holdMs> [<build dir>]');
  process.exit(2);
}
const hold = Number(holdMs);
setTimeout(() => process.exit(0), hold + 30_000).unref();
process.on('disconnect', () => process.exit(0));

const system = await makeSystem(systemId as SystemId, { host, port: Number(port), url: `redis://${host}:${port}` }, build || undefined);
await system.worker(
  queue,
  async (d) => {
    process.send?.({ started: d.i });
    await new Promise((r) => setTimeout(r, hold));
  },
  { concurrency: Number(concurrency) },
);
process.send?.({ ready: true });
