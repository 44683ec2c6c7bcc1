// tsc compiles TypeScript only; the Lua scripts are read at run time from beside scripts.js.
import { cpSync } from 'node:fs';
cpSync('src/shared/lua', 'dist/src/shared/lua', { recursive: true });
