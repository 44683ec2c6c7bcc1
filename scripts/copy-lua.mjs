// tsc compiles TypeScript only; the Lua scripts are read at run time from beside scripts.js.
import { chmodSync, cpSync, readdirSync } from 'node:fs';
cpSync('src/shared/lua', 'dist/src/shared/lua', { recursive: true });
for (const f of readdirSync('dist/bin')) if (f.endsWith('.js')) chmodSync(`dist/bin/${f}`, 0o755);
