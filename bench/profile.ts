/**
 * Where redtask's time goes per task. Enqueues N tasks, then runs a worker process under
 * `node --cpu-prof` (bench/profile-worker.ts) that processes them, for each concurrency, and
 * reports: Redis commands per task by command (INFO commandstats delta, Lua's inner calls
 * included), Redis CPU per task (INFO cpu), and the Node functions with the most self time
 * (from the .cpuprofile), per task. Writes bench/results/profile.md; the .cpuprofile files go to
 * $TMPDIR/redtask-profile/.
 *   npm run build && node dist/bench/profile.js [--n 50000] [--concurrency 1,10,100]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from '../src/index.js';
import { payload } from './payload.js';
import { costPerTask, costSnapshot, startBenchRedis } from './redis.js';
import { chunks } from './workloads/common.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const WORKER = fileURLToPath(new URL('./profile-worker.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}

function where(cf: CallFrame): { label: string; area: string } {
  const url = cf.url.replace(/^file:\/\//, '').replace(ROOT, '');
  let area = 'other';
  if (!url) area = cf.functionName.startsWith('(') ? cf.functionName : 'native';
  else if (url.startsWith('node:')) area = 'node core';
  else if (url.includes('node_modules/ioredis/') || url.includes('node_modules/@ioredis/') || url.includes('node_modules/redis-')) area = 'ioredis';
  else if (url.includes('/src/') || url.startsWith('src/')) area = 'redtask';
  else if (url.includes('/bench/') || url.startsWith('bench/')) area = 'bench';
  const file = url ? `${url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : '';
  return { label: `${cf.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`, area };
}

function summarize(profile: CpuProfile, tasks: number, top = 20): string[] {
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { us: number; area: string }>();
  const areas = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byNode.get(id);
    if (!node) return;
    const dt = profile.timeDeltas[i] ?? 0;
    const { label, area } = where(node.callFrame);
    if (area === '(idle)') return;
    total += dt;
    const e = self.get(label);
    if (e) e.us += dt;
    else self.set(label, { us: dt, area });
    areas.set(area, (areas.get(area) ?? 0) + dt);
  });
  const lines: string[] = [];
  lines.push(`Busy (non-idle) Node CPU in the profile: ${(total / tasks).toFixed(2)} µs/task.`);
  lines.push('');
  lines.push('| Area | µs/task | share |', '|---|---:|---:|');
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1])) lines.push(`| ${a} | ${(us / tasks).toFixed(2)} | ${((us / total) * 100).toFixed(1)}% |`);
  lines.push('');
  lines.push('| Function (self time) | Area | µs/task | share |', '|---|---|---:|---:|');
  for (const [label, e] of [...self].sort((x, y) => y[1].us - x[1].us).slice(0, top)) {
    lines.push(`| \`${label.replace(/\|/g, '\\|')}\` | ${e.area} | ${(e.us / tasks).toFixed(2)} | ${((e.us / total) * 100).toFixed(1)}% |`);
  }
  return lines;
}

async function main(): Promise<void> {
  const n = Number(arg('--n', '50000'));
  const concurrencies = arg('--concurrency', '1,10,100').split(',').map(Number);
  // The .cpuprofile files (several MB each) stay outside the repository; open them in Chrome DevTools.
  const dir = join(tmpdir(), 'redtask-profile');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const redis = await startBenchRedis();
  const out: string[] = [`# redtask per-task profile (${new Date().toISOString()})`, '', `${n.toLocaleString('en-US')} tasks of 100 bytes, no-op handler, keepCompleted 0; one worker process under \`node --cpu-prof\`.`, ''];
  try {
    for (const c of concurrencies) {
      await redis.admin.flushall();
      const name = `prof-${c}`;
      const q = new Queue(name, { connection: redis.url });
      await q.configure({ keepCompleted: 0 });
      const tasks = Array.from({ length: n }, (_, i) => payload(i));
      for (const chunk of chunks(tasks, 1000)) await q.addBulk(chunk.map((data) => ({ data })));
      await q.close();
      const sub = `${dir}/c${c}`;
      mkdirSync(sub, { recursive: true });
      const a = await costSnapshot(redis.admin);
      const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${sub}`, WORKER, redis.url, name, String(n), String(c)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      if (code !== 0) throw new Error(`profile worker exited with ${code}`);
      const b = await costSnapshot(redis.admin);
      const cost = costPerTask(a, b, n);
      const res = JSON.parse(stdout.trim().split('\n').pop()!) as { ms: number; cpu: NodeJS.CpuUsage };
      const file = readdirSync(sub).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error('no .cpuprofile written');
      const profile = JSON.parse(readFileSync(`${sub}/${file}`, 'utf8')) as CpuProfile;
      out.push(`## concurrency ${c}`, '', `Profile: ${sub}/${file}`, '');
      out.push(`Throughput in the profiled process: ${Math.round((n / res.ms) * 1000).toLocaleString('en-US')} tasks/s (the profiler slows Node down).`);
      out.push(
        `Worker process CPU (whole process, start-up included, profiler overhead included): user ${(res.cpu.user / n).toFixed(2)} µs/task, system ${(res.cpu.system / n).toFixed(2)} µs/task.`,
      );
      out.push(`Redis: ${cost.commands.toFixed(2)} commands/task, ${cost.redisCpuMicros.toFixed(2)} µs CPU/task.`, '');
      out.push('| Redis command | calls/task |', '|---|---:|');
      for (const [cmd, v] of Object.entries(cost.byCommand).sort((x, y) => y[1] - x[1]).slice(0, 20)) out.push(`| ${cmd} | ${v.toFixed(3)} |`);
      out.push('');
      out.push(...summarize(profile, n));
      out.push('');
      process.stderr.write(`concurrency ${c} done\n`);
    }
  } finally {
    await redis.stop();
  }
  const text = out.join('\n') + '\n';
  writeFileSync('bench/results/profile.md', text);
  console.log(text);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
