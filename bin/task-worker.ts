#!/usr/bin/env node
import { onStdoutClosed } from '../src/commands/common.js';
import { run } from '../src/commands/worker.js';

// Print mode's lines have no reader any more: the worker goes on working.
onStdoutClosed('task-worker', () => undefined);
process.exitCode = await run(process.argv.slice(2));
process.exit();
