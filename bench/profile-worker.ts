/**
 * The process that bench/profile.ts runs under `node --cpu-prof`: one redtask Worker that
 * processes N waiting tasks (no-op handler) and exits once Redis shows them all settled.
 *   node --cpu-prof dist/bench/profile-worker.js <redisUrl> <queue> <n> <concurrency>
 */
import { Queue, Worker } from '../src/index.js';
import { waitUntil } from './stats.js';

const [url, queue, nArg, cArg] = process.argv.slice(2);
if (!url || !queue || !nArg || !cArg) {
  console.error('usage: profile-worker <redisUrl> <queue> <n> <concurrency>');
  process.exit(2);
}
const n = Number(nArg);
setTimeout(() => {
  console.error('profile-worker: gave up after 300 s');
  process.exit(1);
}, 300_000).unref();

let handled = 0;
let first = 0;
const w = new Worker(queue, () => {
  if (handled++ === 0) first = performance.now();
}, { connection: url, concurrency: Number(cArg) });
w.on('error', (err) => console.error(`worker error: ${err.message}`));
await w.start();
const q = new Queue(queue, { connection: url });
await waitUntil(() => handled >= n, 280_000, `${n} tasks handled`, 5);
await waitUntil(async () => {
  const c = await q.counts();
  return c.waiting + c.active === 0;
}, 10_000, 'all settled', 1);
const ms = performance.now() - first;
await w.close(1000);
await q.close();
process.stdout.write(JSON.stringify({ handled, ms, cpu: process.cpuUsage() }) + '\n');
