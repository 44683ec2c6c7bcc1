#!/usr/bin/env node
import { onStdoutClosed } from '../src/commands/common.js';
import { run } from '../src/commands/publish.js';

// Without a reader for the ids, the tasks are still published.
onStdoutClosed('task-publish', () => undefined);
process.exitCode = await run(process.argv.slice(2));
