#!/usr/bin/env bash
# The quick start's main job: build, make sure a Redis answers (starting a private one if not),
# publish a few shell tasks, and let a worker run them for a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent build

url="${REDIS_URL:-redis://127.0.0.1:6379}"
started_pid=""
cleanup() {
  if [ -n "$started_pid" ]; then kill "$started_pid" 2>/dev/null || true; fi
  if [ -n "${tmpdir:-}" ]; then rm -rf "$tmpdir"; fi
}
trap cleanup EXIT

if ! node dist/bin/task-monitor.js --redis "$url" --once --json >/dev/null 2>&1; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "demo: no Redis answers at $url and redis-server is not installed (on Debian: apt-get install redis-server)" >&2
    exit 3
  fi
  tmpdir=$(mktemp -d)
  port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  echo "demo: no Redis at $url; starting a private redis-server on 127.0.0.1:$port" >&2
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmpdir" --daemonize no >/dev/null &
  started_pid=$!
  url="redis://127.0.0.1:$port"
  for _ in $(seq 1 50); do
    node dist/bin/task-monitor.js --redis "$url" --once --json >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

queue="demo"
echo "demo: publishing 6 tasks to queue $queue (one of them fails and is retried, then dead-lettered)" >&2
printf '%s\n' \
  'echo "hello from task $TASK_ID"' \
  'date -u +%H:%M:%S' \
  'sleep 0.5; echo slept' \
  'uname -sr' \
  'echo "attempt $TASK_ATTEMPT of a failing task" >&2; exit 1' \
  'echo done' |
  node dist/bin/task-publish.js --redis "$url" --queue "$queue" --attempts 2 --backoff fixed:500ms >/dev/null

echo "demo: running task-worker --exec for 3 seconds" >&2
node dist/bin/task-worker.js --redis "$url" --queue "$queue" --exec --concurrency 2 &
worker=$!
sleep 3
kill -INT "$worker"
wait "$worker" || true

echo >&2
node dist/bin/task-monitor.js --redis "$url" --queue "$queue" --once
