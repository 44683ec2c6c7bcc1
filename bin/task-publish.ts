#!/usr/bin/env node
import { run } from '../src/commands/publish.js';

process.exitCode = await run(process.argv.slice(2));
