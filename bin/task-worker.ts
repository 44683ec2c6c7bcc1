#!/usr/bin/env node
import { run } from '../src/commands/worker.js';

process.exitCode = await run(process.argv.slice(2));
process.exit();
