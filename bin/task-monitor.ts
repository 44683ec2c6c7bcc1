#!/usr/bin/env node
import { onStdoutClosed } from '../src/commands/common.js';
import { run } from '../src/commands/monitor.js';

// Nobody reads any more (`task-monitor tasks q | head`): done.
onStdoutClosed('task-monitor', () => process.exit(0));
process.exitCode = await run(process.argv.slice(2));
